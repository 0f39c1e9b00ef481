"""The benchmark document (`snakemake benchmark`, docs/benchmark.md): one real run on a dataset's
official splits, with nothing chosen on the test images.

It says what each split was used for (training, choosing settings on the development split, testing),
which candidate settings were tried there, their development Dice and which was chosen on how many
development masks, and holds the test Table 1, the test
images split by the cohort's kept columns (e.g. full-resolution originals apart from thumbnails), the
label-efficiency curve with the mask-free rows' places on it, DiffSeg's rows against their fair controls (on
all test images and on each subset), how the students were taught, the tables of other cohorts segmented by this run's
models without retraining (cross-dataset), the training curve, what each stage cost, and how the run
was made.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from diffseg.data.splits import DEV_SPLIT
from diffseg.evaluation.controls import comparisons_markdown, control_comparisons
from diffseg.evaluation.groups import group_labels
from diffseg.evaluation.label_efficiency import CHOSEN_ON_DEVELOPMENT, FULL_UNET, Worth
from diffseg.evaluation.pseudo_labels import LEFT_OUT, STUDENT_METHODS, pseudo_label_counts
from diffseg.evaluation.table import LABELS, compared_methods, markdown_table, summarise
from diffseg.evaluation.verdict import verdict_markdown, verdicts
from diffseg.reports.documents import closing_sections, document_header, markdown_sections

LABEL_EFFICIENCY_FIGURE = "figures/label_efficiency.png"
TRAINING_LOSS_FIGURE = "figures/training_loss.png"


def split_counts(manifest: pd.DataFrame) -> dict[str, int]:
    """Scorable images (lesion images with a mask) per split of the prepared manifest."""
    scorable = manifest[manifest["label"].eq(1) & manifest["has_mask"].astype(bool)]
    return {split: int((scorable["split"] == split).sum()) for split in ("train", DEV_SPLIT, "test")}


def _dice_cell(mean: float, low: float, high: float) -> str:
    return f"{mean:.3f} [{low:.3f}, {high:.3f}]"


def ddpm_images_line(healthy: dict, lesion_zooms, lesion_share: float) -> str:
    """The protocol's line on what the DDPM's two semantics learn from (schema `healthy`,
    `lesion_views`, `train.lesion_share`)."""
    views = (
        f", and their centre zoomed {' and '.join(f'{zoom:g}×' for zoom in lesion_zooms)} (`lesion_views.zooms`)"
        if len(lesion_zooms)
        else ""
    )
    skin = {
        "border_crops": f"{healthy['crops_per_image']} border crops of each training image "
        f"({healthy['crop_fraction']:g} of each side, {'enlarged' if healthy.get('crop_scale', 'enlarge') == 'enlarge' else 'mirrored'})",
        "folder": "the healthy-skin images of `healthy.folder`",
        "synthetic": "synthetic healthy skin",
    }[healthy["source"]]
    return (
        f"- **DDPM training images**: lesion: the training images as whole frames{views}; healthy skin: {skin}; "
        f"a lesion image in {lesion_share:.0%} of draws (`train.lesion_share`). No mask is used."
    )


def protocol_section(
    counts: dict[str, int], dev_fraction: float, group: str | None, ddpm_images: str = ""
) -> list[str]:
    grouped = f", whole `{group}` groups" if group else ""
    dev = (
        f"- **Development split**: {counts[DEV_SPLIT]} images with masks, carved from the official training "
        f"split (`dataset.dev_fraction: {dev_fraction}`{grouped}, seeded). They train neither the DDPM nor "
        "a U-Net: they stand for unseen test images, and every setting chosen is chosen on them."
        if counts[DEV_SPLIT]
        else "- **No development split**: the best single step is chosen on the test images, so its row is optimistic."
    )
    return [
        "## Protocol",
        "",
        f"- **Training split**: {counts['train']} images. The DDPM learns them from image-level labels "
        f"only; the supervised U-Net is trained on their {counts['train']} masks, and each U-Net of the "
        "label-efficiency curve on a seeded subset of them.",
        *([ddpm_images] if ddpm_images else []),
        dev,
        f"- **Test split**: {counts['test']} images, the official test (or validation) split, never used "
        "to choose among this run's candidates; the scorings of it before this one, after some of which the "
        "design was revised, are counted above its Table 1 (ledger). Every row is scored on the same images (paired), each at its original "
        "resolution against its original mask.",
        "",
    ]


@dataclass(frozen=True)
class Selection:
    """The candidates of benchmark.candidates scored on the development split (diffseg.evaluation.selection)."""

    table_md: str
    chosen: dict


def candidates_lines(selection: Selection | None) -> list[str]:
    """Which candidate settings were tried on the development split and which one was chosen."""
    if selection is None:
        return ["The step set, threshold and CRF settings are the configuration's (below), fixed before the run.", ""]
    chosen = selection.chosen
    return [
        f"Post-training settings: candidate `{chosen['candidate']}`, the best of the candidates below by mean "
        f"Dice of DiffSeg + DenseCRF on the {chosen['dev_masks']} development masks (development masks used "
        f"for selection: {chosen['dev_masks']}); the test split was segmented with its settings alone.",
        "",
        selection.table_md.rstrip(),
        "",
    ]


def selection_section(dev_per_step: pd.DataFrame | None, table: pd.DataFrame, selection: Selection | None) -> list[str]:
    """The settings chosen on the development split: the candidates' development Dice, then that of
    every step of the chosen settings."""
    if dev_per_step is None or not len(dev_per_step):
        return []
    chosen = table.loc[table["key"] == "best_step", "method"]
    rows = [[f"t = {row.step}", str(row.n), _dice_cell(row.mean, row.ci_low, row.ci_high)]
            for row in dev_per_step.itertuples()]
    best = dev_per_step.loc[dev_per_step["mean"].idxmax()]
    return [
        "## Settings chosen on the development split",
        "",
        *candidates_lines(selection),
        f"The best single step: t = {int(best['step'])}, the highest mean Dice on the {int(best['n'])} "
        f"development images (development masks used for selection: {int(best['n'])}).",
        "",
        *markdown_table(["Step", "Development images", "Dice [95 % CI]"], rows),
        "",
        f"Test row: {chosen.iloc[0] if len(chosen) else '–'}.",
        "",
    ]


def subgroup_table(
    per_image: pd.DataFrame,
    column: str,
    n_resamples: int,
    seed: int,
    dev_scores: pd.DataFrame | None,
    group: str | None = None,
) -> list[str]:
    """Dice [95 % CI] of every Table 1 row on the test images of each value of `column`; the bootstrap
    draws whole `group`s of images when given (`diffseg.evaluation.groups`)."""
    values = sorted(per_image[column].dropna().astype(str).unique())
    header = ["Method", *(f"{column} = {value} (n = {per_image.loc[per_image[column].astype(str) == value, 'id'].nunique()})"
                          for value in values)]
    rows = []
    for _, method, label in compared_methods(per_image, dev_scores):
        scores = per_image[per_image["method"] == method]
        cells = []
        for value in values:
            subgroup = scores[scores[column].astype(str) == value]
            stats = summarise(subgroup["dice"], n_resamples, seed, group_labels(subgroup, group))
            cells.append(_dice_cell(stats["mean"], stats["ci_low"], stats["ci_high"]))
        rows.append([label, *cells])
    return [f"### Test images by `{column}`", "", *markdown_table(header, rows), ""]


def subgroup_tables(
    per_image: pd.DataFrame,
    columns: list[str],
    n_resamples: int,
    seed: int,
    dev_scores: pd.DataFrame | None,
    group: str | None = None,
) -> list[str]:
    """`subgroup_table` for each of `columns` the scores have."""
    return [line for column in columns if column in per_image
            for line in subgroup_table(per_image, column, n_resamples, seed, dev_scores, group)]


@dataclass(frozen=True)
class CrossDataset:
    """Another cohort's test split segmented by this run's models, not retrained (benchmark.cross)."""

    cohort: str
    table1_md: str
    per_image: pd.DataFrame
    split_by: list[str]
    # Dice by lesion size and the failed masks of the cohort's test split (heading → Markdown,
    # diffseg.evaluation.breakdown.breakdown_sections).
    sections: dict[str, str] | None = None
    group: str | None = None  # the cohort's column of images that are not independent (lesion_id)
    scoring_note: str = ""  # how many times the cohort's test split had been scored before (ledger)
    subsets: dict | None = None  # the cohort's subsets (column → {value: label}), compared with the controls apart


def controls_sections(
    per_image: pd.DataFrame, group: str | None, subsets: dict | None, n_resamples: int, seed: int, level: int = 3
) -> list[str]:
    """DiffSeg's rows against their fair controls (diffseg.evaluation.controls) on all the images
    scored, then on each subset of `subsets` (column → {value: label}), each its own Holm family."""
    tables = {"DiffSeg against its fair controls": per_image}
    for label, chosen in subset_scores(per_image, subsets).items():
        tables[f"DiffSeg against its fair controls: {label} ({chosen['id'].nunique()} images)"] = chosen
    sections = {heading: comparisons_markdown(control_comparisons(rows, group, n_resamples, seed))
                for heading, rows in tables.items()}
    return markdown_sections({heading: body for heading, body in sections.items() if body}, level=level)


def subset_scores(per_image: pd.DataFrame, subsets: dict | None) -> dict[str, pd.DataFrame]:
    """The scores of each subset of `subsets` (column → {value: label}) that holds an image, by label."""
    chosen = {}
    for column, values in (subsets or {}).items():
        if column not in per_image:
            continue
        for value, label in values.items():
            rows = per_image[per_image[column].astype(str) == str(value)]
            if len(rows):
                chosen[label] = rows
    return chosen


def verdict_section(
    inputs: BenchmarkInputs, name: str, n_resamples: int, seed: int
) -> list[str]:
    """Whether each DiffSeg row beats the best training-free row (diffseg.evaluation.verdict) on the
    test split, on each of its subsets and on each cross-dataset cohort; empty without DiffSeg rows."""
    n = inputs.per_image["id"].nunique()
    sets = {f"{name} test, all {n}": (inputs.per_image, inputs.group)}
    for label, rows in subset_scores(inputs.per_image, inputs.subsets).items():
        sets[f"{name} test, {label} ({rows['id'].nunique()})"] = (rows, inputs.group)
    for other in inputs.cross:
        sets[f"{other.cohort} test, all {other.per_image['id'].nunique()} (cross-dataset)"] = (other.per_image, other.group)
        for label, rows in subset_scores(other.per_image, other.subsets).items():
            sets[f"{other.cohort} test, {label} ({rows['id'].nunique()}, cross-dataset)"] = (rows, other.group)
    body = verdict_markdown(verdicts(sets, n_resamples, seed))
    notes = same_images_notes(inputs.per_image, inputs.subsets, inputs.split_by)
    body = body + "\n" + " ".join(notes) + "\n" if body and notes else body
    return markdown_sections({"Verdict: DiffSeg against the best training-free row": body} if body else None)


def same_images_notes(per_image: pd.DataFrame, subsets: dict | None, columns: list[str]) -> list[str]:
    """A sentence for each subset whose images are exactly those of one value of another kept column
    (the 52 ISIC images never used for any choice are its 52 thumbnails): what sets it apart from the
    rest is then both, and its Dice cannot say which one matters."""
    images = per_image.drop_duplicates("id")
    notes = []
    for column, values in (subsets or {}).items():
        for value, label in values.items():
            if column not in images:
                continue
            ids = set(images.loc[images[column].astype(str) == str(value), "id"])
            for other in (name for name in columns if name != column and name in images):
                for other_value, rows in images.groupby(other):
                    if ids and ids == set(rows["id"]):
                        notes.append(f"The {len(ids)} images {label} are exactly those with `{other}` = "
                                     f"{other_value}: what sets their Dice apart may come from either.")
    return notes


def students_section(pseudo_labels: dict[str, pd.DataFrame], zoom_views: int, dev_summary_md: str) -> list[str]:
    """How each student was taught (its pseudo-labels, per cohort) and how it does on the development
    split, where its uncertainty is set against its error; empty for a run without students."""
    if not pseudo_labels:
        return []
    lines = [
        "## Self-training: the students",
        "",
        "Each student is the U-Net of the supervised row, trained on its teacher's masks of images no table "
        "scores (the training split's lesion images, their masks unread, and the unlabelled cohorts of "
        "`student.cohorts`): empty and frame-covering masks and the most uncertain share of the rest are "
        "left out, and zoomed views of the most confident ones are added. The DiffSeg student learns from "
        "DiffSeg + DenseCRF, ranked by GED diversity; its control from the fair control, ranked by its "
        "posterior's mask uncertainty. Neither is chosen on anything: their settings are fixed beforehand.",
        "",
    ]
    for teacher, table in pseudo_labels.items():
        counts = pseudo_label_counts(table, zoom_views)
        rows = [[str(v) for v in row] for row in counts.itertuples(index=False)]
        lines += [f"Pseudo-labels of {LABELS[STUDENT_METHODS[teacher]]}:", "",
                  *markdown_table(["cohort", "images", "trained on", *LEFT_OUT, "zoomed views"], rows), ""]
    if dev_summary_md.strip():
        lines += ["On the development split, whose images chose the candidate the students learn from but "
                  "taught neither:", "", dev_summary_md.rstrip(), ""]
    return lines


def cross_dataset_section(
    cross: CrossDataset, name: str, n_resamples: int, seed: int, dev_scores: pd.DataFrame | None
) -> list[str]:
    chosen_on = "this run's development split" if dev_scores is not None else f"{cross.cohort}'s own test images"
    return [
        f"## Cross-dataset: the {name} models on {cross.cohort} ({cross.per_image['id'].nunique()} test images)",
        "",
        f"The DDPM and the U-Nets trained on {name}'s training split segment the test split of "
        f"{cross.cohort} without retraining; the best single step is the one chosen on {chosen_on}.",
        "",
        *([cross.scoring_note, ""] if cross.scoring_note else []),
        cross.table1_md.rstrip(),
        "",
        *subgroup_tables(cross.per_image, cross.split_by, n_resamples, seed, dev_scores, cross.group),
        *markdown_sections(cross.sections, level=3),
        *controls_sections(cross.per_image, cross.group, cross.subsets, n_resamples, seed),
    ]


def label_efficiency_section(
    curve: pd.DataFrame, worths: dict[str, Worth], table: pd.DataFrame, development_masks: int = 0
) -> list[str]:
    """The curve's points, then each mask-free row placed on it: its Dice, its gap to the U-Net on
    every training mask and its worth in masks. `development_masks`: the masks of the development
    split that chose the candidate (0 without a choice), which the rows fused or taught with the
    chosen settings used, though no network trained on them."""
    if not len(curve):
        return []
    labels = table.set_index("key")["method"]
    rows = [[str(row.masks), labels.get(row.method, row.method), _dice_cell(row.dice_mean, row.ci_low, row.ci_high)]
            for row in curve.itertuples()]
    full = curve[curve["method"] == FULL_UNET]
    full_masks = int(full["masks"].iloc[0]) if len(full) else None
    gap_header = f"− {labels.get(FULL_UNET, FULL_UNET)} ({full_masks} masks) [95 % CI]" if full_masks else "gap"
    placed = [[labels.get(method, method), "0", str(development_masks if method in CHOSEN_ON_DEVELOPMENT else 0),
               f"{worth.dice:.3f}", _gap_cell(worth), worth.text()]
              for method, worth in worths.items()]
    first = next(iter(worths.values()), None)
    notes = (
        ["", "Each mask-free row is placed where the U-Net's curve of Dice against log masks (linear "
         "between its points) reaches its Dice. Intervals are a paired bootstrap over the test images that recomputes "
         "the curve and the row's Dice together; `<` and `>` mark a Dice below the curve's first point or above its "
         f"last ({first.first} and {first.last} masks). No network of these rows trained on a mask, but the settings "
         "of the fused rows and of the students' teachers were chosen on the development split's masks, counted in "
         "their column. Every point and row is scored on the same test images (those all of them scored)."]
        if first is not None else []
    )
    placement = (
        [*markdown_table(["Method", "training masks", "development masks that chose its settings", "Dice",
                          gap_header, "worth [95 % CI]"], placed), *notes]
        if placed else []
    )
    return [
        "## Label efficiency",
        "",
        f"![Label efficiency]({LABEL_EFFICIENCY_FIGURE})",
        "",
        *markdown_table(["Training masks", "Method", "Dice [95 % CI]"], rows),
        "",
        *placement,
        "",
    ]


def _gap_cell(worth: Worth) -> str:
    """`-0.071 [-0.102, -0.041]`, or – without the U-Net on every training mask."""
    if math.isnan(worth.gap):
        return "–"
    return f"{worth.gap:+.3f} [{worth.gap_low:+.3f}, {worth.gap_high:+.3f}]"


def training_section(loss: pd.DataFrame | None) -> list[str]:
    if loss is None or not len(loss):
        return []
    window = max(1, min(50, len(loss) // 10))
    first, last = loss["loss"].head(window).mean(), loss["loss"].tail(window).mean()
    return [
        "## Training curve",
        "",
        f"![DDPM training loss]({TRAINING_LOSS_FIGURE})",
        "",
        f"The DDPM trained for {int(loss['step'].max())} steps; its noise-prediction loss fell from "
        f"{first:.4f} (mean of the first {window} steps) to {last:.4f} (mean of the last {window}).",
        "",
    ]


@dataclass(frozen=True)
class BenchmarkInputs:
    """What the benchmark document reads: the run's facts, tables and texts.

    - `run`: the run's facts (`diffseg.reports.documents.run_facts`): name, configuration, times;
    - `table1_md`, `table`: the test split's Table 1 as Markdown and as its table (key, method, ...);
    - `per_image`: the test split's scores per image and method, with the cohort's kept columns;
    - `manifest`: the prepared manifest (which images each split holds);
    - `stages_md`: what each stage ran (`diffseg.runtime.provenance.provenance_markdown`);
    - `dev_scores`, `dev_per_step`: the development split's scores per image and Dice per step, or None;
    - `selection`: the candidates tried on the development split, or None when there were none;
    - `curve`, `worths`: the label-efficiency curve and the mask-free rows' places on it, by method;
    - `loss`: the DDPM's loss per step, or None;
    - `split_by`: the cohort's kept columns, by which the test images are split into tables;
    - `group`: the column of images that are not independent, by which the training split's
      development images were drawn and the test split's statistics resample;
    - `cross`: the other cohorts segmented by this run's models;
    - `sections`: the test split's Dice by lesion size and failed masks
      (diffseg.evaluation.breakdown.breakdown_sections);
    - `costs_md`: the wall time, CPU time and memory of each stage (diffseg.reports.job_costs);
    - `ddpm_images`: the protocol's line on the DDPM's training images (`ddpm_images_line`);
    - `scoring_note`: how many times the test split had been scored before (diffseg.evaluation.ledger);
    - `subsets`: the cohort's subsets (column → {value: label}), each compared with the controls apart;
    - `pseudo_labels`, `zoom_views`, `student_dev_md`: each student's pseudo-label table (by teacher),
      the zoomed views per confident one, and the students' summary on the development split.
    """

    run: dict
    table1_md: str
    table: pd.DataFrame
    per_image: pd.DataFrame
    manifest: pd.DataFrame
    stages_md: str
    dev_scores: pd.DataFrame | None
    dev_per_step: pd.DataFrame | None
    selection: Selection | None
    curve: pd.DataFrame
    worths: dict[str, Worth]
    loss: pd.DataFrame | None
    split_by: list[str]
    group: str | None
    cross: list[CrossDataset]
    sections: dict[str, str] | None = None
    costs_md: str = ""
    ddpm_images: str = ""
    scoring_note: str = ""
    subsets: dict | None = None
    pseudo_labels: dict[str, pd.DataFrame] | None = None
    zoom_views: int = 0
    student_dev_md: str = ""


def benchmark_document(inputs: BenchmarkInputs, *, dev_fraction: float, n_resamples: int, seed: int) -> str:
    """The Markdown of results/<name>/benchmark.md (see the module's docstring) from `inputs`;
    `dev_fraction`: the share of the training split carved off as the development split; the test
    statistics' bootstrap draws `n_resamples` resamples seeded by `seed`."""
    run, name = inputs.run, inputs.run["name"]
    counts = split_counts(inputs.manifest)
    extra = {"Images": f"train {counts['train']}, development {counts[DEV_SPLIT]}, test {counts['test']}"}
    dev_scores = inputs.dev_scores
    parts = [
        *document_header(f"Benchmark {name}", run, extra),
        *protocol_section(counts, dev_fraction, inputs.group, inputs.ddpm_images),
        *selection_section(inputs.dev_per_step, inputs.table, inputs.selection),
        *verdict_section(inputs, name, n_resamples, seed),
        f"## Table 1: the test split ({counts['test']} images)",
        "",
        *([inputs.scoring_note, ""] if inputs.scoring_note else []),
        inputs.table1_md.rstrip(),
        "",
        *subgroup_tables(inputs.per_image, inputs.split_by, n_resamples, seed, dev_scores, inputs.group),
        *markdown_sections(inputs.sections, level=3),
        *controls_sections(inputs.per_image, inputs.group, inputs.subsets, n_resamples, seed),
        *students_section(inputs.pseudo_labels or {}, inputs.zoom_views, inputs.student_dev_md),
        *(line for other in inputs.cross for line in cross_dataset_section(other, name, n_resamples, seed, dev_scores)),
        *label_efficiency_section(inputs.curve, inputs.worths, inputs.table,
                                  int(inputs.selection.chosen["dev_masks"]) if inputs.selection else 0),
        *training_section(inputs.loss),
        *markdown_sections({"Compute per stage": inputs.costs_md} if inputs.costs_md.strip() else None),
        *closing_sections(inputs.stages_md, run),
    ]
    return "\n".join(parts)
