"""`snakemake --report` on the miniature run: one self-contained page with every figure and its caption."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from conftest import run_snakemake

# Figures of a run that trains its own model (the miniature does), as workflow/rules/figures.smk lists them.
FIGURES = ["noise_difference.png", "steps.png", "regions.png", "crf.png", "table1.png", "metric_tables.html",
           "dice_per_step.png", "ged_histogram.png", "diversity_vs_dice.png", "training_loss.png"]
MIN_PIXEL_SD = 20.0  # a page or figure with content; a blank one has a spread near 0


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
    assert set(embedded(page, "categories")) == {"Segmentation", "Uncertainty", "Metrics", "Training"}


def test_report_shows_the_configuration_and_the_metric_tables(report):
    _, page_path = report
    page = page_path.read_text(encoding="utf-8")
    assert "shard_size" in page and "&quot;name&quot;: &quot;mini&quot;" in page
    tables = (page_path.parent / "mini" / "figures" / "metric_tables.html").read_text(encoding="utf-8")
    assert "DiffSeg + DenseCRF" in tables and "diversity" in tables
    assert "Dice by lesion size" in tables and "Empty and frame-covering masks" in tables


def test_report_renders_in_headless_chromium(report, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("Debian's `chromium` is not installed, so the report cannot be rendered headless here")
    _, page_path = report
    screenshot = tmp_path / "report.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--virtual-time-budget=15000", f"--screenshot={screenshot}", "--window-size=1280,2000",
                    page_path.as_uri()], check=True, capture_output=True, timeout=120)
    with Image.open(screenshot) as image:
        pixels = np.asarray(image.convert("L"), dtype=np.float32)
    assert pixels.shape == (2000, 1280)
    assert pixels.std() > MIN_PIXEL_SD
