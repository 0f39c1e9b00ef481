"""What a person sees first, rendered in headless Chromium: the report, an annotation's summary page and
the README's overview figure, each screenshotted and checked by its pixels and its DOM order.

Debian's `chromium` is needed (`make test` installs it where it can); without it these tests are skipped.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from diffseg.data.images import write_png
from diffseg.data.maps import write_maps
from diffseg.data.pngs import write_fused_masks
from diffseg.method.regions import regions_shard
from diffseg.reports.annotation import annotate_shard, combine_annotations, summary_html

from conftest import run_snakemake

MIN_PIXEL_SD = 20.0  # a page with content; a blank one has a spread near 0
REVIEW_TINT = (255, 227, 163)  # #ffe3a3, annotation.REVIEW_TINT: the flagged images' cards
BAR_RGB = (59, 111, 182)  # #3b6fb6, annotation.BAR_COLOUR: the size-distribution bars
CYAN, GREEN = (0, 200, 255), (0, 200, 83)  # the fused mask's outline, the expert's (#00c853)


@pytest.fixture(scope="module")
def browser() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("Debian's `chromium` is not installed, so no page can be rendered headless here")
    return found


def chromium(browser: str, page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess:
    """Chromium headless on `page` with a fresh profile and no background traffic (this machine has no
    network), after its scripts have run for 15 s of virtual time."""
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", "--virtual-time-budget=15000", *args, page.as_uri()]
    return subprocess.run(command, check=True, capture_output=True, text=True, timeout=120)


def screenshot(browser: str, page: Path, tmp_path: Path, width: int, height: int) -> np.ndarray:
    """The first screenful of `page` in a `width × height` window, `(height, width, 3)` int RGB."""
    path = tmp_path / f"{page.stem}.png"
    chromium(browser, page, tmp_path / "profile", f"--screenshot={path}", f"--window-size={width},{height}")
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=int)


def dom_text(browser: str, page: Path, tmp_path: Path) -> str:
    """The text of `page` in DOM order once its scripts have run, tags replaced by `|`."""
    dom = chromium(browser, page, tmp_path / "profile", "--dump-dom").stdout
    return re.sub(r"(\s*<[^>]*>\s*)+", "|", re.sub(r"<(style|script)\b.*?</\1>", "", dom, flags=re.S))


def pixels_near(rgb: np.ndarray, colour, tolerance: int = 40) -> int:
    return int((np.abs(rgb - np.asarray(colour)).sum(axis=-1) <= tolerance).sum())


@pytest.fixture(scope="module")
def report(finished_run):
    """The miniature run's report, in a folder of its own: (results/mini, report.html)."""
    workdir = finished_run.parents[1]
    (workdir / "results" / "screenshots").mkdir(exist_ok=True)  # Snakemake writes the page, not its folder
    result = run_snakemake(workdir, "--report", "results/screenshots/report.html")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return finished_run, workdir / "results" / "screenshots" / "report.html"


def test_the_report_opens_on_the_start_here_text_and_lists_review_first_first(report, browser, tmp_path):
    _, page = report
    rgb = screenshot(browser, page, tmp_path, 1280, 1000)
    assert rgb.shape == (1000, 1280, 3) and rgb.mean(axis=-1).std() > MIN_PIXEL_SD
    # The landing text, right of the menu (a fifth of the window), starts at the top: white page and
    # black text, not the middle of the dark configuration block, which the template would centre.
    landing = rgb[30:200, 270:760].mean(axis=-1)
    assert landing.mean() > 200 and landing.std() > MIN_PIXEL_SD
    text = dom_text(browser, page, tmp_path)
    menu = text[text.index("|Results|") :].split("|")
    assert menu[2:7] == ["Images to review first", "Metrics", "Segmentation", "Training", "Uncertainty"]
    assert text.index("Start here:") < text.index("Configuration of this run")


def test_the_reports_review_first_page_renders_its_thumbnails_on_its_own(report, browser, tmp_path):
    """The page as the report holds it (decoded from its data URI, no folder beside it)."""
    _, report_page = report
    results = re.search(r"var results = (\{.*?\});\n", report_page.read_text(encoding="utf-8"), re.S)
    data_uri = json.loads(results.group(1))["results/mini/figures/review_first.html"]["data_uri"]
    assert data_uri.startswith("data:text/html;")
    page = tmp_path / "review_first.html"
    page.write_bytes(base64.b64decode(data_uri.rpartition("base64,")[2]))
    rgb = screenshot(browser, page, tmp_path, 1280, 900)
    assert pixels_near(rgb, REVIEW_TINT, 10) > 160 * 40  # at least one card
    assert ((rgb[..., 0] - rgb[..., 1]) > 120).sum() > 50  # its thumbnail's red consistent region
    assert pixels_near(rgb, BAR_RGB, 10) > 280 * 10  # the bars of the test lesions' sizes
    text = dom_text(browser, page, tmp_path)
    assert text.index("|Review first|") < text.index("|Test lesions by size|") < text.index("|Every flagged image")


