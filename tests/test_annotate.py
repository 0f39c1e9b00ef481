"""Batch annotation of an unlabelled cohort: table rows, review flags, the summary page, the `annotate` target."""

from __future__ import annotations

import re

import h5py
import numpy as np
import pandas as pd
import pytest
import yaml

from diffseg.data.images import label_at_original_size, read_rgb, resize_rgb, write_png
from diffseg.data.maps import write_maps
from diffseg.data.pngs import write_fused_masks
from diffseg.evaluation.breakdown import SIZE_BINS
from diffseg.method.ged import ged_diversity
from diffseg.method.regions import CONSISTENT_RGB, regions_shard
from diffseg.reports.annotation import (
    ANNOTATION_COLUMNS,
    EMPTY_BIN,
    OUTLINE_RGB,
    REVIEW_FIRST_LIMIT,
    REVIEW_STYLE,
    annotate_shard,
    annotation_overlay,
    combine_annotations,
    flag_reasons,
    mask_size_counts,
    model_image_size,
    predict_cohort,
    review_cutoff,
    review_reasons,
    summary_html,
)
from diffseg.runtime.errors import BadInputError, ConfigError

from conftest import run_snakemake


def _write_images(folder, shapes: dict[str, tuple[int, int]]) -> None:
    rng = np.random.default_rng(0)
    for image_id, (height, width) in shapes.items():
        write_png(folder / f"{image_id}.png", rng.integers(0, 255, (height, width, 3), dtype=np.uint8))


def test_predict_cohort_marks_every_image_for_prediction_and_ignores_masks(tmp_path):
    _write_images(tmp_path / "images", {"a": (8, 8), "b": (8, 8)})
    write_png(tmp_path / "masks" / "a_segmentation.png", np.ones((8, 8), bool))
    cohort = predict_cohort(tmp_path / "images")
    assert list(cohort["id"]) == ["a", "b"]
    assert set(cohort["split"]) == {"predict"} and set(cohort["label"]) == {1}
    assert set(cohort["mask_path"]) == {""}


def test_model_image_size_reads_the_saved_config_and_names_a_missing_model(tmp_path):
    (tmp_path / "config.json").write_text('{"sample_size": 32}')
    assert model_image_size(tmp_path) == 32
    with pytest.raises(BadInputError, match="config.json is missing"):
        model_image_size(tmp_path / "nowhere")


@pytest.fixture
def annotated_shard(tmp_path):
    """A two-image shard: `same` has identical per-step masks, `mixed` disagreeing ones."""
    size, shapes = 16, {"same": (40, 60), "mixed": (30, 30)}
    _write_images(tmp_path / "images", shapes)
    steps = np.zeros((2, 3, size, size), np.uint8)  # (n, S, H, W)
    steps[0, :, 4:12, 4:12] = 1
    steps[1, 0, 2:8, 2:8], steps[1, 1, 2:14, 2:14], steps[1, 2, 8:14, 8:14] = 1, 1, 1
    index, ids = np.array([0, 1]), ["same", "mixed"]
    write_maps(tmp_path / "steps.h5", index, ids, masks=steps)
    with h5py.File(tmp_path / "steps.h5", "a") as h5:  # the per-step layout of diffseg.method.threshold
        h5["steps"] = np.array([60, 100, 150])
    regions_shard(tmp_path / "steps.h5", tmp_path / "regions.h5")
    posterior = steps.mean(axis=1, dtype=np.float32)
    write_maps(tmp_path / "crf.h5", index, ids, posterior=posterior)
    write_fused_masks(tmp_path / "crf.h5", lambda p: shapes[ids[p]], tmp_path / "out" / "masks")
    manifest = pd.DataFrame(
        {
            "position": index,
            "id": ids,
            "height": [h for h, _ in shapes.values()],
            "width": [w for _, w in shapes.values()],
            "image_path": [str(tmp_path / "images" / f"{i}.png") for i in ids],
        }
    )
    table = annotate_shard(
        manifest, tmp_path / "steps.h5", tmp_path / "regions.h5", tmp_path / "crf.h5",
        tmp_path / "out" / "masks", tmp_path / "out" / "overlays", tmp_path / "out",
    )  # fmt: skip
    return table.set_index("id"), steps, posterior, shapes, tmp_path / "out"


