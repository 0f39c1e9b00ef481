# Config validation, the results roots (diffseg.roots) and the input functions the rules call.
# Rules read every setting through setting(): under a results root it is that root's configuration,
# elsewhere (annotation, the benchmark and validation documents) the main one.
import functools
from pathlib import Path

import pandas as pd
from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version, validate

from diffseg.data.cohort import existing_folder
from diffseg.data.contents import contents_fingerprint
from diffseg.data.shards import evaluation_shard_ids, shard_ids
from diffseg.data.splits import has_development_images
from diffseg.evaluation.selection import read_choice
from diffseg.evaluation.pseudo_labels import TEACHERS
from diffseg.reports.annotation import cohort_name
from diffseg.reports.documents import run_provenance
from diffseg.roots import (
    NAME_PATTERN,
    ResultsRoots,
    depends_on,
    key_ordered,
    wildcard_pattern,
)
from diffseg.runtime.errors import ConfigError
from diffseg.trained_run import TrainedRun, command_line_request

min_version("9.0")

SCHEMA = "../schemas/config.schema.yaml"
# `--config cohort=… model=results/<run>` (make annotate) are the annotate section's keys.
REQUEST = command_line_request(config)
config.clear()
config.update(REQUEST)
validate(config, schema=SCHEMA)


def validated(merged_config, key, what):
    """An override's merged configuration, checked against the schema; an error names `key`."""
    try:
        validate(merged_config, schema=SCHEMA)
    except WorkflowError as error:
        raise WorkflowError(f"{key} is not {what}", error)
    return merged_config


try:
    ROOTS = ResultsRoots(config, validated)
except ConfigError as error:
    raise WorkflowError(str(error))
DATASET = ROOTS.dataset
# Paths fixed when the workflow is parsed (an output cannot be a function of the configuration).
ISIC2018_COHORT = str(Path(config["dataset"]["isic2018"]["dest"]) / "cohort")
# A reused checkpoint (model.checkpoint) was trained elsewhere: this run has no loss curve to draw.
TRAINS_DDPM = not config["model"]["checkpoint"]


wildcard_constraints:
    root=wildcard_pattern(DATASET),
    shard=r"\d{4}",
    cohort=NAME_PATTERN,
    budget=r"\d+",


def root_of(wildcards):
    """The job's results root (diffseg.roots.Root); None for a job outside any root."""
    return ROOTS.parse(wildcards.root) if "root" in wildcards.keys() else None


def setting(*keys):
    """A params function: the value at `keys` in the configuration of the job's results root."""

    @depends_on(".".join(keys))
    def lookup(wildcards):
        return key_ordered(ROOTS.setting(root_of(wildcards), keys))

    return lookup


def from_stage(stage, pattern):
    """An input function: `pattern` (a path with {root}) in the root that computes `stage`."""

    @depends_on(stage=stage, pattern=pattern)
    def path(wildcards):
        owner = ROOTS.stage_root(root_of(wildcards), stage)
        return pattern.format(**{**dict(wildcards.items()), "root": owner})

    return path


def prepared(name):
    """An input function: a file of the prepared store (prepared/<name>) this root reads."""
    return from_stage("prepare", f"results/{{root}}/prepared/{name}")


@depends_on("dataset.source", "dataset.folder.images", "dataset.isic2018.dest")
def cohort_input(wildcards):
    """Where prepare reads the cohort: a folder the pipeline made, or the user's own folder."""
    dataset = ROOTS.setting(root_of(wildcards), ["dataset"])
    if dataset["source"] == "synthetic":
        return {"cohort": f"results/{DATASET}/cohort"}
    if dataset["source"] == "isic2018":
        return {"cohort": str(Path(dataset["isic2018"]["dest"]) / "cohort")}
    how = ", but dataset.source is 'folder'"
    # ancient: a copied or remounted folder is not prepared again; cohort_contents reruns on a change.
    return {
        "images": ancient(
            existing_folder(dataset["folder"]["images"], "dataset.folder.images", how)
        )
    }


@depends_on("dataset")
def cohort_contents(wildcards):
    """prepare's record of the user's folder in place of its timestamp (diffseg.data.contents): its
    images, masks, labels and splits table; None for a cohort the pipeline makes itself.
    """
    dataset = ROOTS.setting(root_of(wildcards), ["dataset"])
    if dataset["source"] != "folder":
        return None
    folder = dataset["folder"]
    # Without folder.masks, masks are read from the images folder or a masks/ folder beside it.
    masks = folder.get("masks") or Path(folder["images"]).parent / "masks"
    return contents_fingerprint(
        folder["images"], masks, folder.get("labels"), folder["splits"].get("csv")
    )


