# Snakemake glue: the supervised U-Net baseline on the training split, with its masks; with a budget,
# on a seeded subset of that many masks (the label-efficiency curve, diffseg.evaluation.label_efficiency).
import numpy as np
import torch

from diffseg.data.store import ImageStore
from diffseg.evaluation.label_efficiency import budget_subset
from diffseg.evaluation.unet_baseline import UNetSettings, train_unet
from diffseg.runtime.device import pick_device
from diffseg.runtime.logs import redirect_to

with redirect_to(snakemake.log[0]) as log:
    torch.set_num_threads(snakemake.threads)
    # label_budgets says which U-Nets are trained, not how one trains.
    settings = UNetSettings(**{key: value for key, value in snakemake.params.unet.items() if key != "label_budgets"})
    budget = snakemake.params.get("budget")
    with ImageStore(snakemake.input.store) as store:
        train = np.flatnonzero((np.asarray(store.split) == "train") & np.asarray(store.has_mask))
        if budget is not None:
            train = train[budget_subset([store.ids[p] for p in train], int(budget), settings.seed)]
        log.info("U-Net trains on %d images with masks", len(train))
        images, masks = store.images(train), store.masks(train).astype(bool)
    train_unet(
        images,
        masks,
        snakemake.output.model,
        settings,
        device=pick_device(),
        loss_csv=snakemake.output.loss,
    )
