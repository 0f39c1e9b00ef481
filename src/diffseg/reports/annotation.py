"""Batch annotation of an unlabelled cohort: masks, overlays, a table and a page to review first.

The images of a folder are segmented as test images are (noise differences, per-step masks,
regions, DenseCRF fusion). This module adds what a clinic or a study takes away: per image the
lesion area at original size, the GED diversity of the per-step masks as its uncertainty (it needs
no annotation, docs/method.md §4), an overlay to look at, and a review flag with its reasons: the
most uncertain images, and the fused masks that failed outright, being empty (no lesion found on an
image taken for its lesion) or covering (nearly) the whole frame (no lesion outlined); all of them in
one CSV and one HTML page, the flagged images first, each group sorted by uncertainty. The page opens
on the flagged images' thumbnails and the size distribution of the fused masks, built by functions
the run's report reuses for its test images (`diffseg.reports.figures.review_first`).
"""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage

from diffseg.data.cohort import scan_folder
from diffseg.data.images import label_at_original_size, read_mask, read_rgb, write_png
from diffseg.data.maps import read_maps
from diffseg.data.pngs import enlarge
from diffseg.evaluation.breakdown import ALL_LESION_SHARE, images_by_size, percent
from diffseg.method.ged import ged_diversity
from diffseg.method.regions import AMBIGUOUS_RGB, CONSISTENT_RGB, region_overlay
from diffseg.runtime.errors import BadInputError, ConfigError
from diffseg.runtime.logs import progress

PREDICT_SPLIT = "predict"
# Every image of a cohort to annotate is segmented as a lesion image: the shards select label 1.
PREDICT_LABEL = 1
# Overlays are drawn on the original image shrunk to this longest side: enough to judge a border,
# small enough for a page of thousands of thumbnails.
OVERLAY_SIDE = 512
# Overlays of images smaller than this are enlarged (whole factor, nearest neighbour) to be viewable.
OVERLAY_MIN_SIDE = 256
# The fused mask's outline: cyan stands apart from the red consistent and yellow ambiguous regions.
OUTLINE_RGB = np.array([0, 200, 255], dtype=np.uint8)
ANNOTATION_COLUMNS = [
    "id", "height", "width", "area_pixels", "area_fraction", "diversity", "review", "review_reason", "mask",
    "overlay",
]  # fmt: skip
# What annotate_shard measures; combine_annotations adds the review columns.
SHARD_COLUMNS = [c for c in ANNOTATION_COLUMNS if c not in ("review", "review_reason")]
# The reasons an image is flagged for review, in the order `review_reason` lists them.
HIGH_DIVERSITY, EMPTY_MASK, COVERS_FRAME = "high diversity", "empty mask", "covers the frame"


def cohort_name(folder: str | os.PathLike) -> str:
    """The name a cohort's results go under: the folder's name, its parent's when the folder is called
    `images` (as in an ISIC download), with anything but letters, digits, `_`, `.` and `-` replaced."""
    folder = Path(folder).resolve()
    name = folder.parent.name if folder.name.lower() == "images" else folder.name
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def model_image_size(model_dir: str | os.PathLike) -> int:
    """The square input size a saved DDPM was trained at (`sample_size` of its config.json)."""
    config_path = Path(model_dir) / "config.json"
    try:
        size = json.loads(config_path.read_text(encoding="utf-8"))["sample_size"]
    except FileNotFoundError:
        raise BadInputError(model_dir, "no saved model here (config.json is missing)") from None
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise BadInputError(config_path, f"not a saved UNet config with a sample_size ({error})") from error
    if not isinstance(size, int) or size < 1:
        raise BadInputError(config_path, f"sample_size should be a positive integer, found {size!r}")
    return size


def predict_cohort(images_dir: str | os.PathLike) -> pd.DataFrame:
    """The cohort table of a folder of images to annotate: split `predict`, label 1, no masks.

    Masks lying beside the images (an ISIC folder) are ignored, so annotation never sees them.
    """
    cohort = scan_folder(images_dir)
    return cohort.assign(mask_path="", label=PREDICT_LABEL, split=PREDICT_SPLIT)


