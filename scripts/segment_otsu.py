# Snakemake glue: the training-free baseline on the images of one shard.
import numpy as np

from diffseg.data.maps import write_maps
from diffseg.data.shards import store_shard
from diffseg.data.store import ImageStore
from diffseg.evaluation.otsu_baseline import OtsuParams, otsu_segment
from diffseg.runtime.logs import redirect_to

with redirect_to(snakemake.log[0]):
    params = OtsuParams(**snakemake.params.otsu)
    with ImageStore(snakemake.input.store) as store:
        positions = store_shard(store, int(snakemake.wildcards.shard), snakemake.params.shard_size)
        masks = np.array([otsu_segment(store.image(p), params) for p in positions], dtype=np.uint8)
        masks = masks.reshape(len(positions), store.size, store.size)
        ids = [store.ids[p] for p in positions]
        write_maps(snakemake.output.probabilities, positions, ids, probability=masks)
