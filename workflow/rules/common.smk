# Config validation, dataset lookups and the input functions the rules call.
import functools
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
from diffseg.evaluation.selection import CANDIDATE_SETTINGS, read_choice, refused_overrides
from diffseg.data.shards import evaluation_positions, shard_count
from diffseg.data.splits import DEV_SPLIT
from diffseg.roots import (
    COHORT_SETTINGS,
    STAGE_SETTINGS,
    merged_config,
    settings_at,
    stage_owners,
)

validate(config, schema="../schemas/config.schema.yaml")


def validated_override(override_config, key, what="a valid override"):
    """`override_config` (the main configuration with the override at `key` merged in), checked
    against the schema; an error names `key`."""
    try:
        validate(override_config, schema="../schemas/config.schema.yaml")
    except WorkflowError as error:
        raise WorkflowError(f"{key} is not {what}", error)
    return override_config


DATASET = config["dataset"]["name"]
SOURCE = config["dataset"]["source"]
FOLDS = config["validation"]["folds"]
# The rules run in results roots, results/{root}: the main run's, results/<dataset>, and the
# cross-validation's, one per (variant, fold): results/<dataset>/validate/<variant>/fold-<k>;
# "default" is the configuration as it stands, the others are the ablations of
# validation.ablations, each one override of it (docs/validation.md).
ABLATIONS = config["validation"]["ablations"]
VARIANTS = ["default", *ABLATIONS]
VARIANT_CONFIGS = {
    name: validated_override(
        merged_config(config, override), f"validation.ablations.{name}"
    )
    for name, override in ABLATIONS.items()
}
for name, variant_config in VARIANT_CONFIGS.items():
    # Every root prepares the main run's cohort (synthesised or downloaded once, in results/<dataset>).
    if settings_at(variant_config, COHORT_SETTINGS) != settings_at(
        config, COHORT_SETTINGS
    ):
        raise WorkflowError(
            f"validation.ablations.{name} changes the cohort ({', '.join(COHORT_SETTINGS)}): "
            "every variant is cross-validated on the same images"
        )
# Cross-dataset evaluation (benchmark.cross): the main run's models segment other cohorts' test
# splits without retraining. Each cohort is the main configuration with its own dataset.folder.
CROSS_CONFIGS = {}
for name, folder in config["benchmark"]["cross"].items():
    cross_config = merged_config(config, {})
    cross_config["dataset"] |= {"source": "folder", "folder": folder, "dev_fraction": 0}
    CROSS_CONFIGS[name] = validated_override(
        cross_config, f"benchmark.cross.{name}", "a valid dataset.folder"
    )
# Candidates (benchmark.candidates, diffseg.evaluation.selection): overrides of the post-training settings, each
# scored on the development split with the main run's models; the best one segments the test split.
CANDIDATES = config["benchmark"]["candidates"]
for name, override in CANDIDATES.items():
    refused = refused_overrides(override)
    if refused:
        raise WorkflowError(
            f"benchmark.candidates.{name} overrides {', '.join(refused)}: a candidate may change only "
            f"{', '.join(CANDIDATE_SETTINGS)}, since it reuses the run's trained models"
        )
CANDIDATE_CONFIGS = {
    name: validated_override(
        merged_config(config, override), f"benchmark.candidates.{name}"
    )
    for name, override in CANDIDATES.items()
}
if CANDIDATES and not config["dataset"]["dev_fraction"]:
    raise WorkflowError(
        "benchmark.candidates are chosen on the development split: set dataset.dev_fraction above 0"
    )
# Which variant computes each stage for each variant (a variant shares every stage it leaves alone).
STAGE_OWNERS = {
    stage: stage_owners({"default": config, **VARIANT_CONFIGS}, stage)
    for stage in STAGE_SETTINGS
}
# Which candidate computes each stage for each candidate ("default": the main run's roots), so that
# candidates with the same step set and difference share one extraction.
CANDIDATE_OWNERS = {
    stage: stage_owners({"default": config, **CANDIDATE_CONFIGS}, stage)
    for stage in STAGE_SETTINGS
}


wildcard_constraints:
    root=re.escape(DATASET)
    + r"(/validate/[A-Za-z0-9_.-]+/fold-\d+|(/candidate/[A-Za-z0-9_.-]+)?(/dev|/cross/[A-Za-z0-9_.-]+)?)",
    shard=r"\d{4}",
    cohort=r"[A-Za-z0-9_.-]+",
    budget=r"\d+",


