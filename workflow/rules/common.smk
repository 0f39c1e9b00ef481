# Config validation, dataset lookups and the input functions the rules call.
import math
import os
import re
import sys
from pathlib import Path

import pandas as pd
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version, validate

min_version("9.0")

# The workflow's own package, importable without installing it (as the rule scripts do below).
sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from diffseg.variants import STAGE_SETTINGS, merged_config, stage_owners

validate(config, schema="../schemas/config.schema.yaml")

DATASET = config["dataset"]["name"]
SOURCE = config["dataset"]["source"]
SHARD_SIZE = config["extraction"]["shard_size"]
FOLDS = config["validation"]["folds"]
# The cross-validation reruns the pipeline in one results root per (variant, fold):
# results/<dataset>/validate/<variant>/fold-<k>; "default" is the configuration as it stands, the
# others are the ablations of validation.ablations, each one override of it (docs/validation.md).
ABLATIONS = config["validation"]["ablations"]
VARIANTS = ["default", *ABLATIONS]
VARIANT_CONFIGS = {
    name: merged_config(config, override) for name, override in ABLATIONS.items()
}
for name, variant_config in VARIANT_CONFIGS.items():
    try:
        validate(variant_config, schema="../schemas/config.schema.yaml")
    except WorkflowError as error:
        raise WorkflowError(
            f"validation.ablations.{name} is not a valid override", error
        )
# Which variant computes each stage for each variant (a variant shares every stage it leaves alone).
STAGE_OWNERS = {
    stage: stage_owners({"default": config, **VARIANT_CONFIGS}, stage)
    for stage in STAGE_SETTINGS
}


wildcard_constraints:
    dataset=re.escape(DATASET) + r"(/validate/[A-Za-z0-9_.-]+/fold-\d+)?",
    shard=r"\d{4}",
    cohort=r"[A-Za-z0-9_.-]+",


def cohort_input(wildcards):
    """Where prepare reads the cohort: a folder the pipeline made, or the user's own folder."""
    if SOURCE == "synthetic":
        return {"cohort": f"results/{DATASET}/cohort"}
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


def root_parts(root):
    """(variant, fold) of a results root; (None, None) for the main run's."""
    match = re.fullmatch(re.escape(DATASET) + r"[/]validate/([^/]+)/fold-(\d+)", root)
    return (match.group(1), int(match.group(2))) if match else (None, None)


def root_config(root):
    """The configuration of a results root: the main one, or an ablation variant's."""
    variant, _ = root_parts(root)
    if variant not in (None, "default") and variant not in VARIANT_CONFIGS:
        raise WorkflowError(f"{root}: no ablation {variant!r} in validation.ablations")
    return VARIANT_CONFIGS.get(variant, config)


def fold_of_root(wildcards):
    """The fold a cross-validation root tests on ({index, folds, seed}); None for the main run."""
    _, fold = root_parts(wildcards.dataset)
    if fold is None:
        return None
    validation = root_config(wildcards.dataset)["validation"]
    if not 1 <= fold <= validation["folds"]:
        raise WorkflowError(
            f"{wildcards.dataset}: fold {fold} is not among 1…{validation['folds']}"
        )
    return {"index": fold - 1, "folds": validation["folds"], "seed": validation["seed"]}


def setting(*keys):
    """A params function: the value at `keys` in the configuration of the job's results root."""

    def lookup(wildcards):
        value = root_config(wildcards.dataset)
        for key in keys:
            value = value[key]
        return value

    return lookup


def stage_root(root, stage):
    """The results root that computes `stage` for `root`: an ablation variant shares every stage
    whose settings it has in common with an earlier variant of the same fold, the default first
    (one DDPM per fold when only the thresholding or the fusion changes)."""
    variant, fold = root_parts(root)
    if variant is None:
        return root
    root_config(root)  # an unknown variant is named
    return f"{DATASET}/validate/{STAGE_OWNERS[stage][variant]}/fold-{fold}"


def from_stage(stage, pattern):
    """An input function: `pattern` (a path with {dataset}) in the root that computes `stage`."""

    def path(wildcards):
        fields = dict(wildcards.items())
        return pattern.format(
            **{**fields, "dataset": stage_root(wildcards.dataset, stage)}
        )

    return path


def prepared(name):
    """An input function: a file of the prepared store (prepared/<name>) this root reads."""
    return from_stage("prepare", f"results/{{dataset}}/prepared/{name}")


def prepared_manifest(wildcards):
    """The manifest of the prepared store; reading it waits for the prepare checkpoint."""
    root = stage_root(wildcards.dataset, "prepare")
    return checkpoints.prepare.get(dataset=root).output.manifest


def evaluation_shards(wildcards):
    """Shard ids of the test images with lesion masks: the number of jobs grows with shards, not images."""
    manifest = pd.read_csv(prepared_manifest(wildcards))
    test = manifest[(manifest["split"] == "test") & (manifest["label"] == 1)]
    shard_size = root_config(wildcards.dataset)["extraction"]["shard_size"]
    return [f"{i:04d}" for i in range(math.ceil(len(test) / shard_size))]


def per_shard(pattern, stage=None):
    """An input function expanding `pattern` over the root's evaluation shards (in the root that
    computes `stage`, when given)."""

    def expand_shards(wildcards):
        root = stage_root(wildcards.dataset, stage) if stage else wildcards.dataset
        return expand(pattern, dataset=root, shard=evaluation_shards(wildcards))

    return expand_shards


def trained_model(wildcards=None):
    """The DDPM extraction and annotation use: a reused checkpoint (model.checkpoint), or this run's.
    Cross-validation folds always train their own: a checkpoint trained on the whole cohort has seen
    every fold's test images."""
    root = wildcards.dataset if wildcards and "dataset" in wildcards.keys() else DATASET
    if config["model"]["checkpoint"] and root_parts(root) == (None, None):
        return config["model"]["checkpoint"]
    return f"results/{stage_root(root, 'model')}/model/ema"


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


VALIDATION = f"results/{DATASET}/validate"
FOLD_NUMBERS = list(range(1, FOLDS + 1))


def fold_files(variant, name):
    """A file of the evaluation in every fold of `variant`, in fold order."""
    return expand(
        "{validation}/{variant}/fold-{fold}/{name}",
        validation=VALIDATION,
        variant=variant,
        fold=FOLD_NUMBERS,
        name=name,
    )


def provenance(target):
    """How the document was made, for its header (the commit is read when it is written)."""
    files = [os.path.relpath(path) for path in workflow.overwrite_configfiles]
    cohort = (
        config["dataset"]["folder"]["images"]
        if SOURCE == "folder"
        else f"{SOURCE} ({DATASET})"
    )
    return {
        "target": target,
        "command": " ".join(
            ["snakemake", target, *(f"--configfile {path}" for path in files)]
        ),
        "cohort": cohort,
        "folds": FOLDS,
        "seed": config["validation"]["seed"],
        "bootstrap": config["metrics"]["bootstrap"],
        "metrics_seed": config["metrics"]["seed"],
        "config": yaml.safe_dump(config, sort_keys=False),
    }


# Rule scripts import the `diffseg` package from src/, in the pip venv, a conda env or on a
# SLURM node alike (sbatch exports the environment), without installing it into each env.
os.environ.update(
    PYTHONPATH=os.pathsep.join(
        filter(
            None, [str(Path(workflow.basedir) / "src"), os.environ.get("PYTHONPATH")]
        )
    )
)
