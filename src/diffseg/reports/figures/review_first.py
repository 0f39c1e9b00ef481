"""The report's first page: the run's test images to review first, and the size of its test lesions.

An image is flagged by the annotation's own rule (`diffseg.reports.annotation.flag_reasons`) applied
to its fused DiffSeg + DenseCRF mask: a GED diversity above the cutoff (annotate.review_quantile of
the test images, or annotate.review_cutoff), an empty mask, or one covering ≥ 90 % of the frame. The
page is one HTML file with its thumbnails inside (the report shows it in a frame, with no folder
beside it), so it shows at most `REVIEW_FIRST_LIMIT` thumbnails and lists every flagged image below.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping

import pandas as pd
from PIL import Image

from diffseg.evaluation.breakdown import images_by_size
from diffseg.evaluation.table import LABELS, REFERENCE
from diffseg.reports.annotation import (
    REVIEW_FIRST_LIMIT,
    REVIEW_STYLE,
    annotation_overlay,
    flag_reasons,
    mask_size_counts,
    overlay_legend_html,
    review_cards_html,
    review_counts,
    review_cutoff,
    review_order,
    size_bars_html,
)
from diffseg.reports.figures.shard_maps import ShardMaps
from diffseg.runtime.errors import BadInputError

# JPEG keeps four dozen thumbnails inside one page (and the report, which embeds it again) small.
THUMBNAIL_QUALITY = 85
STYLE = f"""
body {{ font-family: system-ui, sans-serif; font-size: 14px; margin: 1em; color: #222; }}
table {{ border-collapse: collapse; }}
th, td {{ border-bottom: 1px solid #ddd; padding: 3px 8px; text-align: right; }}
th.id, td.id {{ text-align: left; font-family: monospace; }}
.swatch {{ display: inline-block; width: 0.9em; height: 0.9em; vertical-align: middle; }}
{REVIEW_STYLE}"""
REVIEW_TABLE_COLUMNS = ["id", "dice", "diversity", "area_fraction", "truth_fraction", "review", "review_reason"]


def review_table(
    scores: pd.DataFrame, ged: pd.DataFrame, quantile: float, cutoff: float | None = None
) -> tuple[pd.DataFrame, float]:
    """One row per test image of the fused method (`REFERENCE`) in `scores`: its `dice`, GED
    `diversity` (from `ged`), the share of the frame its mask (`area_fraction`) and the expert's
    (`truth_fraction`) cover, its review flag and reasons; flagged first, each group most uncertain
    first (`annotation.review_order`). Returns it and the diversity cutoff used."""
    fused = scores.loc[scores["method"] == REFERENCE, ["id", "dice", "pred_fraction", "truth_fraction"]]
    if fused.empty:
        raise ValueError(f"the scores hold no image of method {REFERENCE!r}")
    table = fused.merge(ged[["id", "diversity"]], on="id", how="left")
    if table["diversity"].isna().any():
        missing = ", ".join(table.loc[table["diversity"].isna(), "id"].astype(str)[:5])
        raise BadInputError("uncertainty/ged.csv", f"has no GED diversity of test image(s) {missing}")
    table = table.rename(columns={"pred_fraction": "area_fraction"})
    used = review_cutoff(table["diversity"], quantile, cutoff)
    table["review_reason"] = flag_reasons(table["diversity"], table["area_fraction"], used)
    table["review"] = table["review_reason"] != ""
    return review_order(table)[REVIEW_TABLE_COLUMNS], used


def thumbnail_uri(maps: ShardMaps) -> str:
    """The annotation overlay (`annotation.annotation_overlay`) of one test image, as a JPEG data URI."""
    overlay = annotation_overlay(maps.image, maps.consistent, maps.ambiguous, maps.posterior)
    buffer = io.BytesIO()
    Image.fromarray(overlay).save(buffer, format="JPEG", quality=THUMBNAIL_QUALITY)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def dice_notes(by_size: pd.DataFrame, method: str = REFERENCE) -> dict[str, str]:
    """`Dice 0.812 [0.750, 0.860]` of `method` per size bin of the size-bin table (`size_bins.csv`)."""
    rows = by_size[by_size["key"] == method]
    return {row.size_bin: f"Dice {row.mean:.3f} [{row.ci_low:.3f}, {row.ci_high:.3f}]" if row.n else "no image"
            for row in rows.itertuples(index=False)}


def review_first_html(
    table: pd.DataFrame, thumbnails: Mapping[str, str], by_size: pd.DataFrame, cutoff: float, cutoff_rule: str
) -> str:
    """The page: the flagged images of `review_table` (`thumbnails[id]`: a data URI for each of the
    first `REVIEW_FIRST_LIMIT`, `flagged_first`), the test lesions by
    size with the fused method's Dice per bin (`by_size`: size_bins.csv), the fused masks' sizes and
    a table of every flagged image."""
    flagged = table[table["review"]]
    method = html.escape(LABELS[REFERENCE])
    rows = ['<tr><th>#</th><th class="id">id</th><th>review: why</th><th>Dice</th><th>GED diversity</th>'
            "<th>mask share</th><th>expert lesion share</th></tr>"]
    rows += [f'<tr><td>{rank}</td><td class="id">{html.escape(str(row.id))}</td>'
             f"<td>{html.escape(row.review_reason)}</td><td>{row.dice:.3f}</td><td>{row.diversity:.3f}</td>"
             f"<td>{row.area_fraction:.3f}</td><td>{row.truth_fraction:.3f}</td></tr>"
             for rank, row in enumerate(flagged.itertuples(index=False), start=1)]
    body = [
        f"<h1>Test images to review first ({method})</h1>",
        f"<p>{review_counts(table, cutoff, cutoff_rule)} The same rule flags the images of an annotation "
        "(<code>snakemake annotate</code>). Most uncertain first.</p>",
        f"<p>{overlay_legend_html()}</p>",
        '<section id="review-first"><h2>Review first</h2>',
        review_cards_html(flagged.assign(thumbnail=flagged["id"].map(thumbnails)), limit=REVIEW_FIRST_LIMIT),
        "</section>",
        '<section id="lesion-sizes"><h2>Test lesions by size</h2>',
        f"<p>Test images by the share of the frame the expert's lesion covers, with the Dice of {method} "
        "in each bin (mean [95 % bootstrap CI], at original resolution).</p>",
        size_bars_html(images_by_size(table["truth_fraction"]), dice_notes(by_size)),
        "</section>",
        f'<section id="mask-sizes"><h2>Size of the {method} masks</h2>',
        size_bars_html(mask_size_counts(table["area_fraction"])),
        "</section>",
        f'<h2 id="flagged">Every flagged image ({len(flagged)})</h2>',
        "<table>", *rows, "</table>",
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Test images to review first</title>'
        f"<style>{STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def flagged_first(table: pd.DataFrame, limit: int = REVIEW_FIRST_LIMIT) -> list[str]:
    """The ids of the flagged images of `review_table` the page shows a thumbnail of."""
    return [str(image_id) for image_id in table.loc[table["review"], "id"].head(limit)]
