"""The figure functions draw non-blank PNGs of the size they promise, from small data made here."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from diffseg.data.maps import write_maps
from diffseg.data.store import ImageStore, write_store
from diffseg.data.synthetic import write_synthetic_cohort
from diffseg.evaluation.breakdown import (
    MASK_COVERAGE_HEADING,
    SIZE_BINS_HEADING,
    dice_by_size,
    dice_by_size_cells,
    mask_coverage,
    mask_coverage_cells,
)
from diffseg.evaluation.table import SHOWN
from diffseg.reports.annotation import OUTLINE_RGB
from diffseg.reports.figures import DPI, save_figure
from diffseg.reports.figures.charts import (
    dice_per_step_figure,
    diversity_dice_figure,
    ged_histogram_figure,
    loss_figure,
    read_table,
    table1_figure,
)
from diffseg.reports.figures.overview import (
    OVERVIEW_IMAGES,
    OVERVIEW_PANEL_INCHES,
    overview_figure,
    spread_by_dice,
)
from diffseg.reports.figures.panels import (
    PANEL_INCHES,
    CrfExample,
    NoiseExample,
    RegionsExample,
    StepsExample,
    crf_panel,
    majority_vote_of_mean,
    noise_difference_panel,
    noise_rgb,
    normalised,
    regions_panel,
    steps_panel,
)
from diffseg.reports.figures.review_first import flagged_first, review_first_html, review_table
from diffseg.reports.figures.shard_maps import ShardMaps, read_shard_maps
from diffseg.reports.figures.tables import markdown_notes, metric_tables_html
from diffseg.runtime.errors import BadInputError

SIZE = 16
STEPS = [60, 100, 150]
# A drawn figure has text, axes and images: its grey levels spread far more than a blank page's 0.
MIN_PIXEL_SD = 20.0


def written_png(figure, path) -> np.ndarray:
    save_figure(figure, path)
    with Image.open(path) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("L"), dtype=np.float32)


def assert_drawn(pixels: np.ndarray, width_in: float, height_in: float) -> None:
    assert pixels.shape == (round(height_in * DPI), round(width_in * DPI))
    assert pixels.std() > MIN_PIXEL_SD


def disc(radius: float, shift: int = 0) -> np.ndarray:
    yy, xx = np.mgrid[:SIZE, :SIZE]
    return (yy - SIZE / 2) ** 2 + (xx - SIZE / 2 - shift) ** 2 <= radius**2  # (H, W) bool


def skin_image(rng) -> np.ndarray:
    image = np.full((SIZE, SIZE, 3), (200, 150, 130), np.float32) + rng.normal(0, 8, (SIZE, SIZE, 3))
    image[disc(4)] *= 0.4
    return np.clip(image, 0, 255).astype(np.uint8)


def example_fields(i: int, rng) -> dict:
    return {"image_id": f"IMG_{i}", "image": skin_image(rng), "truth": disc(4)}


def test_noise_difference_panel_draws_a_row_per_image(tmp_path):
    rng = np.random.default_rng(0)
    examples = [
        NoiseExample(**example_fields(i, rng), eps_a=rng.normal(size=(3, SIZE, SIZE)),
                     eps_b=rng.normal(size=(3, SIZE, SIZE)), difference=disc(5) + rng.random((SIZE, SIZE)),
                     mask=disc(5))
        for i in range(3)
    ]
    pixels = written_png(noise_difference_panel(examples, 100, (0, 1)), tmp_path / "fig2.png")
    assert_drawn(pixels, 5 * PANEL_INCHES, 3 * PANEL_INCHES + 0.6)


def test_steps_panel_has_a_column_per_step(tmp_path):
    rng = np.random.default_rng(1)
    masks = np.stack([disc(r) for r in (3, 4, 5)])  # (S, H, W)
    pixels = written_png(steps_panel([StepsExample(**example_fields(0, rng), masks=masks)], STEPS),
                         tmp_path / "fig3.png")
    assert_drawn(pixels, (1 + len(STEPS)) * PANEL_INCHES * 0.75, PANEL_INCHES * 0.75 + 0.6)


def test_regions_panel_shows_consistent_and_ambiguous_regions(tmp_path):
    rng = np.random.default_rng(2)
    masks = np.stack([disc(r, shift) for r, shift in ((3, 0), (4, 1), (5, 2))])
    example = RegionsExample(**example_fields(0, rng), mean=masks.mean(axis=0), consistent=masks.all(axis=0),
                             ambiguous=masks.any(axis=0) & ~masks.all(axis=0))
    figure = regions_panel([example, example])
    pixels = written_png(figure, tmp_path / "fig4.png")
    assert_drawn(pixels, 3 * PANEL_INCHES, 2 * PANEL_INCHES + 0.6)
    # The overlay column holds the red of the consistent region: some pixel is far redder than green.
    with Image.open(tmp_path / "fig4.png") as image:
        rgb = np.asarray(image.convert("RGB"), dtype=int)
    assert ((rgb[..., 0] - rgb[..., 1]) > 120).any()


def test_crf_panel_draws_before_and_after(tmp_path):
    rng = np.random.default_rng(3)
    mean = disc(5) * 0.7 + rng.random((SIZE, SIZE)) * 0.2
    example = CrfExample(**example_fields(0, rng), mean=mean, posterior=disc(4) * 0.9, labels=disc(4))
    pixels = written_png(crf_panel([example]), tmp_path / "crf.png")
    assert_drawn(pixels, 5 * PANEL_INCHES, PANEL_INCHES + 0.6)


def test_panel_of_no_images_is_refused():
    with pytest.raises(ValueError, match="at least one"):
        regions_panel([])


def test_noise_is_shown_around_mid_grey_and_clipped_at_three_sd():
    eps = np.array([0.0, 3.0, -6.0], np.float32).reshape(3, 1, 1)
    assert noise_rgb(eps)[0, 0].tolist() == [0.5, 1.0, 0.0]


def test_constant_difference_normalises_to_zeros():
    assert not normalised(np.full((4, 4), 7.0)).any()
    assert normalised(np.array([[2.0, 4.0]])).tolist() == [[0.0, 1.0]]


def test_majority_vote_of_a_mean_counts_ties_as_lesion():
    assert majority_vote_of_mean(np.array([[0.4, 0.5, 0.9]])).tolist() == [[False, True, True]]


def table1_rows() -> pd.DataFrame:
    rows = []
    for key, method, dice in (("otsu", "Training-free (Otsu)", 0.7), ("diffseg_crf", "DiffSeg + DenseCRF", 0.8)):
        row = {"key": key, "method": method, "n": 20, "dice_minus_crf": dice - 0.8, "p_dice_vs_crf": 0.01}
        for metric in SHOWN:
            row |= {f"{metric}_mean": dice, f"{metric}_sd": 0.1, f"{metric}_ci_low": dice - 0.05,
                    f"{metric}_ci_high": dice + 0.05}
        rows.append(row)
    return pd.DataFrame(rows)


def test_table1_figure(tmp_path):
    pixels = written_png(table1_figure(table1_rows()), tmp_path / "table1.png")
    assert_drawn(pixels, 2.6 * len(SHOWN) + 2.2, 0.45 * 2 + 1.6)


def test_dice_per_step_figure(tmp_path):
    per_step = pd.DataFrame({"step": STEPS, "n": 20, "mean": [0.5, 0.6, 0.65], "sd": 0.1,
                             "ci_low": [0.45, 0.55, 0.6], "ci_high": [0.55, 0.65, 0.7]})
    pixels = written_png(dice_per_step_figure(per_step, table1_rows()), tmp_path / "steps.png")
    assert_drawn(pixels, 7, 4.2)


def ged_rows(n: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(4)
    diversity = rng.uniform(0.05, 0.5, n)
    return pd.DataFrame({"id": [f"IMG_{i}" for i in range(n)], "ged": 0.5 + diversity + rng.normal(0, 0.1, n),
                         "diversity": diversity, "diversity_euclidean": diversity * 10})


def test_ged_histogram_figure(tmp_path):
    pixels = written_png(ged_histogram_figure(ged_rows()), tmp_path / "ged.png")
    assert_drawn(pixels, 8, 3.6)


def test_diversity_dice_figure(tmp_path):
    ged = ged_rows()
    scores = pd.DataFrame({"id": ged["id"], "method": "diffseg_crf", "dice": 1 - ged["diversity"]})
    pixels = written_png(diversity_dice_figure(ged, scores), tmp_path / "scatter.png")
    assert_drawn(pixels, 5.5, 4.5)


def test_diversity_dice_figure_needs_images_with_both_scores():
    scores = pd.DataFrame({"id": ["OTHER"], "method": ["diffseg_crf"], "dice": [0.5]})
    with pytest.raises(ValueError, match="diffseg_crf"):
        diversity_dice_figure(ged_rows(), scores)


def test_loss_figure(tmp_path):
    steps = np.arange(1, 201)
    loss = pd.DataFrame({"step": steps, "loss": 1.0 / np.sqrt(steps)})
    pixels = written_png(loss_figure(loss), tmp_path / "loss.png")
    assert_drawn(pixels, 7, 4)


def test_saving_leaves_only_the_figure(tmp_path):
    save_figure(loss_figure(pd.DataFrame({"step": [1, 2], "loss": [1.0, 0.5]})), tmp_path / "loss.png")
    assert [path.name for path in tmp_path.iterdir()] == ["loss.png"]


def test_read_table_names_the_file_lacking_a_column(tmp_path):
    path = tmp_path / "loss.csv"
    path.write_text("step,value\n1,0.5\n")
    with pytest.raises(BadInputError, match="loss") as error:
        read_table(path, ["step", "loss"])
    assert error.value.path == str(path)


def test_metric_tables_hold_every_method_its_interval_and_the_notes():
    summary = pd.DataFrame({"measure": ["ged", "diversity"], "n": 20, "mean": [0.87, 0.24]})
    markdown = "| Method | n |\n|---|---|\n| Otsu | 20 |\n\nMean ± sd over the test images.\n"
    page = metric_tables_html(table1_rows(), summary, markdown_notes(markdown))
    assert "DiffSeg + DenseCRF" in page and "Training-free (Otsu)" in page
    assert "0.800 [0.750, 0.850]" in page
    assert "Mean ± sd over the test images." in page and "| Otsu |" not in page
    assert "0.870" in page


def html_tables(page: str) -> list[list[list[str]]]:
    """Every `<table>` of a page as its rows of cell texts (header row first), as a browser reads them."""

    class Tables(HTMLParser):
        def __init__(self):
            super().__init__()
            self.tables, self.cell = [], None

        def handle_starttag(self, tag, attrs):
            if tag == "table":
                self.tables.append([])
            elif tag == "tr":
                self.tables[-1].append([])
            elif tag in ("td", "th"):
                self.cell = ""

        def handle_endtag(self, tag):
            if tag in ("td", "th"):
                self.tables[-1][-1].append(self.cell.strip())
                self.cell = None

        def handle_data(self, data):
            if self.cell is not None:
                self.cell += data

    parser = Tables()
    parser.feed(page)
    return parser.tables


def test_metric_tables_page_holds_the_size_bins_and_the_mask_coverage(tmp_path):
    """The page as a browser reads it: every table parsed back from the written file, in order."""
    per_image = pd.DataFrame([
        {"id": f"img{i}", "method": method, "dice": dice, "truth_fraction": share, "pred_fraction": pred}
        for method, dices, preds in (("otsu", (0.5, 0.9), (0.0, 0.4)), ("diffseg_crf", (0.2, 0.6), (0.95, 0.99)))
        for i, (dice, share, pred) in enumerate(zip(dices, (0.05, 0.4), preds, strict=True))
    ])  # fmt: skip
    summary = pd.DataFrame({"measure": ["ged"], "n": 2, "mean": [0.5]})
    sections = [(SIZE_BINS_HEADING, dice_by_size_cells(dice_by_size(per_image, n_resamples=100)), "Bins of the lesion."),
                (MASK_COVERAGE_HEADING, mask_coverage_cells(mask_coverage(per_image)), "Empty masks fail.")]
    path = tmp_path / "metric_tables.html"
    path.write_text(metric_tables_html(table1_rows(), summary, "", sections), encoding="utf-8")
    tables = html_tables(path.read_text(encoding="utf-8"))
    assert len(tables) == 4  # Table 1, the two sections, the GED summary
    by_size, masks = ({row[0]: dict(zip(table[0], row, strict=True)) for row in table[1:]} for table in tables[1:3])
    assert by_size["DiffSeg + DenseCRF"]["< 10 % (n = 1)"] == "0.200 [0.200, 0.200]"
    assert by_size["Training-free (Otsu)"]["≥ 50 % (n = 0)"] == "–"
    assert masks["Training-free (Otsu)"]["Empty masks"] == "1"
    assert masks["DiffSeg + DenseCRF"]["All-lesion masks (≥ 90 % of the frame)"] == "2"
    assert masks["DiffSeg + DenseCRF"]["Covers the frame"] == "yes"
    page = path.read_text(encoding="utf-8")
    assert page.index(SIZE_BINS_HEADING) < page.index(MASK_COVERAGE_HEADING) < page.index("Uncertainty")
    assert "Bins of the lesion." in page and "Empty masks fail." in page


def shard_maps(i: int, rng, shift: int = 0) -> ShardMaps:
    masks = np.stack([disc(r, shift) for r in (3, 4, 5)])
    return ShardMaps(**example_fields(i, rng), consistent=masks.all(axis=0),
                     ambiguous=masks.any(axis=0) & ~masks.all(axis=0),
                     posterior=disc(4, shift).astype(np.float32), labels=disc(4, shift))


def test_overview_spreads_its_images_from_the_best_dice_to_the_worst():
    scores = pd.DataFrame({"id": [f"IMG_{i}" for i in range(9)], "method": "diffseg_crf",
                           "dice": [0.5, 0.9, 0.1, 0.7, 0.3, 0.8, 0.2, 0.6, 0.4]})
    assert spread_by_dice(scores) == ["IMG_1", "IMG_7", "IMG_8", "IMG_2"]  # ranks 0, 3, 5, 8: Dice 0.9, 0.6, 0.4, 0.1
    assert spread_by_dice(scores.iloc[[0, 2]]) == ["IMG_0", "IMG_2"]  # fewer images than asked: all of them
    with pytest.raises(ValueError, match="diffseg_crf"):
        spread_by_dice(scores.assign(method="otsu"))


def test_overview_figure_outlines_the_fused_mask_in_cyan_and_the_expert_mask_in_green(tmp_path):
    rng = np.random.default_rng(5)
    rows = [shard_maps(i, rng, shift=i) for i in range(OVERVIEW_IMAGES)]
    figure = overview_figure(rows, {f"IMG_{i}": 0.9 - i / 10 for i in range(OVERVIEW_IMAGES)})
    pixels = written_png(figure, tmp_path / "overview.png")
    assert_drawn(pixels, 3 * OVERVIEW_PANEL_INCHES, OVERVIEW_IMAGES * OVERVIEW_PANEL_INCHES + 1.0)
    with Image.open(tmp_path / "overview.png") as image:
        rgb = np.asarray(image.convert("RGB"), dtype=int)
    cyan = (np.abs(rgb - OUTLINE_RGB).sum(axis=-1) < 60).sum()
    green = (np.abs(rgb - (0, 200, 83)).sum(axis=-1) < 60).sum()  # TRUTH_COLOUR, #00c853
    assert cyan > 100 and green > 100
    with pytest.raises(ValueError, match="at least one"):
        overview_figure([], {})


def test_shard_maps_are_gathered_from_any_shard_in_the_order_asked(tmp_path):
    cohort = write_synthetic_cohort(tmp_path / "cohort", n_lesion=5, n_healthy=1, size=32, seed=0)
    manifest, _ = write_store(tmp_path / "store.h5", cohort, SIZE, "synthetic")
    ids, rng = list(manifest["id"]), np.random.default_rng(6)
    paths = {"regions": [], "crf": []}
    for shard, positions in enumerate((np.arange(0, 3), np.arange(3, 6))):
        n, shard_ids = len(positions), [ids[p] for p in positions]
        maps = rng.random((n, SIZE, SIZE)) > 0.5
        write_maps(tmp_path / f"regions-{shard}.h5", positions, shard_ids, consistent=maps, ambiguous=~maps)
        write_maps(tmp_path / f"crf-{shard}.h5", positions, shard_ids, posterior=maps * 0.8, labels=maps)
        paths["regions"].append(tmp_path / f"regions-{shard}.h5")
        paths["crf"].append(tmp_path / f"crf-{shard}.h5")
    with ImageStore(tmp_path / "store.h5") as store:
        rows = read_shard_maps(store, paths["regions"], paths["crf"], [ids[4], ids[1]])
        assert [row.image_id for row in rows] == [ids[4], ids[1]]
        assert (rows[0].image == store.image(4)).all() and rows[0].labels.dtype == bool
        assert (rows[0].labels == rows[0].consistent).all() and (rows[0].ambiguous == ~rows[0].labels).all()
        with pytest.raises(BadInputError, match="NOWHERE"):
            read_shard_maps(store, paths["regions"], paths["crf"], ["NOWHERE"])


def test_review_first_page_flags_by_the_annotation_rule_and_opens_on_the_flagged_images():
    ids = [f"IMG_{i}" for i in range(10)]
    pred = [0.2] * 7 + [0.0, 0.95, 0.3]  # IMG_7 found nothing, IMG_8 covers the frame
    scores = pd.DataFrame({"id": ids, "method": "diffseg_crf", "dice": np.linspace(0.9, 0.0, 10),
                           "truth_fraction": [0.05, 0.2, 0.3, 0.6] * 2 + [0.2, 0.2], "pred_fraction": pred})
    ged = pd.DataFrame({"id": ids, "ged": 0.5, "diversity": [0.1] * 9 + [0.9]})
    table, cutoff = review_table(pd.concat([scores, scores.assign(method="otsu")]), ged, quantile=0.8)
    assert cutoff == pytest.approx(np.quantile(ged["diversity"], 0.8))
    assert list(table.loc[table["review"], "id"]) == ["IMG_9", "IMG_7", "IMG_8"]
    assert list(table["review_reason"][:3]) == ["high diversity", "empty mask", "covers the frame"]
    by_size = dice_by_size(scores, n_resamples=50)
    thumbnails = {image_id: f"data:image/jpeg;base64,{image_id}" for image_id in flagged_first(table)}
    page = review_first_html(table, thumbnails, by_size, cutoff, "the 0.8 quantile")
    review, sizes = page.index('<section id="review-first">'), page.index('<section id="lesion-sizes">')
    assert review < sizes < page.index('<section id="mask-sizes">') < page.index('<h2 id="flagged">')
    assert re.findall(r'<img src="data:image/jpeg;base64,(.*?)"', page[review:sizes]) == ["IMG_9", "IMG_7", "IMG_8"]
    bars = {name: (count, note) for name, count, note in re.findall(
        r'<td class="bin">(.*?)</td>.*?<td class="count">(.*?)</td><td>(.*?)</td>',
        page[sizes:page.index('<section id="mask-sizes">')])}
    low = by_size.set_index(["key", "size_bin"]).loc[("diffseg_crf", "< 10 %")]
    assert bars["&lt; 10 %"] == ("2 (20 %)", f"Dice {low['mean']:.3f} [{low['ci_low']:.3f}, {low['ci_high']:.3f}]")
    assert bars["10–25 %"][0] == "4 (40 %)"
    with pytest.raises(BadInputError, match="IMG_0"):
        review_table(scores, ged.iloc[1:], quantile=0.8)