@depends_on("dataset.folder.splits")
def cohort_splits(wildcards):
    """The splits section prepare reads: all of it but the subsets, which only the tables read (a new
    subset re-tabulates the scores; it does not prepare the cohort again)."""
    splits = ROOTS.setting(root_of(wildcards), ["dataset", "folder", "splits"])
    return key_ordered(
        {key: value for key, value in splits.items() if key != "subsets"}
    )


@depends_on()
def root_name(wildcards):
    """The job's results root as {path, candidate}: which run a ledger row records."""
    root = root_of(wildcards)
    return {"path": str(root), "candidate": root.candidate}


@depends_on("validation.folds", "validation.seed")
def fold_of_root(wildcards):
    """The fold a cross-validation root tests on ({index, folds, seed}); None for the main run."""
    return ROOTS.fold_of(root_of(wildcards))


@depends_on()
def held_out_split(wildcards):
    """The split whose images a held-out root evaluates; None elsewhere."""
    return root_of(wildcards).held_out_split


def manifest_of(root):
    """The manifest of `root`'s prepared store; reading it waits for the prepare checkpoint."""
    owner = ROOTS.stage_root(root, "prepare")
    return pd.read_csv(checkpoints.prepare.get(root=str(owner)).output.manifest)


def per_shard(pattern, stage=None):
    """An input function expanding `pattern` over the root's evaluation shards, those of the test
    images with lesion masks (in the root that computes `stage`, when given): the number of jobs
    grows with shards, not images."""

    @depends_on("extraction.shard_size", stage=stage, pattern=pattern)
    def expand_shards(wildcards):
        root = root_of(wildcards)
        manifest, size = manifest_of(root), ROOTS.setting(
            root, ["extraction", "shard_size"]
        )
        shards = evaluation_shard_ids(manifest["split"], manifest["label"], size)
        owner = ROOTS.stage_root(root, stage) if stage else root
        return [pattern.format(root=owner, shard=shard) for shard in shards]

    return expand_shards


def development_root(root):
    """The development root that chooses `root`'s settings, when its cohort has development images
    with masks (reading the main manifest waits for prepare); None otherwise."""
    if ROOTS.chooses_on_development(root) and has_development_images(
        manifest_of(ROOTS.main)
    ):
        return ROOTS.development_root(root)
    return None


@depends_on(pattern="results/{root}/evaluation/scores.csv")
def development_scores(wildcards):
    """The development split's per-image scores, which the best single step is chosen on."""
    development = development_root(root_of(wildcards))
    if not development:
        return {}
    return {"dev_scores": f"results/{development}/evaluation/scores.csv"}


UNET_BUDGET_SHARD = "results/{root}/unet/masks-{budget}/shard-{shard}.h5"


@depends_on("unet.label_budgets", stage="unet", pattern=UNET_BUDGET_SHARD)
def unet_budget_shards(wildcards):
    """A shard's predictions by the U-Nets of the label-efficiency curve (unet.label_budgets)."""
    root = root_of(wildcards)
    owner = ROOTS.stage_root(root, "unet")
    return [
        UNET_BUDGET_SHARD.format(root=owner, budget=budget, shard=wildcards.shard)
        for budget in ROOTS.setting(root, ["unet", "label_budgets"])
    ]


STUDENT_SCORES = "results/{root}/student/scores/shard-{shard}.csv"


@depends_on("student.enabled", "extraction.shard_size", pattern=STUDENT_SCORES)
def student_scores(wildcards):
    """The students' per-shard scores (student.smk) of a root whose table holds them: with
    student.enabled, every root but the folds (which train no student) and the development roots (whose
    scores choose the candidate the students learn from)."""
    root = root_of(wildcards)
    if (
        not ROOTS.setting(root, ["student", "enabled"])
        or root.fold is not None
        or root.development
    ):
        return []
    return per_shard(STUDENT_SCORES)(wildcards)


TRAINED_DDPM = "results/{root}/model/ema"


@depends_on("model.checkpoint", stage="model", pattern=TRAINED_DDPM)
def trained_model(wildcards):
    """The DDPM extraction uses: a reused checkpoint (model.checkpoint), or this run's.
    Cross-validation folds always train their own: a checkpoint trained on the whole cohort has seen
    every fold's test images. Annotation uses its run's (annotation_run), trained beforehand.
    """
    if "root" not in wildcards.keys():
        return annotation_run().require_model()
    root = root_of(wildcards)
    reused = ROOTS.setting(root, ["model", "checkpoint"])
    if reused and root.fold is None:
        return reused
    return TRAINED_DDPM.format(root=ROOTS.stage_root(root, "model"))