def fused_outline(mask: np.ndarray, width: int = 1) -> np.ndarray:
    """The inner boundary, `width` pixels thick, of a `(H, W)` bool mask."""
    mask = np.asarray(mask, dtype=bool)
    return mask & ~ndimage.binary_erosion(mask, iterations=width, border_value=0)


def annotation_overlay(
    image: np.ndarray, consistent: np.ndarray, ambiguous: np.ndarray, posterior: np.ndarray
) -> np.ndarray:
    """`image` `(h, w, 3)` uint8 with the model-resolution regions and fused mask drawn on it.

    The consistent region is tinted red, the ambiguous one yellow and the fused mask (the lesion
    posterior labelled at 0.5) outlined in cyan; each map is upsampled bilinearly to the image and
    labelled at 0.5, as the fused mask at original size is, so the three line up with its PNG.
    """
    image_hw = tuple(np.shape(image)[:2])
    sure = label_at_original_size(np.asarray(consistent, dtype=np.float32), image_hw)
    unsure = label_at_original_size(np.asarray(ambiguous, dtype=np.float32), image_hw) & ~sure
    fused = label_at_original_size(posterior, image_hw)
    overlay = region_overlay(image, sure, unsure)
    overlay[fused_outline(fused, width=max(1, max(image_hw) // 256))] = OUTLINE_RGB
    return enlarge(overlay, OVERLAY_MIN_SIDE)


def annotate_shard(
    manifest: pd.DataFrame,
    masks_path: str | os.PathLike,
    regions_path: str | os.PathLike,
    fused_path: str | os.PathLike,
    fused_masks_dir: str | os.PathLike,
    overlays_dir: str | os.PathLike,
    root: str | os.PathLike,
) -> pd.DataFrame:
    """One row per image of a shard (columns `SHARD_COLUMNS`), and its overlay.

    `manifest` is the prepared store's (with `image_path`); the shard's per-step masks, regions and
    CRF posteriors are read from their HDF5 files, and the fused mask from its ISIC-named PNG in
    `fused_masks_dir`, so the area is that of the file a user takes away. Overlays are written to
    `overlays_dir/<id>.png`; the `mask` and `overlay` columns are paths relative to `root`.
    """
    steps = read_maps(masks_path, "masks")
    regions = read_maps(regions_path, "consistent", "ambiguous")
    fused = read_maps(fused_path, "posterior")
    _check_same_images(masks_path, steps["ids"], (regions_path, regions["ids"]), (fused_path, fused["ids"]))
    records = manifest.set_index("id")
    overlays_dir = Path(overlays_dir)
    overlays_dir.mkdir(parents=True, exist_ok=True)  # a directory output even for an empty shard
    rows = []
    for j, image_id in enumerate(progress(steps["ids"], desc="annotate", total=len(steps["ids"]))):
        record = records.loc[image_id]
        original_hw = (int(record["height"]), int(record["width"]))
        mask_path = Path(fused_masks_dir) / f"{image_id}_segmentation.png"
        area = int(read_mask(mask_path, expected_hw=original_hw).sum())
        overlay_path = overlays_dir / f"{image_id}.png"
        overlay = annotation_overlay(
            read_rgb(record["image_path"], max_side=OVERLAY_SIDE),
            regions["consistent"][j],
            regions["ambiguous"][j],
            fused["posterior"][j],
        )
        write_png(overlay_path, overlay)
        rows.append(
            {
                "id": image_id,
                "height": original_hw[0],
                "width": original_hw[1],
                "area_pixels": area,
                "area_fraction": area / (original_hw[0] * original_hw[1]),
                "diversity": ged_diversity(steps["masks"][j].astype(bool)),
                "mask": os.path.relpath(mask_path, root),
                "overlay": os.path.relpath(overlay_path, root),
            }
        )
    return pd.DataFrame(rows, columns=SHARD_COLUMNS)


def review_cutoff(diversity: Sequence[float], quantile: float, cutoff: float | None = None) -> float:
    """The GED diversity above which an image is flagged: `cutoff` if given, else that quantile of the cohort's."""
    if cutoff is not None:
        if not 0 <= cutoff <= 1:
            raise ConfigError(f"annotate.review_cutoff must lie in [0, 1] (a GED diversity), got {cutoff!r}")
        return float(cutoff)
    if not 0 <= quantile <= 1:
        raise ConfigError(f"annotate.review_quantile must lie in [0, 1], got {quantile!r}")
    diversity = np.asarray(diversity, dtype=np.float64)
    return float(np.quantile(diversity, quantile)) if len(diversity) else 1.0


def flag_reasons(diversity, mask_share, cutoff: float) -> list[str]:
    """Why each image is to be reviewed, `; `-joined (empty: no reason): its GED diversity is above
    `cutoff`, its fused mask (covering `mask_share` of the frame) is empty, or it covers ≥
    `ALL_LESION_SHARE` of the frame. The one rule of both the annotation and the run's report."""
    diversity, share = np.asarray(diversity, dtype=float), np.asarray(mask_share, dtype=float)
    reasons = {HIGH_DIVERSITY: diversity > cutoff, EMPTY_MASK: share == 0, COVERS_FRAME: share >= ALL_LESION_SHARE}
    return ["; ".join(name for name, flagged in reasons.items() if flagged[i]) for i in range(len(share))]


def review_reasons(table: pd.DataFrame, cutoff: float) -> pd.Series:
    """`flag_reasons` of each row of an annotation table (its `diversity` and `area_fraction`)."""
    return pd.Series(flag_reasons(table["diversity"], table["area_fraction"], cutoff), index=table.index, dtype=object)


def review_order(table: pd.DataFrame) -> pd.DataFrame:
    """`table` (with `review`, `diversity`, `id`) with the flagged first, each group most uncertain first."""
    return table.sort_values(["review", "diversity", "id"], ascending=[False, False, True], ignore_index=True)


def combine_annotations(
    tables: Sequence[pd.DataFrame], quantile: float, cutoff: float | None = None
) -> tuple[pd.DataFrame, float]:
    """All shards' rows with their review flag and reasons (`review_reasons`), the flagged first and
    each group most uncertain first; and the diversity cutoff used."""
    table = pd.concat(list(tables), ignore_index=True) if tables else pd.DataFrame(columns=SHARD_COLUMNS)
    if table["id"].duplicated().any():
        raise ValueError(f"images annotated twice: {sorted(table.loc[table['id'].duplicated(), 'id'])[:5]}")
    used = review_cutoff(table["diversity"], quantile, cutoff)
    table["review_reason"] = review_reasons(table, used)
    table["review"] = table["review_reason"] != ""
    return review_order(table)[ANNOTATION_COLUMNS], used


# A page opens on at most this many flagged images (four rows of thumbnails on a laptop screen, a
# page that loads at once); the rest are counted there and listed, flagged first, in the table below.
REVIEW_FIRST_LIMIT = 48
# The size-distribution row of the masks with no lesion pixel, before the `SIZE_BINS` of the others.
EMPTY_BIN = "empty"
# The flagged images' tint (their cards and table rows) and the bars' colour, which a screenshot test looks for.
REVIEW_TINT = "#ffe3a3"
BAR_COLOUR = "#3b6fb6"
# The review-first cards and the bar chart, on the annotation's summary and the run's review-first page.
REVIEW_STYLE = f"""
.cards {{ display: flex; flex-wrap: wrap; gap: 10px; }}
.card {{ background: {REVIEW_TINT}; margin: 0; padding: 6px; width: 160px; font-size: 13px; }}
.card img {{ width: 160px; height: auto; display: block; }}
.card .id {{ font-family: monospace; word-break: break-all; }}
table.bars td {{ border: 0; padding: 2px 8px; text-align: left; }}
table.bars td.count {{ text-align: right; }}
.bar {{ background: {BAR_COLOUR}; height: 16px; }}
"""
_PAGE_STYLE = f"""
body {{ font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }}
table {{ border-collapse: collapse; }}
th, td {{ border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: right; vertical-align: middle; }}
th {{ background: #f3f3f3; position: sticky; top: 0; }}
td.id {{ text-align: left; font-family: monospace; }}
tr.review {{ background: {REVIEW_TINT}; }}
img {{ width: 192px; height: auto; display: block; }}
.swatch {{ display: inline-block; width: 0.9em; height: 0.9em; vertical-align: middle; }}
{REVIEW_STYLE}"""
# The widest bar of a chart, in CSS pixels.
BAR_PIXELS = 280


def mask_size_counts(mask_share) -> dict[str, int]:
    """Images by the share of the frame their mask covers: `EMPTY_BIN` (no lesion pixel), then each
    `SIZE_BINS` bin of the others (`diffseg.evaluation.breakdown.images_by_size`)."""
    share = np.asarray(mask_share, dtype=float)
    return {EMPTY_BIN: int(np.count_nonzero(share == 0)), **images_by_size(share[share > 0])}


def size_bars_html(counts: dict[str, int], notes: dict[str, str] | None = None) -> str:
    """A bar chart in CSS (no script, no file): a row per bin of `counts`, its bar, its count and its
    share of all the images, and `notes[bin]` (e.g. the bin's Dice) beside it."""
    total, widest = sum(counts.values()), max(counts.values(), default=0)
    rows = []
    for name, count in counts.items():
        width = round(BAR_PIXELS * count / widest) if widest else 0
        share = f"{100 * count / total:.0f} %" if total else "–"
        note = html.escape((notes or {}).get(name, ""))
        rows.append(f'<tr><td class="bin">{html.escape(name)}</td><td><div class="bar" style="width: {width}px">'
                    f'</div></td><td class="count">{count} ({share})</td><td>{note}</td></tr>')
    return '<table class="bars">\n' + "\n".join(rows) + "\n</table>"


def review_cards_html(flagged: pd.DataFrame, limit: int = REVIEW_FIRST_LIMIT) -> str:
    """A card per flagged image, in `flagged`'s order, the first `limit` of them: its thumbnail
    (`thumbnail`: a path or a data URI), `id`, `review_reason`, `diversity` and lesion area
    (`area_fraction`), and its `dice` where the table has one; then how many more there are."""
    cards = []
    for row in flagged.head(limit).itertuples(index=False):
        source, image_id = html.escape(str(row.thumbnail), quote=True), html.escape(str(row.id))
        facts = f"GED diversity {row.diversity:.3f}<br>lesion area {100 * row.area_fraction:.1f} %"
        facts += f"<br>Dice {row.dice:.3f}" if hasattr(row, "dice") else ""
        image = f'<img src="{source}" alt="overlay of {image_id}">'
        if not source.startswith("data:"):  # a file opens at full size; a data URI is all there is
            image = f'<a href="{source}">{image}</a>'
        cards.append(f'<figure class="card">{image}'
                     f'<figcaption><span class="id">{image_id}</span><br>{html.escape(str(row.review_reason))}'
                     f"<br>{facts}</figcaption></figure>")
    if not cards:
        return "<p>No image is flagged for review.</p>"
    more = len(flagged) - len(cards)
    rest = f"<p>… and {more} more flagged images, listed below.</p>" if more > 0 else ""
    return '<div class="cards">\n' + "\n".join(cards) + "\n</div>" + rest


def review_counts(table: pd.DataFrame, cutoff: float, cutoff_rule: str) -> str:
    """`12 images, 3 flagged for review: …` (HTML-escaped): how many images each reason flags."""
    counts = {reason: int(table["review_reason"].str.contains(reason, regex=False).sum())
              for reason in (HIGH_DIVERSITY, EMPTY_MASK, COVERS_FRAME)}
    return (f"{len(table)} images, {int(table['review'].sum())} flagged for review: {counts[HIGH_DIVERSITY]} with a "
            f"GED diversity above {cutoff:.3f} ({html.escape(cutoff_rule)}), {counts[EMPTY_MASK]} with an empty mask "
            f"(no lesion found) and {counts[COVERS_FRAME]} with a mask covering ≥ {percent(ALL_LESION_SHARE)} of the "
            "frame (no lesion outlined).")


def overlay_legend_html() -> str:
    """The colours of an overlay (`annotation_overlay`), as swatches."""
    return " ".join(
        f'<span class="swatch" style="background: rgb{tuple(int(c) for c in rgb)}"></span> {html.escape(name)}'
        for name, rgb in (
            ("consistent (every step marks lesion)", tuple(CONSISTENT_RGB)),
            ("ambiguous (the steps disagree)", tuple(AMBIGUOUS_RGB)),
            ("fused mask outline", tuple(OUTLINE_RGB)),
        )
    )


def summary_html(
    table: pd.DataFrame, title: str, cutoff: float, cutoff_rule: str, notes: Sequence[str] = ()
) -> str:
    """A self-contained page (inline style, no scripts): the flagged images to review first and the
    size distribution of the fused masks, then the whole of `table` in its order, flagged rows highlighted.

    Thumbnails and masks are linked by the table's relative paths, so the page works wherever the
    annotation folder is moved and stays small for cohorts of thousands of images.
    """
    header = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{review_counts(table, cutoff, cutoff_rule)} Flagged images first, each group most uncertain first.</p>",
        *(f"<p>{html.escape(note)}</p>" for note in notes),
        f"<p>{overlay_legend_html()}</p>",
    ]
    flagged = table[table["review"]]
    review_first = [
        '<section id="review-first"><h2>Review first</h2>',
        review_cards_html(flagged.assign(thumbnail=flagged["overlay"])),
        "</section>",
        '<section id="mask-sizes"><h2>Size of the fused masks</h2>',
        "<p>Images by the share of the frame their fused mask covers (at original size).</p>",
        size_bars_html(mask_size_counts(table["area_fraction"])),
        '</section>\n<h2 id="all-images">All images</h2>',
    ]
    rows = [
        "<tr><th>#</th><th>overlay</th><th>id</th><th>size (H×W)</th><th>lesion area (px)</th>"
        "<th>lesion fraction</th><th>GED diversity</th><th>review: why</th><th>mask</th></tr>"
    ]
    rows += [_table_row(rank, row) for rank, row in enumerate(table.itertuples(index=False), start=1)]
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_PAGE_STYLE}</style></head><body>\n"
        + "\n".join(header + review_first)
        + "\n<table>\n"
        + "\n".join(rows)
        + "\n</table>\n</body></html>\n"
    )