def small_annotation(folder: Path) -> Path:
    """summary.html of six 40 × 40 images annotated from hand-made per-step masks (the pipeline's own
    functions, as `annotate_shard` and `annotate_summary` call them): `c` and `d` disagree across
    steps, `e` has an empty fused mask, `f` one covering the frame."""
    size, rng = 16, np.random.default_rng(0)
    ids = ["a", "b", "c", "d", "e", "f"]
    steps = np.zeros((len(ids), 3, size, size), np.uint8)
    steps[:, :, 4:12, 4:12] = 1
    steps[2, 0, 2:14, 2:14] = steps[3, 2, 6:10, 6:10] = 1
    steps[3, :2, 2:14, 2:14] = 1
    steps[4], steps[5] = 0, 1
    for image_id in ids:
        write_png(folder / "images" / f"{image_id}.png", rng.integers(60, 200, (40, 40, 3), dtype=np.uint8))
    index = np.arange(len(ids))
    write_maps(folder / "steps.h5", index, ids, masks=steps)
    with h5py.File(folder / "steps.h5", "a") as h5:
        h5["steps"] = np.array([60, 100, 150])
    regions_shard(folder / "steps.h5", folder / "regions.h5")
    write_maps(folder / "crf.h5", index, ids, posterior=steps.mean(axis=1, dtype=np.float32))
    out = folder / "annotation"
    write_fused_masks(folder / "crf.h5", lambda position: (40, 40), out / "masks")
    manifest = pd.DataFrame({"position": index, "id": ids, "height": 40, "width": 40,
                             "image_path": [str(folder / "images" / f"{i}.png") for i in ids]})
    shard = annotate_shard(manifest, folder / "steps.h5", folder / "regions.h5", folder / "crf.h5", out / "masks",
                           out / "overlays", out)
    table, cutoff = combine_annotations([shard], quantile=0.6)
    (out / "summary.html").write_text(summary_html(table, "small cohort", cutoff, "the 0.6 quantile"), "utf-8")
    return out / "summary.html"


def test_an_annotation_summary_opens_on_its_flagged_images_and_their_sizes(browser, tmp_path):
    page = small_annotation(tmp_path)
    rgb = screenshot(browser, page, tmp_path, 1280, 900)
    assert rgb.shape == (900, 1280, 3) and rgb.mean(axis=-1).std() > MIN_PIXEL_SD
    # The first screenful holds the flagged images' cards (their tint around 160 px thumbnails, with the
    # red and cyan of the overlays) and the size distribution's bars, before any row of the table.
    assert pixels_near(rgb, REVIEW_TINT, 10) > 3 * 160 * 40
    assert ((rgb[..., 0] - rgb[..., 1]) > 120).sum() > 500 and pixels_near(rgb, CYAN) > 100
    assert pixels_near(rgb, BAR_RGB, 10) > 280 * 10
    text = dom_text(browser, page, tmp_path)
    assert text.index("|Review first|") < text.index("|Size of the fused masks|") < text.index("|All images|")
    cards = text[text.index("|Review first|") : text.index("|Size of the fused masks|")]
    assert "|empty mask|" in cards and "|covers the frame|" in cards


def test_the_overview_figure_shows_as_the_readme_shows_it(finished_run, browser, tmp_path):
    """The README's `![…](docs/figures/overview.png)`, as a Markdown page renders it (an 880 px column)."""
    figure = tmp_path / "overview.png"
    shutil.copy(finished_run / "figures" / "overview.png", figure)
    with Image.open(figure) as image:
        width, height = image.size
    page = tmp_path / "readme.html"
    page.write_text('<!DOCTYPE html><html><body style="margin: 0; background: #888">'
                    '<article style="max-width: 880px; padding: 0 20px"><img src="overview.png" '
                    'alt="DiffSeg overview" style="max-width: 100%; display: block"></article></body></html>')
    rgb = screenshot(browser, page, tmp_path, 1000, height + 100)
    assert rgb.shape == (height + 100, 1000, 3)
    white = (rgb == 255).all(axis=-1)  # the figure's background; the page's is grey
    columns, rows = np.flatnonzero(white.any(axis=0)), np.flatnonzero(white.any(axis=1))
    assert (columns[0], columns[-1] + 1 - columns[0]) == (20, width)  # shown at its own size, unscaled
    assert (rows[0], rows[-1] + 1 - rows[0]) == (0, height)
    shown = rgb[: height, 20 : 20 + width]
    assert shown.mean(axis=-1).std() > MIN_PIXEL_SD
    assert pixels_near(shown, CYAN) > 100 and pixels_near(shown, GREEN) > 100  # both outlines
    assert ((shown[..., 0] - shown[..., 1]) > 120).sum() > 500  # the consistent regions' red