def test_annotation_rows_hold_area_at_original_size_and_diversity(annotated_shard):
    table, steps, posterior, shapes, root = annotated_shard
    for j, image_id in enumerate(["same", "mixed"]):
        row = table.loc[image_id]
        expected_area = int(label_at_original_size(posterior[j], shapes[image_id]).sum())
        assert (row["height"], row["width"]) == shapes[image_id]
        assert row["area_pixels"] == expected_area > 0
        assert row["area_fraction"] == pytest.approx(expected_area / np.prod(shapes[image_id]))
        assert row["diversity"] == pytest.approx(ged_diversity(steps[j].astype(bool)))
        assert row["mask"] == f"masks/{image_id}_segmentation.png"
        assert (root / row["overlay"]).is_file()
    assert table.loc["same", "diversity"] == 0.0 < table.loc["mixed", "diversity"]


def test_overlays_keep_the_image_aspect_at_a_viewable_size(annotated_shard):
    table, *_, root = annotated_shard
    assert read_rgb(root / table.loc["same", "overlay"]).shape == (40 * 5, 60 * 5, 3)  # enlarged x5 to ≥ 256
    assert read_rgb(root / table.loc["mixed", "overlay"]).shape == (270, 270, 3)


def test_overlay_tints_the_consistent_region_and_outlines_the_fused_mask():
    image = np.full((64, 64, 3), 128, np.uint8)
    region = np.zeros((16, 16), bool)
    region[4:12, 4:12] = True
    overlay = annotation_overlay(image, region, np.zeros_like(region), region.astype(np.float32))
    overlay = overlay[::4, ::4]  # undo the whole-factor enlargement to 256 px
    assert (overlay[32, 32] == (np.array([128, 128, 128]) + CONSISTENT_RGB) // 2).all()
    assert (overlay[16, 32] == OUTLINE_RGB).all()  # the top edge of the upsampled square
    assert (overlay[2, 2] == 128).all()


def _table(diversities: dict[str, float], areas: dict[str, int] | None = None) -> pd.DataFrame:
    """Shard rows of 10 × 10 images whose masks cover 5 pixels, or `areas[id]`."""
    ids = list(diversities)
    area = [(areas or {}).get(i, 5) for i in ids]
    return pd.DataFrame(
        {
            "id": ids, "height": 10, "width": 10, "area_pixels": area, "area_fraction": np.array(area) / 100,
            "diversity": list(diversities.values()),
            "mask": [f"masks/{i}_segmentation.png" for i in ids], "overlay": [f"overlays/{i}.png" for i in ids],
        }
    )  # fmt: skip


def test_review_flags_the_images_above_the_quantile_or_the_fixed_cutoff():
    shards = [_table({"a": 0.1, "b": 0.5}), _table({"c": 0.3, "d": 0.9, "e": 0.2})]
    table, cutoff = combine_annotations(shards, quantile=0.8)
    assert cutoff == pytest.approx(np.quantile([0.1, 0.5, 0.3, 0.9, 0.2], 0.8))
    assert list(table["id"]) == ["d", "b", "c", "e", "a"]  # most uncertain first
    assert list(table.loc[table["review"], "id"]) == ["d"]
    assert list(table["review_reason"]) == ["high diversity", "", "", "", ""]
    assert list(table.columns) == ANNOTATION_COLUMNS
    table, cutoff = combine_annotations(shards, quantile=0.8, cutoff=0.25)
    assert cutoff == 0.25 and list(table.loc[table["review"], "id"]) == ["d", "b", "c"]


def test_empty_and_frame_covering_masks_are_flagged_with_their_reason_and_listed_first():
    # Image e found nothing and a covers 95 of 100 pixels: both failed, however certain the steps were.
    shards = [_table({"a": 0.1, "b": 0.5}, {"a": 95}), _table({"c": 0.3, "d": 0.9, "e": 0.2}, {"e": 0, "d": 0})]
    table, _ = combine_annotations(shards, quantile=0.8)
    assert list(table["id"]) == ["d", "e", "a", "b", "c"]  # flagged first, each group most uncertain first
    assert list(table["review"]) == [True, True, True, False, False]
    assert list(table["review_reason"]) == ["high diversity; empty mask", "empty mask", "covers the frame", "", ""]
    page = summary_html(table, "cohort", 0.8, "the 0.8 quantile")
    assert ("5 images, 3 flagged for review: 1 with a GED diversity above 0.800 (the 0.8 quantile), 2 with an "
            "empty mask (no lesion found) and 1 with a mask covering ≥ 90 % of the frame") in page
    assert "<td>high diversity; empty mask</td>" in page and "<td>covers the frame</td>" in page


def test_review_settings_out_of_range_and_duplicate_images_are_errors():
    with pytest.raises(ConfigError, match="review_quantile"):
        review_cutoff([0.1], quantile=1.5)
    with pytest.raises(ConfigError, match="review_cutoff"):
        review_cutoff([0.1], quantile=0.8, cutoff=-0.1)
    with pytest.raises(ValueError, match="annotated twice"):
        combine_annotations([_table({"a": 0.1}), _table({"a": 0.2})], quantile=0.8)


def test_summary_lists_every_image_most_uncertain_first_and_highlights_flagged_rows():
    table, cutoff = combine_annotations([_table({"x<1>": 0.1, "y": 0.7, "z": 0.4})], quantile=0.5)
    page = summary_html(table, "cohort", cutoff, "median")
    rows = re.findall(r"<tr( class=\"review\")?><td>\d+</td>.*?<td class=\"id\">(.*?)</td>", page)
    assert [image_id for _, image_id in rows] == ["y", "z", "x&lt;1&gt;"]  # ids escaped, sorted
    assert [bool(flag) for flag, _ in rows] == [True, False, False]
    assert 'src="overlays/y.png"' in page and 'href="masks/y_segmentation.png"' in page


def test_annotate_target_writes_masks_overlays_table_and_summary(tmp_path):
    """`snakemake annotate` on six unlabelled images with a model trained here for a few steps."""
    from diffseg.data.synthetic import write_synthetic_cohort
    from diffseg.method.training import NetworkSpec, TrainingPaths, TrainSettings, train_ddpm

    cohort = write_synthetic_cohort(tmp_path / "clinic", n_lesion=6, n_healthy=0, size=48, seed=1)
    images = np.stack([resize_rgb(read_rgb(path), 32) for path in cohort["image_path"]])
    settings = TrainSettings(steps=3, batch_size=4, checkpoint_every=3)
    train_ddpm(images, np.ones(6, np.int64), TrainingPaths(tmp_path / "train", tmp_path / "model", tmp_path / "loss.csv"),
               settings, NetworkSpec("tiny", 32, "cpu"))  # fmt: skip
    # A thumbnail among them is below dataset.min_side, as in `prepare`: left out and listed.
    write_png(tmp_path / "clinic" / "images" / "thumb.png", images[0, :16, :16])
    config = {
        "dataset": {"on_bad_image": "skip"},
        "model": {"checkpoint": str(tmp_path / "model")},
        "extraction": {"steps": [60, 150], "draws": 1, "examples": 1},
        "annotate": {"cohort": str(tmp_path / "clinic" / "images"), "shard_size": 4},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = run_snakemake(tmp_path, "annotate")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]

    out = tmp_path / "results" / "annotate" / "clinic"
    skipped = pd.read_csv(out / "prepared" / "skipped.csv")
    assert list(skipped["id"]) == ["thumb"] and "below dataset.min_side (32 px)" in skipped.loc[0, "reason"]
    table = pd.read_csv(out / "annotations.csv", dtype={"id": str})
    assert sorted(table["id"]) == sorted(cohort["id"])
    reasons = table["review_reason"].fillna("")
    assert (table["review"] == (reasons != "")).all()
    assert reasons.str.contains("high diversity").sum() == (table["diversity"] > table["diversity"].quantile(0.8)).sum()
    assert (reasons.str.contains("empty mask") == (table["area_pixels"] == 0)).all()
    for group in (table[table["review"]], table[~table["review"]]):  # the flagged first, most uncertain first
        assert group["diversity"].is_monotonic_decreasing
    assert table["review"].is_monotonic_decreasing
    for row in table.itertuples():
        assert read_rgb(out / row.mask).shape[:2] == (48, 48)  # the original size
        assert read_rgb(out / row.overlay).shape == (288, 288, 3)
    page = (out / "summary.html").read_text()
    assert all(image_id in page for image_id in table["id"])

    # Resume after an interruption in the last shard: only that shard's table and the summary are redone.
    for lost in ("annotation/shard-0001.csv", "annotations.csv", "summary.html"):
        (out / lost).unlink()
    dry = run_snakemake(tmp_path, "annotate", "-n")
    assert dry.returncode == 0, dry.stderr[-4000:]
    jobs = dict(re.findall(r"^(annotate\w*)\s+(\d+)$", dry.stdout, flags=re.MULTILINE))
    assert jobs == {"annotate_shard": "1", "annotate_summary": "1", "annotate": "1"}, dry.stdout[-3000:]


def test_summary_opens_on_the_flagged_images_and_the_size_distribution_before_the_full_table():
    table, cutoff = combine_annotations([_table({"a": 0.1, "b": 0.9, "c": 0.3}, {"a": 0, "b": 60, "c": 20})],
                                        quantile=0.5)
    page = summary_html(table, "cohort", cutoff, "median")
    review, sizes, everything = (page.index(heading) for heading in
                                 ("Review first</h2>", "Size of the fused masks</h2>", 'id="all-images"'))
    assert review < sizes < everything
    cards = page[review:sizes]
    assert 'src="overlays/b.png"' in cards and 'src="overlays/a.png"' in cards  # b and a are flagged
    assert 'src="overlays/c.png"' not in cards  # c is not
    bars = dict(re.findall(r'<td class="bin">(.*?)</td>.*?<td class="count">(\d+) ', page[sizes:everything]))
    assert bars == {"empty": "1", "&lt; 10 %": "0", "10–25 %": "1", "25–50 %": "0", "≥ 50 %": "1"}


def test_summary_page_shows_its_flagged_thumbnails_and_bars_on_the_first_screen_in_headless_chromium(tmp_path):
    """The page as a user's browser draws it: the first 1280 × 900 screen holds the tinted cards of the
    flagged images (their overlay thumbnails inside) and the bars of the size distribution."""
    import shutil
    import subprocess

    from PIL import Image

    from diffseg.reports.annotation import BAR_COLOUR, REVIEW_TINT

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("Debian's `chromium` is not installed, so the page cannot be rendered headless here")
    shares = {f"i{k}": area for k, area in enumerate([0, 3, 15, 40, 70, 5])}
    table, cutoff = combine_annotations([_table({image: 0.1 * (k + 1) for k, image in enumerate(shares)}, shares)],
                                        quantile=0.8)
    overlay_rgb = (200, 30, 30)  # a colour nothing else on the page has
    for image in table["id"]:
        write_png(tmp_path / "overlays" / f"{image}.png", np.full((64, 64, 3), overlay_rgb, np.uint8))
    (tmp_path / "summary.html").write_text(summary_html(table, "cohort", cutoff, "the 0.8 quantile"), encoding="utf-8")
    screenshot = tmp_path / "summary.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--virtual-time-budget=10000", f"--screenshot={screenshot}", "--window-size=1280,900",
                    (tmp_path / "summary.html").as_uri()], check=True, capture_output=True, timeout=120)
    with Image.open(screenshot) as image:
        pixels = np.asarray(image.convert("RGB"))
    assert pixels.shape == (900, 1280, 3)

    def share_of(hex_colour: str) -> float:
        rgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
        return float((np.abs(pixels.astype(int) - rgb).sum(axis=2) <= 12).mean())

    assert share_of(REVIEW_TINT) > 0.002  # the flagged cards' tint
    assert share_of("#{:02x}{:02x}{:02x}".format(*overlay_rgb)) > 0.002  # their thumbnails drawn
    assert share_of(BAR_COLOUR) > 0.0005  # the size distribution's bars


