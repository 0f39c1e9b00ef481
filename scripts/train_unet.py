# Snakemake glue: the supervised U-Net baseline on the training split, with its masks.
import numpy as np
import torch

from diffseg.device import pick_device
from diffseg.logs import redirect_to
from diffseg.store import ImageStore
from diffseg.unet_baseline import UNetSettings, train_unet

with redirect_to(snakemake.log[0]) as log:
    torch.set_num_threads(snakemake.threads)
    with ImageStore(snakemake.input.store) as store:
        train = np.flatnonzero((np.asarray(store.split) == "train") & np.asarray(store.has_mask))
        log.info("U-Net trains on %d images with masks", len(train))
        images, masks = store.images(train), store.masks(train).astype(bool)
    train_unet(
        images,
        masks,
        snakemake.output.model,
        UNetSettings(**snakemake.params.unet),
        device=pick_device(),
        loss_csv=snakemake.output.loss,
    )