def _table_row(rank: int, row) -> str:
    """One `<tr>` of the summary: rank, linked overlay thumbnail, id, size, area, diversity, flag, mask."""
    overlay, mask = html.escape(str(row.overlay), quote=True), html.escape(str(row.mask), quote=True)
    image_id = html.escape(str(row.id))
    row_class = ' class="review"' if row.review else ""
    cells = [
        str(rank),
        f'<a href="{overlay}"><img src="{overlay}" loading="lazy" alt="overlay of {image_id}"></a>',
        image_id,
        f"{row.height}×{row.width}",
        str(row.area_pixels),
        f"{row.area_fraction:.3f}",
        f"{row.diversity:.3f}",
        html.escape(row.review_reason),
        f'<a href="{mask}">PNG</a>',
    ]
    tds = "".join(
        f'<td class="id">{cell}</td>' if i == 2 else f"<td>{cell}</td>" for i, cell in enumerate(cells)
    )
    return f"<tr{row_class}>{tds}</tr>"


def _check_same_images(masks_path, ids: np.ndarray, *others: tuple[str | os.PathLike, np.ndarray]) -> None:
    """Every per-shard file of one shard must list the same images in the same order."""
    for path, other in others:
        if list(other) != list(ids):
            raise BadInputError(path, f"holds other images than {masks_path}; delete both to regenerate")