def test_mask_size_counts_put_empty_masks_apart_and_bin_the_others_by_share_of_the_frame():
    counts = mask_size_counts([0.0, 0.05, 0.10, 0.3, 0.5, 0.95, 0.0])
    assert counts == {EMPTY_BIN: 2, "< 10 %": 1, "10–25 %": 1, "25–50 %": 1, "≥ 50 %": 2}
    assert list(counts)[1:] == list(SIZE_BINS)  # the bins of diffseg.evaluation.breakdown, in order


def test_summary_opens_on_the_flagged_images_and_the_size_of_the_fused_masks():
    shards = [_table({"a": 0.1, "b": 0.5, "c": 0.3}, {"a": 95, "c": 30}), _table({"d": 0.9, "e": 0.2}, {"e": 0})]
    table, cutoff = combine_annotations(shards, quantile=0.8)
    page = summary_html(table, "cohort", cutoff, "the 0.8 quantile")
    review, sizes, full = (page.index(marker) for marker in
                           ('<section id="review-first">', '<section id="mask-sizes">', '<h2 id="all-images">'))
    assert review < sizes < full < page.index("<th>overlay</th>")
    section = page[review:sizes]
    cards = re.findall(r'<figure class="card"><a href="(.*?)"><img src="(.*?)".*?<span class="id">(.*?)</span>'
                       r"<br>(.*?)<br>GED diversity (.*?)<br>lesion area (.*?)</figcaption>", section)
    assert cards == [
        ("overlays/d.png", "overlays/d.png", "d", "high diversity", "0.900", "5.0 %"),
        ("overlays/e.png", "overlays/e.png", "e", "empty mask", "0.200", "0.0 %"),
        ("overlays/a.png", "overlays/a.png", "a", "covers the frame", "0.100", "95.0 %"),
    ]  # the flagged only, in the table's order
    bars = re.findall(r'<td class="bin">(.*?)</td><td><div class="bar" style="width: (\d+)px"></div></td>'
                      r'<td class="count">(.*?)</td>', page[sizes:full])
    # b and d cover 5 % of the frame, c 30 %, a 95 % and e nothing; the longest bar is 280 px.
    assert bars == [(EMPTY_BIN, "140", "1 (20 %)"), ("&lt; 10 %", "280", "2 (40 %)"), ("10–25 %", "0", "0 (0 %)"),
                    ("25–50 %", "140", "1 (20 %)"), ("≥ 50 %", "140", "1 (20 %)")]  # fmt: skip
    assert f"<style>{REVIEW_STYLE}" not in page and REVIEW_STYLE in page  # one page, its style inline


