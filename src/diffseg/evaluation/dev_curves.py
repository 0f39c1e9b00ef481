"""The benchmark page's section on what a larger training budget gives, from `benchmarks/dev_curve.py`.

That script trains DDPM variants (preset, label dropout, batch, steps) on a benchmark's training
split and scores each on the development split, the images the benchmark selects on. This module
turns its CSV into the section of docs/benchmark.md: one row per trained model with its best step
set (by the vote's Dice), and the sentences that compare the rows, all computed from the CSV.
"""

from __future__ import annotations

import json

import pandas as pd

from diffseg.evaluation.columns import require_columns
from diffseg.evaluation.table import markdown_table

MIRRORED = ", mirrored crops"  # a model whose healthy border crops kept their scale (healthy.crop_scale)
# Options of the training images, each with the value of runs made before it existed, and the words
# that compare a row with another value against its default trained alike.
TRAINING_OPTIONS = {
    "crop_scale": ("enlarge", "Healthy border crops at the lesion images' scale, mirrored to fill the frame, against enlarged"),
    "lesion_zooms": ("", "Zoomed-in lesion views (zooms {value}) added to the lesion class, against whole frames only"),
}
COLUMNS = {
    "variant",
    "device",
    "preset",
    "size",
    "label_dropout",
    "batch_size",
    "train_steps",
    "train_seconds",
    "step_set",
    "dev_images",
    "otsu_dice",
    "best_t",
    "best_step_dice",
    "vote_dice",
    "vote_ci_low",
    "vote_ci_high",
}


# The runs of benchmarks/dev_curve.py committed with the project, which docs/benchmark.md ends with.
COMMITTED_CURVES = (
    "benchmarks/h200/dev_curve.csv",
    "benchmarks/cpu/dev_curve_crop_scale.csv",
    "benchmarks/cpu/dev_curve_lesion_views.csv",
)


def read_curves(paths) -> pd.DataFrame:
    """The rows of several `benchmarks/dev_curve.py` CSVs, the zoom factors kept as written ("2+4")."""
    return pd.concat([pd.read_csv(path, dtype={"lesion_zooms": str}) for path in paths], ignore_index=True)


def best_step_sets(curve: pd.DataFrame) -> pd.DataFrame:
    """One row per trained model (variant, batch, steps): the step set whose vote scored best."""
    require_columns(curve, COLUMNS, "the development-curve table")
    # Runs from before an option existed trained with its default.
    curve = curve.assign(**{
        option: curve.get(option, pd.Series(default, index=curve.index)).fillna(default).astype(str)
        for option, (default, _) in TRAINING_OPTIONS.items()
    })  # fmt: skip
    # A model measured in two runs (a baseline trained again beside a new option) is kept once: the
    # row that recorded the most, of its best step set.
    order = curve.assign(recorded=curve.notna().sum(axis=1)).sort_values(
        ["vote_dice", "recorded"], ascending=False, kind="stable"
    )
    best = order.drop_duplicates(["variant", "device", "batch_size", "train_steps"]).drop(columns="recorded")
    best = best.assign(images_seen=best["train_steps"] * best["batch_size"])
    sort_by = ["preset", "label_dropout", "images_seen"]
    return best.sort_values(sort_by, ascending=[False, False, True], kind="stable").reset_index(drop=True)