def depends_on(*settings, stage=None, pattern=None):
    """Marks an input or params function of the rules under a results root with what its value
    depends on: the dotted `settings` of the root's configuration it reads, and the file `pattern`
    it asks for (in the root that computes `stage`, when given). A shared stage must list in
    STAGE_SETTINGS every setting its rules depend on; tests/test_stage_settings.py checks it.
    """

    def mark(function):
        function.settings, function.stage, function.pattern = settings, stage, pattern
        return function

    return mark


def variant_and_fold(root):
    """(variant, fold) of a results root; (None, None) for the main run's."""
    match = re.fullmatch(re.escape(DATASET) + r"[/]validate/([^/]+)/fold-(\d+)", root)
    return (match.group(1), int(match.group(2))) if match else (None, None)


# The development split's results root: the main run's DDPM and U-Nets score its images there, so
# settings are chosen on images no model has seen instead of on the test images (docs/benchmark.md).
DEV_ROOT = f"{DATASET}/dev"
# What a held-out root (the development root, a cross-dataset root) takes from the main run: the
# trained models it evaluates.
TRAINED_STAGES = ("model", "unet_model")


def candidate_and_base(root):
    """(candidate, the root it stands in for) of a candidate's root,
    results/<dataset>/candidate/<candidate>[/dev | /cross/<cohort>]: the main run's, development or
    cross-dataset root evaluated with the candidate's settings; (None, root) for other roots.
    """
    match = re.fullmatch(re.escape(DATASET) + r"[/]candidate/([^/]+)(.*)", root)
    return (match.group(1), DATASET + match.group(2)) if match else (None, root)


def candidate_root(candidate, root):
    """`root` (the main run's, development or a cross-dataset root) evaluated with `candidate`'s
    settings; `root` itself for None or "default" (the configuration's own settings)."""
    if candidate in (None, "default"):
        return root
    return f"{DATASET}/candidate/{candidate}{root[len(DATASET):]}"


def cross_cohort(root):
    """The benchmark.cross cohort a cross-dataset root, results/<dataset>[/candidate/<c>]/cross/<cohort>,
    evaluates; None for other roots."""
    _, base = candidate_and_base(root)
    match = re.fullmatch(re.escape(DATASET) + r"[/]cross/([^/]+)", base)
    return match.group(1) if match else None


def held_out_split_of(root):
    """The split of its cohort a held-out root evaluates with the main run's models (the development
    split, or a cross-dataset cohort's test split); None for the other roots."""
    if candidate_and_base(root)[1] == DEV_ROOT:
        return DEV_SPLIT
    return "test" if cross_cohort(root) else None


def root_config(root):
    """The configuration of a results root: the main one, an ablation variant's, a cross-dataset
    cohort's, or one of those with a candidate's settings."""
    candidate, base = candidate_and_base(root)
    if candidate is not None:
        if candidate not in CANDIDATES:
            raise WorkflowError(
                f"{root}: no candidate {candidate!r} in benchmark.candidates"
            )
        return candidate_config(base, candidate)
    cohort = cross_cohort(root)
    if cohort is not None:
        if cohort not in CROSS_CONFIGS:
            raise WorkflowError(f"{root}: no cohort {cohort!r} in benchmark.cross")
        return CROSS_CONFIGS[cohort]
    variant, _ = variant_and_fold(root)
    if variant not in (None, "default") and variant not in VARIANT_CONFIGS:
        raise WorkflowError(f"{root}: no ablation {variant!r} in validation.ablations")
    return VARIANT_CONFIGS.get(variant, config)


@functools.cache
def candidate_config(base, candidate):
    """The configuration of results root `base` with `candidate`'s override merged in (read often,
    merged once)."""
    return merged_config(root_config(base), CANDIDATES[candidate])


def setting(*keys):
    """A params function: the value at `keys` in the configuration of the job's results root."""

    @depends_on(".".join(keys))
    def lookup(wildcards):
        value = root_config(wildcards.root)
        for key in keys:
            value = value[key]
        return value

    return lookup


@depends_on("dataset.source", "dataset.folder.images", "dataset.isic2018.dest")
def cohort_input(wildcards):
    """Where prepare reads the cohort: a folder the pipeline made, or the user's own folder."""
    dataset = root_config(wildcards.root)["dataset"]
    if dataset["source"] == "synthetic":
        return {"cohort": f"results/{DATASET}/cohort"}
    if dataset["source"] == "isic2018":
        return {"cohort": str(Path(dataset["isic2018"]["dest"]) / "cohort")}
    images = dataset["folder"]["images"]
    if not images:
        raise ValueError(
            "dataset.source is 'folder' but dataset.folder.images is not set"
        )
    if not Path(images).is_dir():
        raise ValueError(f"dataset.folder.images: {images} is not a folder")
    return {"images": images}


