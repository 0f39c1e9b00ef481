"""docs/benchmark.md gathers the runs' benchmark documents and copies the figures they show."""

from __future__ import annotations

import numpy as np
from PIL import Image

from diffseg.reports.benchmark import ddpm_images_line
from diffseg.reports.benchmark_docs import combined_document, demoted, figures_shown, write_combined

DOCUMENT = """# Benchmark {name}

## Label efficiency

![Label efficiency](figures/label_efficiency.png)

## Configuration

```yaml
# a comment, not a heading
dataset: {{name: {name}}}
```
"""


def _run(root, name):
    (root / "figures").mkdir(parents=True)
    (root / "benchmark.md").write_text(DOCUMENT.format(name=name))
    pixels = np.random.default_rng(0).integers(0, 255, (40, 60, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(root / "figures" / "label_efficiency.png")
    return root


def test_headings_go_one_level_down_but_not_inside_code():
    assert demoted("# A\n## B\n```\n# c\n```\n#tag") == "## A\n### B\n```\n# c\n```\n#tag"


def test_figure_links_point_into_the_figure_folder_of_their_run():
    page = combined_document({"isic": DOCUMENT.format(name="isic")}, "benchmark")
    assert "![Label efficiency](benchmark/isic/label_efficiency.png)" in page
    assert page.startswith("# Benchmarks") and "## Benchmark isic" in page and "### Label efficiency" in page
    assert figures_shown(DOCUMENT) == ["label_efficiency.png"]


def test_the_page_and_the_figures_it_shows_are_written(tmp_path):
    roots = [_run(tmp_path / "results" / name, name) for name in ("benchmark_isic2017", "benchmark_ham10000")]
    write_combined(tmp_path / "docs" / "benchmark.md", roots)
    page = (tmp_path / "docs" / "benchmark.md").read_text()
    assert page.index("## Benchmark benchmark_isic2017") < page.index("## Benchmark benchmark_ham10000")
    for name in ("benchmark_isic2017", "benchmark_ham10000"):
        with Image.open(tmp_path / "docs" / "benchmark" / name / "label_efficiency.png") as image:
            assert image.format == "PNG" and image.size == (60, 40)


def test_the_protocol_says_what_the_ddpm_learns_from():
    crops = {"source": "border_crops", "crops_per_image": 8, "crop_fraction": 0.2, "crop_scale": "mirror"}
    line = ddpm_images_line(crops, [2, 4], 0.5)
    assert "whole frames, and their centre zoomed 2× and 4× (`lesion_views.zooms`)" in line
    assert "8 border crops of each training image (0.2 of each side, mirrored)" in line
    assert "a lesion image in 50% of draws" in line
    plain = ddpm_images_line({"source": "folder", "crops_per_image": 4, "crop_fraction": 0.25}, [], 0.25)
    assert "whole frames;" in plain and "zoomed" not in plain and "`healthy.folder`" in plain and "25%" in plain
