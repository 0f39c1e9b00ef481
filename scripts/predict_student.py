# Snakemake glue: a student's lesion probabilities (mean over four flips) and per-image uncertainty for
# the images of one shard.
import torch

from diffseg.data.maps import write_maps
from diffseg.data.shards import store_shard
from diffseg.data.store import ImageStore
from diffseg.evaluation.student import predict_student
from diffseg.runtime.device import pick_device
from diffseg.runtime.logs import redirect_to

with redirect_to(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    with ImageStore(snakemake.input.store) as store:
        positions = store_shard(store, int(snakemake.wildcards.shard), snakemake.params.shard_size)
        probability, uncertainty = predict_student(snakemake.input.model, store.images(positions), device=pick_device())
        ids = [store.ids[p] for p in positions]
        write_maps(snakemake.output.probabilities, positions, ids, probability=probability, uncertainty=uncertainty)