def dev_curve_section(curve: pd.DataFrame, source: str) -> list[str]:
    """The Markdown lines of the section: how the runs were made, the table, the comparisons."""
    best = best_step_sets(curve)
    dev_images = int(curve["dev_images"].max())
    otsu = float(curve["otsu_dice"].iloc[0])
    devices = sorted(curve["device"].unique())
    device = "one " + devices[0] if len(devices) == 1 else ", ".join(devices) + ", each model on one"
    lines = [
        "## Development-split curves: what a larger training budget gives",
        "",
        f"Written from `{source}` (`benchmarks/dev_curve.py`, run on {device}). Each DDPM was trained on "
        "the ISIC 2017 benchmark's training split (lesion images and their border crops, as the "
        f"benchmark trains) and scored on its {dev_images} development images, never on the test images. "
        "Dice is scored at the model's resolution without DenseCRF; each row's step set is the one whose "
        "vote scored best on these same images, and the best single step is chosen on them too, so both "
        "are upper bounds of a choice, not test figures.",
        "",
    ]
    header = ["preset", "label dropout", "batch", "steps", "images seen", "training s", "step set",
              "vote Dice [95 % CI]", "best single step (t)"]
    rows = [
        [_model_label(row), f"{row.label_dropout:g}",
         str(row.batch_size), str(row.train_steps), str(row.images_seen), f"{row.train_seconds:.0f}", row.step_set,
         f"{row.vote_dice:.3f} [{row.vote_ci_low:.3f}, {row.vote_ci_high:.3f}]",
         f"{row.best_step_dice:.3f} ({row.best_t})"]
        for row in best.itertuples()
    ]
    if len(devices) > 1:  # training seconds are only comparable on one device
        header.insert(0, "device")
        rows = [[row.device, *cells] for row, cells in zip(best.itertuples(), rows, strict=True)]
    lines += markdown_table(header, rows)
    lines += ["", f"Training-free Otsu on the same {dev_images} images at the same resolution: **{otsu:.3f}**.", ""]
    lines += _comparisons(best, otsu)
    return lines + size_table(best)


def _comparisons(best: pd.DataFrame, otsu: float) -> list[str]:
    top = next(best.loc[[best["vote_dice"].idxmax()]].itertuples())  # a row tuple: a Series' .size is its length
    sentences = [
        f"- Best vote of any model: {top.vote_dice:.3f} [{top.vote_ci_low:.3f}, {top.vote_ci_high:.3f}] "
        f"({_model_label(top)}, label dropout {top.label_dropout:g}, {top.images_seen} images seen), "
        + (f"{otsu - top.vote_dice:.3f} below Otsu" if top.vote_dice < otsu else f"{top.vote_dice - otsu:.3f} above Otsu")
        + (": its interval lies wholly below Otsu's mean." if top.vote_ci_high < otsu else ".")
    ]
    if "per_step_dice" in best.columns:
        last = [_peak_at_last_steps(dice) for dice in best["per_step_dice"]]
        sentences.append(
            f"- In {sum(last)} of {len(last)} rows the best single step is one of the last two of its step "
            "set" + (": later steps than any tried may score higher." if sum(last) > len(last) / 2 else ".")
        )
    # A budget is compared on one device only: a GPU and a CPU run of one model differ in more than steps.
    budgets = best.groupby(["preset", "label_dropout", "device", *TRAINING_OPTIONS], sort=False)
    for (preset, dropout, device, *_), runs in budgets:
        least, most = runs.loc[runs["images_seen"].idxmin()], runs.loc[runs["images_seen"].idxmax()]
        if most.images_seen > least.images_seen:
            sentences.append(
                f"- Training budget ({preset}, label dropout {dropout:g}, {device}): "
                f"{most.images_seen / least.images_seen:.0f}× "
                f"the images seen ({least.images_seen} → {most.images_seen}) moved the vote from "
                f"{least.vote_dice:.3f} to {most.vote_dice:.3f} ({most.vote_dice - least.vote_dice:+.3f})."
            )
    training = ["preset", "batch_size", "train_steps", "device", *TRAINING_OPTIONS]
    same = best.groupby(training).filter(lambda g: g["label_dropout"].nunique() > 1)
    for (preset, batch, steps, device, *_), group in same.groupby(training):
        cells = [
            f"{r.label_dropout:g}: {r.vote_dice:.3f} [{r.vote_ci_low:.3f}, {r.vote_ci_high:.3f}]"
            for r in group.sort_values("label_dropout").itertuples()
        ]
        overlap = group["vote_ci_low"].max() <= group["vote_ci_high"].min()
        sentences.append(
            f"- Label dropout at equal training ({preset}, {steps} steps × {batch}, {device}): "
            + "; ".join(cells)
            + (" — the intervals overlap." if overlap else " — the intervals do not overlap.")
        )
    return sentences + _option_comparisons(best)


