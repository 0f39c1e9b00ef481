"""Table 1 and Dice by lesion size again on named subsets of the test images (`dataset.folder.splits.subsets`).

A test split is only a fair test of the images that informed no choice. ISIC 2017's validation split
holds the 98 images of `isic2017_sample`, on which settings were tuned before the benchmark existed:
its manifest column `in_isic2017_sample98` tells them (1, seen) from the 52 never used for any choice
(0, unseen). Each subset gets its own Table 1, with its own paired tests and Holm adjustment, and its
own size bins, so a claim can name the images it rests on.

`subsets` maps a column kept beside the scores (dataset.folder.splits.keep) to {value: what the images
of that value are}; values are compared as text, so `1` in the YAML matches a manifest's `1`.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from diffseg.evaluation.breakdown import dice_by_size, dice_by_size_markdown
from diffseg.evaluation.table import compared_methods, table1, table1_markdown, uncertainty_correlation
from diffseg.runtime.errors import ConfigError

Subsets = Mapping[str, Mapping[str, str]]


def subset_scores(per_image: pd.DataFrame, column: str, value) -> pd.DataFrame:
    """The scores of the images whose `column` reads `value` (compared as text)."""
    if column not in per_image:
        raise ConfigError(
            f"dataset.folder.splits.subsets names the column {column!r}, which the scores lack: add it "
            "to dataset.folder.splits.keep"
        )
    values = per_image[column]
    if pd.api.types.is_float_dtype(values) and (values.dropna() % 1 == 0).all():
        values = values.astype("Int64")  # a 0/1 column read back with a gap is float: 1.0 is still "1"
    return per_image[values.astype(str) == str(value)]


def subset_heading(column: str, value, description: str, images: int) -> str:
    # Level 4: the section holding the subsets sits at level 2 (run document) or 3 (benchmark).
    return f"#### {description} (`{column}` = {value}, {images} images)"


def subsets_markdown(
    per_image: pd.DataFrame,
    subsets: Subsets,
    ged: pd.DataFrame,
    n_resamples: int = 2000,
    seed: int = 0,
    dev_scores: pd.DataFrame | None = None,
    group: str | None = None,
) -> str:
    """For each subset: its heading, its Table 1 (best single step as the whole table's, chosen on
    `dev_scores`) and its Dice by lesion size; empty text without subsets. A subset with no scored
    image says so instead of a table."""
    parts = []
    for column, values in subsets.items():
        for value, description in values.items():
            scores = subset_scores(per_image, column, value)
            images = scores["id"].nunique()
            parts += [subset_heading(column, value, description, images), ""]
            if not images:
                parts += ["No test image has this value.", ""]
                continue
            table = table1(scores, n_resamples=n_resamples, seed=seed, dev_scores=dev_scores, group=group)
            parts += [table1_markdown(table, uncertainty_correlation(scores, ged)).rstrip(), ""]
            by_size = dice_by_size(scores, n_resamples, seed, compared_methods(scores, dev_scores), group)
            parts += ["Dice by the true lesion's share of the frame:", "",
                      dice_by_size_markdown(by_size, group).rstrip(), ""]
    return "\n".join(parts)


SUBSETS_HEADING = "Table 1 on subsets of the test images"


def subsets_section(text: str) -> dict[str, str]:
    """The subsets' Markdown as a document section (heading → Markdown); none without subsets."""
    return {SUBSETS_HEADING: text} if text.strip() else {}