def run_outputs(wildcards=None):
    """The main run's results: Table 1, the GED summary, the joined maps and the figures."""
    root = f"results/{DATASET}"
    return [
        f"{root}/evaluation/table1.csv",
        f"{root}/evaluation/table1.md",
        f"{root}/uncertainty/ged_summary.csv",
        f"{root}/diffs/joined.h5",
        *(f"{root}/figures/{figure}" for figure in FIGURES),
    ]


# The configuration a run was made with, which `make annotate MODEL=results/<run>` reads back.
RUN_CONFIG = f"results/{DATASET}/config.yaml"


def final_outputs(wildcards):
    """What `snakemake` builds by default: the run's results and the document written from them."""
    return [*run_outputs(), f"results/{DATASET}/run.md", RUN_CONFIG]


def benchmark_root(wildcards=None):
    """The results root whose test split the benchmark reports: the candidate chosen on the
    development split (reading chosen.yaml waits for the select_candidate checkpoint), else the
    main run's."""
    if not ROOTS.candidates:
        return ROOTS.main
    chosen = checkpoints.select_candidate.get().output.chosen
    return ROOTS.candidate_root(read_choice(chosen)["candidate"])


def benchmark_inputs(wildcards):
    """What the benchmark document reads (diffseg.roots.ResultsRoots.benchmark_inputs)."""
    tested = benchmark_root()
    return ROOTS.benchmark_inputs(
        tested,
        development_root(tested),
        TRAINS_DDPM,
        ROOTS.setting(tested, ["student", "enabled"]),
    )


def benchmark_file(name):
    """An input function: results/<root>/<name> in the root the benchmark reports (benchmark_root)."""
    return lambda wildcards: f"results/{benchmark_root()}/{name}"


def annotation_cohort_folder(wildcards=None):
    """The folder of images to annotate (annotate.cohort)."""
    how = ": run `make annotate COHORT=path/to/images [MODEL=results/<run>]`"
    return existing_folder(config["annotate"]["cohort"], "annotate.cohort", how)


def annotation_cohort_contents(wildcards=None):
    """annotate_prepare's record of the cohort in place of its timestamp (cohort_contents)."""
    return contents_fingerprint(annotation_cohort_folder())


@functools.cache
def annotation_run():
    """The run that segments the cohort (diffseg.trained_run): annotate.model, else this configuration's."""
    try:
        if config["annotate"]["model"]:
            return TrainedRun.from_folder(config["annotate"]["model"])
        return TrainedRun.with_choice(f"results/{DATASET}", config)
    except ConfigError as error:
        raise WorkflowError(str(error))


@functools.cache
def annotation_config():
    """The annotation's configuration, merged once: this one with the method's sections of its run."""
    return annotation_run().annotation_config(config)


def annotation_setting(*keys):
    """A params function of the annotation's rules, which lie outside every results root: the value at
    `keys` of the annotation's configuration, this one with the method's sections of its run.
    """

    def lookup(wildcards):
        value = annotation_config()
        for key in keys:
            value = value[key]
        return key_ordered(value)

    return lookup


def annotation_model(wildcards):
    """What segments the cohort on annotate.path: the run's student, or its DDPM (trained beforehand)."""
    try:
        return annotation_run().annotation_model(config["annotate"]["path"])
    except ConfigError as error:
        raise WorkflowError(str(error))


def annotation_image_size(wildcards):
    """The size the cohort is prepared at: that of what segments it (annotation_model)."""
    try:
        return annotation_run().image_size(config["annotate"]["path"])
    except ConfigError as error:
        raise WorkflowError(str(error))


ANNOTATION = "results/annotate/{cohort}"
STUDENT_ANNOTATION = "results/annotate/{cohort}/student"


def annotation_maps(wildcards):
    """The per-shard maps annotate_shard reads: the student's (annotate.path) or the diffusion path's."""
    student = annotation_run().uses_student(config["annotate"]["path"])
    base = (STUDENT_ANNOTATION if student else ANNOTATION).format(
        cohort=wildcards.cohort
    )
    return {
        "masks": f"{base}/steps/shard-{wildcards.shard}.h5",
        "regions": f"{base}/regions/shard-{wildcards.shard}.h5",
        "fused": f"{base}/crf/shard-{wildcards.shard}.h5",
        "fused_masks": f"{base}/crf/masks/shard-{wildcards.shard}",
    }