@depends_on("validation.folds", "validation.seed")
def fold_of_root(wildcards):
    """The fold a cross-validation root tests on ({index, folds, seed}); None for the main run."""
    _, fold = variant_and_fold(wildcards.root)
    if fold is None:
        return None
    validation = root_config(wildcards.root)["validation"]
    if not 1 <= fold <= validation["folds"]:
        raise WorkflowError(
            f"{wildcards.root}: fold {fold} is not among 1…{validation['folds']}"
        )
    return {"index": fold - 1, "folds": validation["folds"], "seed": validation["seed"]}


def stage_root(root, stage):
    """The results root that computes `stage` for `root`: an ablation variant shares every stage
    whose settings it has in common with an earlier variant of the same fold, the default first
    (one DDPM per fold when only the thresholding or the fusion changes). A held-out root computes
    everything but the main run's trained models itself. A candidate's root computes only the stages
    whose settings no earlier candidate (the configuration's own first) shares with it, in its own
    root of the same kind; the others come from the root it stands in for, or that candidate's.
    """
    candidate, base = candidate_and_base(root)
    if candidate is not None:
        root_config(root)  # an unknown candidate is named
        owner = CANDIDATE_OWNERS[stage][candidate]
        return candidate_root(owner, stage_root(base, stage))
    if held_out_split_of(root):
        return DATASET if stage in TRAINED_STAGES else root
    variant, fold = variant_and_fold(root)
    if variant is None:
        return root
    root_config(root)  # an unknown variant is named
    return f"{DATASET}/validate/{STAGE_OWNERS[stage][variant]}/fold-{fold}"


def from_stage(stage, pattern):
    """An input function: `pattern` (a path with {root}) in the root that computes `stage`."""

    @depends_on(stage=stage, pattern=pattern)
    def path(wildcards):
        fields = dict(wildcards.items())
        return pattern.format(**{**fields, "root": stage_root(wildcards.root, stage)})

    return path


def prepared(name):
    """An input function: a file of the prepared store (prepared/<name>) this root reads."""
    return from_stage("prepare", f"results/{{root}}/prepared/{name}")


@depends_on()
def held_out_split(wildcards):
    """The split whose images a held-out root evaluates; None elsewhere."""
    return held_out_split_of(wildcards.root)


def prepared_manifest(wildcards):
    """The manifest of the prepared store; reading it waits for the prepare checkpoint."""
    root = stage_root(wildcards.root, "prepare")
    return checkpoints.prepare.get(root=root).output.manifest


def evaluation_shards(wildcards):
    """Shard ids of the test images with lesion masks: the number of jobs grows with shards, not images."""
    manifest = pd.read_csv(prepared_manifest(wildcards))
    test = evaluation_positions(manifest["split"], manifest["label"])
    shard_size = root_config(wildcards.root)["extraction"]["shard_size"]
    return [f"{i:04d}" for i in range(shard_count(len(test), shard_size))]


def per_shard(pattern, stage=None):
    """An input function expanding `pattern` over the root's evaluation shards (in the root that
    computes `stage`, when given)."""

    @depends_on("extraction.shard_size", stage=stage, pattern=pattern)
    def expand_shards(wildcards):
        root = stage_root(wildcards.root, stage) if stage else wildcards.root
        return expand(pattern, root=root, shard=evaluation_shards(wildcards))

    return expand_shards


def development_root(root):
    """The development root that chooses the settings of results root `root` (the main run's or a
    cross-dataset root's): the main run's, when its cohort has development images with masks; None
    otherwise (reading the main manifest waits for prepare). A candidate's roots choose their best step on the
    candidate's development root."""
    candidate, base = candidate_and_base(root)
    if base != DATASET and cross_cohort(base) is None:
        return None
    manifest = pd.read_csv(checkpoints.prepare.get(root=DATASET).output.manifest)
    scorable = (
        manifest["split"].eq(DEV_SPLIT) & manifest["label"].eq(1) & manifest["has_mask"]
    )
    return candidate_root(candidate, DEV_ROOT) if scorable.any() else None


@depends_on(pattern="results/{root}/evaluation/scores.csv")
def development_scores(wildcards):
    """The development split's per-image scores, which the best single step is chosen on (none
    without a development root)."""
    development = development_root(wildcards.root)
    return (
        {"dev_scores": f"results/{development}/evaluation/scores.csv"}
        if development
        else {}
    )


UNET_BUDGET_SHARD = "results/{root}/unet/masks-{budget}/shard-{shard}.h5"


