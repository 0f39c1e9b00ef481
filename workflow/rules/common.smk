# Config validation, dataset lookups and the input functions the rules call.
import math
import os
import re
from pathlib import Path

import pandas as pd
from snakemake.utils import min_version, validate

min_version("9.0")


validate(config, schema="../schemas/config.schema.yaml")

DATASET = config["dataset"]["name"]
SOURCE = config["dataset"]["source"]
SHARD_SIZE = config["extraction"]["shard_size"]


wildcard_constraints:
    dataset=DATASET,
    shard=r"\d{4}",
    cohort=r"[A-Za-z0-9_.-]+",


def cohort_input(wildcards):
    """Where prepare reads the cohort: a folder the pipeline made, or the user's own folder."""
    if SOURCE == "synthetic":
        return {"cohort": f"results/{wildcards.dataset}/cohort"}
    if SOURCE == "isic2018":
        return {"cohort": str(Path(config["dataset"]["isic2018"]["dest"]) / "cohort")}
    images = config["dataset"]["folder"]["images"]
    if not images:
        raise ValueError(
            "dataset.source is 'folder' but dataset.folder.images is not set"
        )
    if not Path(images).is_dir():
        raise ValueError(f"dataset.folder.images: {images} is not a folder")
    return {"images": images}


def prepared_manifest(wildcards):
    """The manifest of the prepared store; reading it waits for the prepare checkpoint."""
    return checkpoints.prepare.get(dataset=wildcards.dataset).output.manifest


def evaluation_shards(wildcards):
    """Shard ids of the test images with lesion masks: the number of jobs grows with shards, not images."""
    manifest = pd.read_csv(prepared_manifest(wildcards))
    test = manifest[(manifest["split"] == "test") & (manifest["label"] == 1)]
    return [f"{i:04d}" for i in range(math.ceil(len(test) / SHARD_SIZE))]


def per_shard(pattern):
    """An input function expanding `pattern` over the dataset's evaluation shards."""

    def expand_shards(wildcards):
        return expand(
            pattern, dataset=wildcards.dataset, shard=evaluation_shards(wildcards)
        )

    return expand_shards


def trained_model(wildcards=None):
    """The DDPM extraction and annotation use: a reused checkpoint (model.checkpoint), or this run's."""
    return config["model"]["checkpoint"] or f"results/{DATASET}/model/ema"


def final_outputs(wildcards):
    """What `snakemake` builds by default: Table 1, the GED summary, the joined maps and the figures."""
    root = f"results/{DATASET}"
    return [
        f"{root}/evaluation/table1.csv",
        f"{root}/evaluation/table1.md",
        f"{root}/uncertainty/ged_summary.csv",
        f"{root}/diffs.h5",
        *(f"{root}/figures/{figure}" for figure in FIGURES),
    ]


def annotation_cohort_folder(wildcards=None):
    """The folder of images to annotate (annotate.cohort); an error names the key when it is missing."""
    folder = config["annotate"]["cohort"]
    if not folder:
        raise ValueError(
            "annotate.cohort is not set: run `snakemake annotate --config annotate='{cohort: path/to/images}'`"
        )
    if not Path(folder).is_dir():
        raise ValueError(f"annotate.cohort: {folder} is not a folder")
    return folder


def annotation_summary(wildcards):
    """The page `snakemake annotate` builds: under annotate.name, else the cohort folder's name (its
    parent's when the folder is called `images`, as in an ISIC download)."""
    folder = Path(annotation_cohort_folder()).resolve()
    name = config["annotate"]["name"]
    if not name:
        name = folder.parent.name if folder.name.lower() == "images" else folder.name
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
    return f"results/annotate/{name}/summary.html"


def annotation_tables(wildcards):
    """The per-shard tables of a cohort; reading its manifest waits for the annotate_prepare checkpoint."""
    manifest = checkpoints.annotate_prepare.get(cohort=wildcards.cohort).output.manifest
    shards = range(
        math.ceil(len(pd.read_csv(manifest)) / config["annotate"]["shard_size"])
    )
    return [
        f"results/annotate/{wildcards.cohort}/table/shard-{i:04d}.csv" for i in shards
    ]


# Rule scripts import the `diffseg` package from src/, in the pip venv, a conda env or on a
# SLURM node alike (sbatch exports the environment), without installing it into each env.
os.environ.update(
    PYTHONPATH=os.pathsep.join(
        filter(
            None, [str(Path(workflow.basedir) / "src"), os.environ.get("PYTHONPATH")]
        )
    )
)