def _option_comparisons(best: pd.DataFrame) -> list[str]:
    """Each row whose training images differ from the defaults in one option, against the row with
    the defaults trained alike on the same device (so, in practice, in one run side by side)."""
    training = ["preset", "label_dropout", "batch_size", "train_steps", "device"]
    sentences = []
    for option, (default, words) in TRAINING_OPTIONS.items():
        others = [o for o in TRAINING_OPTIONS if o != option]
        for keys, group in best.groupby(training + others):
            alike = dict(zip(training + others, keys, strict=True))
            by_value = group.set_index(option)
            if default not in by_value.index or any(alike[o] != TRAINING_OPTIONS[o][0] for o in others):
                continue
            preset, dropout, batch, steps, device = (alike[key] for key in training)
            baseline = by_value.loc[default]
            for value, row in by_value.drop(index=default).iterrows():
                overlap = max(row.vote_ci_low, baseline.vote_ci_low) <= min(row.vote_ci_high, baseline.vote_ci_high)
                sentences.append(
                    f"- {words.format(value=value)} ({preset}, label dropout {dropout:g}, {steps} steps × {batch}, "
                    f"side by side on {device}): vote {row.vote_dice:.3f} [{row.vote_ci_low:.3f}, {row.vote_ci_high:.3f}] "
                    f"against {baseline.vote_dice:.3f} [{baseline.vote_ci_low:.3f}, {baseline.vote_ci_high:.3f}] "
                    f"({row.vote_dice - baseline.vote_dice:+.3f})"
                    + (" — the intervals overlap." if overlap else " — the intervals do not overlap.")
                )
    return sentences


def size_table(best: pd.DataFrame) -> list[str]:
    """Markdown lines: each model's vote Dice and the map's ranking AUC by lesion size, with the
    darkness map Otsu thresholds as the training-free reference (rows the script scored by size)."""
    scored = best[best.get("vote_dice_by_size", pd.Series(dtype=object)).map(lambda v: isinstance(v, str))]
    if scored.empty:
        return []
    counts = json.loads(scored["images_by_size"].iloc[0])
    bins = [name for name, n in counts.items() if n]
    header = ["model", *(f"{name} ({counts[name]} images)" for name in bins)]
    rows = []
    for row in scored.itertuples():
        recorded = getattr(row, "map_auc_by_size", None)  # rows scored before the AUC was recorded lack it
        dice, auc = json.loads(row.vote_dice_by_size), json.loads(recorded) if isinstance(recorded, str) else {}
        rows.append([_model_label(row)] + [
            f"{dice[name]:.3f}" + (f" (AUC {auc[name]:.2f})" if name in auc else "") for name in bins
        ])  # fmt: skip
    darkness = scored.get("darkness_auc_by_size", pd.Series(dtype=object)).dropna()
    if len(darkness):
        auc = json.loads(darkness.iloc[0])
        rows.append(["Otsu's darkness map (training-free)", *(f"(AUC {auc[name]:.2f})" for name in bins)])
    return [
        "",
        "By lesion size: the vote's Dice and, in brackets, the AUC with which the mean difference map "
        "ranks lesion above skin pixels, whatever its threshold (0.5 is chance).",
        "",
        *markdown_table(header, rows),
    ]


def _model_label(row) -> str:
    return (
        f"{row.preset} {row.size} px{MIRRORED if row.crop_scale == 'mirror' else ''}"
        + (f", lesion views ×{row.lesion_zooms}" if row.lesion_zooms else "")
    )


def _peak_at_last_steps(per_step_dice: str) -> bool:
    """Whether the highest of a JSON list of per-step Dice is one of its last two."""
    dice = json.loads(per_step_dice)
    return max(range(len(dice)), key=dice.__getitem__) >= len(dice) - 2
