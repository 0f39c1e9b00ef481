# Snakemake glue: one shard of a cohort segmented by the run's DiffSeg student (annotate.path): its
# sample of masks and mean probability, and the ISIC-named masks at each image's original size.
import torch

from diffseg.data.pngs import write_fused_masks
from diffseg.data.shards import store_shard
from diffseg.data.store import ImageStore
from diffseg.evaluation.student import write_student_shard
from diffseg.reports.annotation import PREDICT_SPLIT
from diffseg.runtime.device import pick_device
from diffseg.runtime.logs import redirect_to

with redirect_to(snakemake.log[0]) as log:
    torch.set_num_threads(snakemake.threads)
    with ImageStore(snakemake.input.store) as store:
        positions = store_shard(store, int(snakemake.wildcards.shard), snakemake.params.shard_size, PREDICT_SPLIT)
        log.info("shard %s: %d images, student %s", snakemake.wildcards.shard, len(positions), snakemake.input.model)
        write_student_shard(store, positions, snakemake.input.model, snakemake.output.masks, snakemake.output.fused, pick_device())
        write_fused_masks(snakemake.output.fused, lambda position: store.orig_size[position], snakemake.output.masks_png)
