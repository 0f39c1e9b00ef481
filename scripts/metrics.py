# Snakemake glue: every method's segmentations of one shard, scored at original resolution.
import numpy as np

from diffseg.atomic import write_csv
from diffseg.evaluate import score_shard
from diffseg.logs import redirect_to
from diffseg.maps import read_maps
from diffseg.store import ImageStore

with redirect_to(snakemake.log[0]):
    steps = read_maps(snakemake.input.masks, "masks", "steps")
    mean = read_maps(snakemake.input.regions, "mean")["mean"]
    methods = {f"step_{t:03d}": steps["masks"][:, s] for s, t in enumerate(steps["steps"])}
    methods["diffseg_mean"] = mean.astype(np.float32)
    methods["diffseg_crf"] = read_maps(snakemake.input.fused, "posterior")["posterior"].astype(np.float32)
    methods["unet"] = read_maps(snakemake.input.unet, "probability")["probability"].astype(np.float32)
    methods["otsu"] = read_maps(snakemake.input.otsu, "probability")["probability"].astype(np.float32)
    with ImageStore(snakemake.input.store) as store:
        scores = score_shard(list(steps["ids"]), lambda j: store.mask_original(steps["index"][j]), methods)
    write_csv(scores, snakemake.output.scores)