# The summary pages this invocation builds, printed when it succeeds (Snakefile, onsuccess).
ANNOTATION_PAGES = []


def annotation_summary(wildcards):
    """The page `snakemake annotate` builds, under annotate.name or the cohort folder's name."""
    name = config["annotate"]["name"] or cohort_name(annotation_cohort_folder())
    page = f"results/annotate/{name}/summary.html"
    if page not in ANNOTATION_PAGES:
        ANNOTATION_PAGES.append(page)
    return page


def annotation_tables(wildcards):
    """The per-shard tables of a cohort; reading its manifest waits for the annotate_prepare checkpoint."""
    manifest = checkpoints.annotate_prepare.get(cohort=wildcards.cohort).output.manifest
    shards = shard_ids(len(pd.read_csv(manifest)), config["annotate"]["shard_size"])
    return [
        f"results/annotate/{wildcards.cohort}/annotation/shard-{s}.csv" for s in shards
    ]


def fold_files(variant, name):
    """A file of the evaluation in every fold of `variant`, in fold order."""
    return [f"results/{ROOTS.fold_root(variant, fold)}/{name}" for fold in FOLD_NUMBERS]


def provenance(target):
    """How the document was made, for its header (the commit is read when it is written)."""
    return run_provenance(target, config, workflow.overwrite_configfiles)


# Self-training (student.smk): the pseudo-label cohorts and the input and params functions of their rules.
PSEUDO = f"results/{DATASET}/pseudo/{{cohort}}"
STUDENT = f"results/{DATASET}/student/{{teacher}}"
# The training split's lesion images: a cohort like the unlabelled folders, whose masks are not read.
TRAINING_COHORT = "train"
PSEUDO_COHORTS = [TRAINING_COHORT, *config["student"]["cohorts"]]
if TRAINING_COHORT in config["student"]["cohorts"]:
    raise WorkflowError(
        f"student.cohorts: {TRAINING_COHORT!r} names the run's training split; give the folder another name"
    )


def reported_setting(*keys):
    """A params function of the pseudo-label rules: the value at `keys` in the configuration of the
    root the run reports (its chosen candidate's; reading chosen.yaml waits for select_candidate).
    """
    return lambda wildcards: key_ordered(ROOTS.setting(benchmark_root(), keys))


def pseudo_cohort_input(wildcards):
    """What prepare_pseudo reads: the main run's manifest (the training split) or a folder of images."""
    if wildcards.cohort == TRAINING_COHORT:
        return {"manifest": f"results/{DATASET}/prepared/manifest.csv"}
    folder = config["student"]["cohorts"].get(wildcards.cohort)
    how = ": name it in student.cohorts"
    key = f"student.cohorts.{wildcards.cohort}"
    return {"images": ancient(existing_folder(folder, key, how))}


def pseudo_cohort_contents(wildcards):
    """prepare_pseudo's record of an unlabelled folder in place of its timestamp (cohort_contents)."""
    if wildcards.cohort == TRAINING_COHORT:
        return None
    return contents_fingerprint(config["student"]["cohorts"].get(wildcards.cohort))


def pseudo_shards(cohort):
    """The shard ids of a pseudo-label cohort; reading its manifest waits for prepare_pseudo."""
    manifest = checkpoints.prepare_pseudo.get(cohort=cohort).output.manifest
    size = ROOTS.setting(benchmark_root(), ["extraction", "shard_size"])
    return shard_ids(len(pd.read_csv(manifest)), size)


def pseudo_label_files(wildcards):
    """train_student's inputs, by cohort: its store, the teacher's fused shards and, for DiffSeg, the
    GED diversity of each shard's per-step masks (the control's uncertainty is read off its posterior).
    """
    folder = "crf" if wildcards.teacher == "diffseg" else "otsu_crf"
    files = {}
    for cohort in PSEUDO_COHORTS:
        base, shards = PSEUDO.format(cohort=cohort), pseudo_shards(cohort)
        files[f"store_{cohort}"] = f"{base}/prepared/store.h5"
        files[f"copies_{cohort}"] = f"{base}/scored_copies.csv"
        files[f"fused_{cohort}"] = [f"{base}/{folder}/shard-{s}.h5" for s in shards]
        if wildcards.teacher == "diffseg":
            files[f"ged_{cohort}"] = [
                f"{base}/uncertainty/ged/shard-{s}.csv" for s in shards
            ]
    return files