@depends_on("unet.label_budgets", stage="unet", pattern=UNET_BUDGET_SHARD)
def unet_budget_shards(wildcards):
    """A shard's predictions by the U-Nets of the label-efficiency curve (unet.label_budgets)."""
    root = stage_root(wildcards.root, "unet")
    budgets = root_config(wildcards.root)["unet"]["label_budgets"]
    return [
        UNET_BUDGET_SHARD.format(root=root, budget=budget, shard=wildcards.shard)
        for budget in budgets
    ]


TRAINED_DDPM = "results/{root}/model/ema"


@depends_on("model.checkpoint", stage="model", pattern=TRAINED_DDPM)
def trained_model(wildcards):
    """The DDPM extraction and annotation use: a reused checkpoint (model.checkpoint), or this run's.
    Cross-validation folds always train their own: a checkpoint trained on the whole cohort has seen
    every fold's test images. Annotation, outside any results root, uses the main run's.
    """
    root = wildcards.get("root", DATASET)
    reused = root_config(root)["model"]["checkpoint"]
    if reused and variant_and_fold(root) == (None, None):
        return reused
    return TRAINED_DDPM.format(root=stage_root(root, "model"))


def run_outputs(wildcards=None):
    """The main run's results: Table 1, the GED summary, the joined maps and the figures."""
    root = f"results/{DATASET}"
    return [
        f"{root}/evaluation/table1.csv",
        f"{root}/evaluation/table1.md",
        f"{root}/uncertainty/ged_summary.csv",
        f"{root}/diffs.h5",
        *(f"{root}/figures/{figure}" for figure in FIGURES),
    ]


def final_outputs(wildcards):
    """What `snakemake` builds by default: the run's results and the document written from them."""
    return [*run_outputs(), f"results/{DATASET}/run.md"]


def benchmark_root(wildcards=None):
    """The results root whose test split the benchmark reports: the candidate chosen on the development
    split (reading chosen.yaml waits for the select_candidate checkpoint), else the main run's.
    """
    if not CANDIDATES:
        return DATASET
    chosen = checkpoints.select_candidate.get().output.chosen
    return candidate_root(read_choice(chosen)["candidate"], DATASET)


def benchmark_file(name):
    """An input function: results/<root>/<name> in the root the benchmark reports (benchmark_root)."""
    return lambda wildcards: f"results/{benchmark_root()}/{name}"


def benchmark_inputs(wildcards):
    """What the benchmark document reads: the chosen root's test and cross-dataset tables (Table 1,
    per-image scores, Dice by lesion size, failed masks), the development split's scores and Dice
    per step when the run has one, the candidates' development scores when it has candidates, and
    the DDPM's training curve when the run trained it (not with a reused model.checkpoint).
    """
    root = benchmark_root()
    inputs = {
        "table1": f"results/{root}/evaluation/table1.csv",
        "table1_md": f"results/{root}/evaluation/table1.md",
        "scores": f"results/{root}/evaluation/scores.csv",
        "cross_tables": [
            f"results/{root}/cross/{cohort}/evaluation/table1.md"
            for cohort in CROSS_CONFIGS
        ],
        "cross_scores": [
            f"results/{root}/cross/{cohort}/evaluation/scores.csv"
            for cohort in CROSS_CONFIGS
        ],
        "size_bins_md": f"results/{root}/evaluation/size_bins.md",
        "mask_coverage_md": f"results/{root}/evaluation/mask_coverage.md",
        "cross_size_bins": [
            f"results/{root}/cross/{cohort}/evaluation/size_bins.md"
            for cohort in CROSS_CONFIGS
        ],
        "cross_mask_coverage": [
            f"results/{root}/cross/{cohort}/evaluation/mask_coverage.md"
            for cohort in CROSS_CONFIGS
        ],
    }
    development = development_root(root)
    if development:
        inputs["dev_scores"] = f"results/{development}/evaluation/scores.csv"
        inputs["dev_per_step"] = f"results/{development}/evaluation/per_step.csv"
    if CANDIDATES:
        inputs["selection"] = f"results/{DATASET}/selection/candidates.md"
        inputs["chosen"] = f"results/{DATASET}/selection/chosen.yaml"
    if not config["model"]["checkpoint"]:
        inputs["loss"] = f"results/{DATASET}/model/loss.csv"
        inputs["loss_figure"] = f"results/{DATASET}/figures/training_loss.png"
    return inputs


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
    shards = shard_count(len(pd.read_csv(manifest)), config["annotate"]["shard_size"])
    return [
        f"results/annotate/{wildcards.cohort}/table/shard-{i:04d}.csv"
        for i in range(shards)
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
