# Snakemake glue: the DDPM on the training lesion images and healthy skin (one class-conditional
# network, two independent ones, or the authors' fine-tuned pair: semantics.model).
import torch

from diffseg.data.healthy import healthy_training_set, own_skin_per_lesion
from diffseg.data.shards import evaluation_positions
from diffseg.data.store import ImageStore
from diffseg.method.semantic_training import train_semantics
from diffseg.method.training import NetworkSpec, TrainingPaths, TrainSettings
from diffseg.runtime.device import pick_device
from diffseg.runtime.errors import ConfigError
from diffseg.runtime.logs import redirect_to

with redirect_to(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    settings = TrainSettings(**snakemake.params.train)
    size = snakemake.params.size
    with ImageStore(snakemake.input.store) as store:
        if store.size != size:
            raise ConfigError(f"dataset.size is {size} but {store.path} holds {store.size}-px images")
        lesions = store.images(evaluation_positions(store.split, store.label, "train"))
        healthy = healthy_training_set(store, size, settings.seed, **snakemake.params.healthy)
    train_semantics(
        lesions,
        healthy,
        snakemake.params.semantics,
        lesion_zooms=snakemake.params.lesion_zooms,
        healthy_per_lesion=own_skin_per_lesion(
            snakemake.params.healthy["source"], snakemake.params.healthy["crops_per_image"]
        ),
        paths=TrainingPaths(snakemake.params.workdir, snakemake.output.model, snakemake.output.loss),
        settings=settings,
        network=NetworkSpec(snakemake.params.preset, size, pick_device()),
    )