def test_review_first_shows_the_first_flagged_images_and_counts_the_rest():
    diversities = {f"img{i:03d}": 1 - i / 100 for i in range(REVIEW_FIRST_LIMIT + 12)}
    table, _ = combine_annotations([_table(diversities)], quantile=0.0, cutoff=0.0)
    page = summary_html(table, "cohort", 0.0, "annotate.review_cutoff")
    section = page[page.index('<section id="review-first">') : page.index('<section id="mask-sizes">')]
    assert re.findall(r'<span class="id">(.*?)</span>', section) == list(table["id"][:REVIEW_FIRST_LIMIT])
    assert "… and 12 more flagged images, listed below." in section
    assert len(re.findall(r'<td class="id">', page)) == REVIEW_FIRST_LIMIT + 12  # the table keeps every image
    unflagged, _ = combine_annotations([_table({"a": 0.1, "b": 0.1})], quantile=1.0)
    assert "No image is flagged for review." in summary_html(unflagged, "cohort", 0.1, "q")


def test_the_flag_rule_is_one_function_of_diversity_and_mask_share():
    assert flag_reasons([0.9, 0.1, 0.1, 0.1], [0.2, 0.0, 0.9, 0.5], cutoff=0.5) == [
        "high diversity", "empty mask", "covers the frame", ""]  # fmt: skip
    table = _table({"a": 0.9, "b": 0.1, "c": 0.1}, {"b": 0, "c": 90})
    assert list(review_reasons(table, 0.5)) == flag_reasons(table["diversity"], table["area_fraction"], 0.5)
