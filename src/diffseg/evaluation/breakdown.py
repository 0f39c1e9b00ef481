"""Where a method's mean Dice comes from: Dice by the true lesion's size, and the masks that failed
outright by being empty or by covering (nearly) the whole frame.

A mean Dice hides both. Small lesions are the hard ones, so a method can lead Table 1 on a cohort of
large lesions and trail on one of small lesions; and a mask that marks the whole frame scores the
Dice of the lesion's share (2s / (1 + s), 0.18 for a lesion on a tenth of the frame) without any
segmentation at all. Both shares come from the per-image scores (`diffseg.evaluation.scoring.score_shard`):
`truth_fraction` and `pred_fraction`, the share of the frame at original resolution that the true
lesion and the method's mask cover.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

from diffseg.evaluation.columns import require_columns
from diffseg.evaluation.groups import group_labels
from diffseg.evaluation.table import compared_methods, markdown_table, summarise
from diffseg.runtime.atomic import write_csv, write_text

# Table 1's rows: (row key, method in the scores, label), as `diffseg.evaluation.table.compared_methods` gives them.
Methods = list[tuple[str, str, str]]
# Bins of the true lesion's share of the frame: [0, 0.10), [0.10, 0.25), [0.25, 0.50), [0.50, 1].
# A share on an edge goes to the larger bin.
SIZE_EDGES = (0.10, 0.25, 0.50)
SIZE_BINS = ("< 10 %", "10–25 %", "25–50 %", "≥ 50 %")
# A mask covering at least this share of the frame is "all lesion": it outlines no lesion at all.
ALL_LESION_SHARE = 0.9
# A set of masks "covers the frame" when, on average, they cover at least half of it, or when more
# than half of them are all lesion.
FRAME_COVERING_MEAN_SHARE = 0.5
FRAME_COVERING_ALL_LESION = 0.5
# The two tables' headings in the documents and the report.
SIZE_BINS_HEADING = "Dice by lesion size"
MASK_COVERAGE_HEADING = "Empty and frame-covering masks"


def percent(share: float) -> str:
    """`90 %` for 0.9."""
    return f"{share * 100:.0f} %"


FRAME_COVERING_RULE = (f"cover on average at least {percent(FRAME_COVERING_MEAN_SHARE)} of the frame, or more than "
                       f"{percent(FRAME_COVERING_ALL_LESION)} of them are all lesion")


def size_bin(truth_fraction) -> np.ndarray:
    """The `SIZE_BINS` label of each true lesion share."""
    return np.asarray(SIZE_BINS)[np.searchsorted(SIZE_EDGES, np.asarray(truth_fraction, dtype=float), side="right")]


def mean_by_size(values, truth_fraction) -> dict[str, float]:
    """The mean of `values` (NaNs skipped) over the images of each `SIZE_BINS` bin that holds one."""
    values, bins = np.asarray(values, dtype=float), size_bin(truth_fraction)
    return {name: float(np.nanmean(values[bins == name])) for name in SIZE_BINS if (bins == name).any()}


def images_by_size(truth_fraction) -> dict[str, int]:
    """The number of images in each `SIZE_BINS` bin, empty bins included."""
    bins = size_bin(truth_fraction)
    return {name: int((bins == name).sum()) for name in SIZE_BINS}


def dice_by_size(
    per_image: pd.DataFrame,
    n_resamples: int = 2000,
    seed: int = 0,
    methods: Methods | None = None,
    group: str | None = None,
) -> pd.DataFrame:
    """One row per (Table 1 method, size bin), every bin listed even when empty: `key`, `method`
    (label), `size_bin`, `n` and the Dice `mean`, `sd`, `ci_low`, `ci_high` (bootstrap) of the
    method's images whose true lesion falls in the bin. `methods`: Table 1's rows
    (`diffseg.evaluation.table.compared_methods`, by default of `per_image`); `group`: a column whose groups
    of images the bootstrap draws whole (`diffseg.evaluation.groups`)."""
    require_columns(per_image, ("id", "method", "dice", "truth_fraction"))
    rows = []
    for key, method, label in methods or compared_methods(per_image):
        scores = per_image[per_image["method"] == method]
        bins = size_bin(scores["truth_fraction"])
        for name in SIZE_BINS:
            in_bin = scores[bins == name]
            rows.append({"key": key, "method": label, "size_bin": name, "n": len(in_bin),
                         **summarise(in_bin["dice"].to_numpy(dtype=float), n_resamples, seed,
                                     group_labels(in_bin, group))})
    return pd.DataFrame(rows, columns=["key", "method", "size_bin", "n", "mean", "sd", "ci_low", "ci_high"])


def dice_by_size_cells(table: pd.DataFrame) -> pd.DataFrame:
    """The size-bin table for display: a row per method, a column per bin (its image count in the
    header), cells `mean [CI]`, with the method's own n where it scored fewer of the bin's images."""
    images = table.groupby("size_bin")["n"].max()
    rows = []
    for label, bins in table.groupby("method", sort=False):
        cells = {"Method": label}
        for row in bins.itertuples():
            cell = "–" if row.n == 0 else f"{row.mean:.3f} [{row.ci_low:.3f}, {row.ci_high:.3f}]"
            own_n = f" (n = {row.n})" if row.n not in (0, images[row.size_bin]) else ""
            cells[f"{row.size_bin} (n = {images[row.size_bin]})"] = cell + own_n
        rows.append(cells)
    return pd.DataFrame(rows)


def dice_by_size_markdown(table: pd.DataFrame, group: str | None = None) -> str:
    """The size-bin table (`dice_by_size`, bootstrapped by `group` if given) as Markdown, with its notes."""
    resampling = f", resampling whole `{group}` groups" if group else ""
    notes = (f"Dice, mean [95 % percentile bootstrap CI of the mean{resampling}], of the images whose true lesion covers "
             "that share of the frame (its mask at original resolution; a share on a bin's edge counts in the "
             "larger bin). Small lesions are usually the hard ones, so a method's mean Dice over a cohort "
             "depends on how many it holds. A bin of one image has a zero-width interval; – : no image in the bin.")
    return _markdown(dice_by_size_cells(table), notes)


def _markdown(cells: pd.DataFrame, notes: str) -> str:
    """A table of display cells as Markdown, followed by its notes as one paragraph."""
    table = markdown_table(list(cells.columns), cells.astype(str).to_numpy().tolist())
    return "\n".join([*table, "", *textwrap.wrap(notes, width=100)]) + "\n"


def covers_frame(pred_fraction) -> bool:
    """Whether masks with these shares of the frame cover most of it: mean share at least
    `FRAME_COVERING_MEAN_SHARE`, or more than `FRAME_COVERING_ALL_LESION` of them all lesion."""
    shares = np.asarray(pred_fraction, dtype=float)
    if not len(shares):
        return False
    return bool(shares.mean() >= FRAME_COVERING_MEAN_SHARE
                or np.mean(shares >= ALL_LESION_SHARE) > FRAME_COVERING_ALL_LESION)


def coverage(pred_fraction) -> dict[str, float]:
    """Of masks with these shares of the frame: their number `n`, the `empty` and `all_lesion` counts,
    the `pred_fraction_mean` and the `covers_frame` flag."""
    shares = np.asarray(pred_fraction, dtype=float)
    return {
        "n": len(shares),
        "empty": int(np.count_nonzero(shares == 0)),
        "all_lesion": int(np.count_nonzero(shares >= ALL_LESION_SHARE)),
        "pred_fraction_mean": float(shares.mean()) if len(shares) else np.nan,
        "covers_frame": covers_frame(shares),
    }


def mask_coverage(per_image: pd.DataFrame, methods: Methods | None = None) -> pd.DataFrame:
    """One row per Table 1 method (`methods`, as for `dice_by_size`): `key`, `method` (label), `n`,
    the counts of its empty and all-lesion masks, their mean share of the frame, the true lesions'
    (`truth_fraction_mean`) and whether its masks cover the frame (`covers_frame`)."""
    require_columns(per_image, ("id", "method", "truth_fraction", "pred_fraction"))
    rows = []
    for key, method, label in methods or compared_methods(per_image):
        scores = per_image[per_image["method"] == method]
        rows.append({"key": key, "method": label, **coverage(scores["pred_fraction"]),
                     "truth_fraction_mean": float(scores["truth_fraction"].mean())})
    return pd.DataFrame(rows, columns=["key", "method", "n", "empty", "all_lesion", "pred_fraction_mean",
                                       "covers_frame", "truth_fraction_mean"])


def mask_coverage_cells(table: pd.DataFrame) -> pd.DataFrame:
    """The mask-coverage table (`mask_coverage`) for display."""
    return pd.DataFrame({
        "Method": table["method"],
        "n": table["n"],
        "Empty masks": table["empty"],
        f"All-lesion masks (≥ {percent(ALL_LESION_SHARE)} of the frame)": table["all_lesion"],
        "Mean share of the frame": table["pred_fraction_mean"].map(lambda share: f"{share:.3f}"),
        "Covers the frame": table["covers_frame"].map({True: "yes", False: "no"}),
    })


def mask_coverage_markdown(table: pd.DataFrame) -> str:
    """The empty and frame-covering masks of each method (`mask_coverage`) as Markdown, with notes."""
    truth = table["truth_fraction_mean"].iloc[0] if len(table) else np.nan
    notes = ("Masks that are failures whatever their Dice: an empty mask finds no lesion on an image that has "
             f"one, and a mask covering ≥ {percent(ALL_LESION_SHARE)} of the frame outlines none (it scores the "
             "Dice of the lesion's share alone). Shares are taken at original resolution. A method's masks "
             f"cover the frame when they {FRAME_COVERING_RULE}. The true lesions cover {truth:.3f} of the frame "
             "on average.")
    return _markdown(mask_coverage_cells(table), notes)


def coverage_cell(row: pd.Series, prefix: str) -> str:
    """`share 0.970; 0 empty, 95 of 98 all-lesion` from the `<prefix>_…` coverage columns of `row`."""
    if not row[f"{prefix}_n"]:
        return "–"
    return (f"share {row[f'{prefix}_pred_fraction_mean']:.3f}; {int(row[f'{prefix}_empty'])} empty, "
            f"{int(row[f'{prefix}_all_lesion'])} of {int(row[f'{prefix}_n'])} all-lesion")


def breakdown_sections(size_bins_md: str | os.PathLike, mask_coverage_md: str | os.PathLike) -> dict[str, str]:
    """The two Markdown files `write_breakdown` writes as document sections (heading → Markdown), to
    follow a document's Table 1."""
    return {heading: Path(path).read_text(encoding="utf-8") for heading, path in
            ((SIZE_BINS_HEADING, size_bins_md), (MASK_COVERAGE_HEADING, mask_coverage_md))}


def write_breakdown(
    per_image: pd.DataFrame,
    outputs,
    n_resamples: int = 2000,
    seed: int = 0,
    methods: Methods | None = None,
    group: str | None = None,
) -> None:
    """The size-bin and mask-coverage tables of `per_image` (rows: `methods`, and `group`, as for
    `dice_by_size`), as CSV and Markdown, to the paths `outputs.size_bins`, `.size_bins_markdown`,
    `.mask_coverage` and `.mask_coverage_markdown` (a Snakemake rule's outputs)."""
    by_size = dice_by_size(per_image, n_resamples, seed, methods, group)
    write_csv(by_size, outputs.size_bins)
    write_text(outputs.size_bins_markdown, dice_by_size_markdown(by_size, group))
    masks = mask_coverage(per_image, methods)
    write_csv(masks, outputs.mask_coverage)
    write_text(outputs.mask_coverage_markdown, mask_coverage_markdown(masks))
