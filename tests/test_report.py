"""`snakemake --report` on the miniature run: one self-contained page with every figure and its caption,
opening on the test images to review first (tests/test_screenshots.py renders it in headless Chromium)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image

from conftest import run_snakemake

# Figures of a run that trains its own model (the miniature does), as workflow/rules/figures.smk lists them.
FIGURES = ["review_first.html", "overview.png", "noise_difference.png", "steps.png", "regions.png", "crf.png",
           "table1.png", "metric_tables.html", "dice_per_step.png", "ged_histogram.png", "diversity_vs_dice.png",
           "training_loss.png"]
MIN_PIXEL_SD = 20.0  # a page or figure with content; a blank one has a spread near 0
REVIEW_CATEGORY = "Images to review first"  # as workflow/rules/figures.smk names it


@pytest.fixture(scope="module")
def report(finished_run):
    """The figures and the report of the miniature run: (results/mini, report.html)."""
    workdir = finished_run.parents[1]
    result = run_snakemake(workdir, "figures")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    result = run_snakemake(workdir, "--report", "results/report.html")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return finished_run, workdir / "results" / "report.html"


def embedded(page: str, variable: str) -> dict:
    """A JSON object the report's page assigns to `var <variable>`."""
    match = re.search(rf"var {variable} = (\{{.*?\}});\n", page, re.S)
    assert match, f"the report holds no {variable}"
    return json.loads(match.group(1))


def test_every_figure_is_a_non_blank_image(report):
    results, _ = report
    for name in FIGURES:
        if name.endswith(".png"):
            with Image.open(results / "figures" / name) as image:
                pixels = np.asarray(image.convert("L"), dtype=np.float32)
            assert min(pixels.shape) >= 300, name
            assert pixels.std() > MIN_PIXEL_SD, name


def test_report_embeds_every_figure_with_its_caption(report):
    _, page_path = report
    page = page_path.read_text(encoding="utf-8")
    shown = embedded(page, "results")
    for name in FIGURES:
        entry = shown[f"results/mini/figures/{name}"]
        assert entry["caption"].strip(), name
        # Self-contained: the file itself is inside the page, not a link next to it.
        assert entry["data_uri"].startswith("data:"), name
    assert set(embedded(page, "categories")) == {REVIEW_CATEGORY, "Segmentation", "Uncertainty", "Metrics", "Training"}


def test_report_opens_on_the_images_to_review_first(report):
    """The menu lists categories alphabetically (Snakemake's html_reporter), so the review-first category's
    name must sort first; the landing text starts by pointing to its page."""
    _, page_path = report
    page = page_path.read_text(encoding="utf-8")
    categories = embedded(page, "categories")
    assert sorted(categories, key=str.casefold)[0] == REVIEW_CATEGORY
    assert categories[REVIEW_CATEGORY] == {"Other": ["results/mini/figures/review_first.html"]}
    landing = re.search(r'var workflow_desc = "(.*?)";\n', page, re.S).group(1)
    assert landing.index("Start here") < landing.index("review_first.html") < landing.index("Configuration of this run")
    assert "javascript:app.showResultInfo('results/mini/figures/review_first.html')" in landing


def test_report_shows_the_configuration_and_the_metric_tables(report):
    _, page_path = report
    page = page_path.read_text(encoding="utf-8")
    # The configuration is folded in the landing text (a JSON string in the page): its quotes are escaped.
    assert "shard_size" in page and '\\"name\\": \\"mini\\"' in page
    tables = (page_path.parent / "mini" / "figures" / "metric_tables.html").read_text(encoding="utf-8")
    assert "DiffSeg + DenseCRF" in tables and "diversity" in tables
    assert "Dice by lesion size" in tables and "Empty and frame-covering masks" in tables


def test_review_first_page_is_self_contained_and_lists_the_flagged_test_images(report):
    results, _ = report
    page = (results / "figures" / "review_first.html").read_text(encoding="utf-8")
    flagged = re.findall(r'<tr><td>\d+</td><td class="id">(.*?)</td>', page)
    assert flagged, "the test images' top fifth by diversity is always flagged"
    thumbnails = re.findall(r'<img src="(.*?)"', page)
    assert len(thumbnails) == min(len(flagged), 48)
    assert all(src.startswith("data:image/jpeg;base64,") for src in thumbnails)  # nothing beside the page
    assert page.index('id="review-first"') < page.index('id="lesion-sizes"') < page.index('id="flagged"')
