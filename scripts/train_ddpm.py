# Snakemake glue: the DDPM on the training lesion images and healthy skin (one class-conditional
# network, or the authors' pair of one network per semantic).
import numpy as np
import torch

from diffseg.device import pick_device
from diffseg.errors import ConfigError
from diffseg.healthy import healthy_training_set
from diffseg.logs import redirect_to
from diffseg.model import HEALTHY, LESION
from diffseg.semantic_pair import train_pair
from diffseg.shards import evaluation_positions
from diffseg.store import ImageStore
from diffseg.train import TrainSettings, train_ddpm

with redirect_to(snakemake.log[0]) as log:
    torch.set_num_threads(snakemake.threads)
    settings = TrainSettings(**snakemake.params.train)
    size = snakemake.params.size
    semantics = snakemake.params.semantics
    device = pick_device()
    with ImageStore(snakemake.input.store) as store:
        if store.size != size:
            raise ConfigError(f"dataset.size is {size} but {store.path} holds {store.size}-px images")
        lesions = store.images(evaluation_positions(store.split, store.label, "train"))
        healthy = healthy_training_set(store, snakemake.params.healthy, size, settings.seed)
    log.info("training images: %d lesion, %d healthy skin", len(lesions), len(healthy))
    outputs = dict(
        workdir=snakemake.params.workdir,
        out_dir=snakemake.output.model,
        loss_csv=snakemake.output.loss,
        settings=settings,
        preset=snakemake.params.preset,
        size=size,
        device=device,
    )
    if semantics["model"] == "pair":
        if {semantics["a"], semantics["b"]} != {"healthy", "lesion"}:
            raise ConfigError("semantics.model pair compares the healthy and lesion networks: set a and b to them")
        train_pair({"lesion": lesions, "healthy": healthy}, t_ranges=semantics["t_ranges"], **outputs)
    else:
        train_ddpm(
            np.concatenate([lesions, healthy]),
            np.repeat([LESION, HEALTHY], [len(lesions), len(healthy)]),
            **outputs,
        )
