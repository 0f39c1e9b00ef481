# Snakemake glue: U-Net lesion probabilities for the images of one shard.
import torch

from diffseg.device import pick_device
from diffseg.logs import redirect_to
from diffseg.maps import write_maps
from diffseg.shards import store_shard
from diffseg.store import ImageStore
from diffseg.unet_baseline import predict_unet

with redirect_to(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    with ImageStore(snakemake.input.store) as store:
        positions = store_shard(store, int(snakemake.wildcards.shard), snakemake.params.shard_size)
        probability = predict_unet(snakemake.input.model, store.images(positions), device=pick_device())
        ids = [store.ids[p] for p in positions]
        write_maps(snakemake.output.probabilities, positions, ids, probability=probability)
