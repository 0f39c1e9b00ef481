"""The README and docs/ say what the code and the generated documents say: nothing typed by hand
that can go stale."""

from __future__ import annotations

import re
import sys
from dataclasses import replace

import pytest

from diffseg.reports.expectations import estimate, render, replace_section, table1_rows
from diffseg.reports.expectations import main as expectations_main

from conftest import REPO

README = REPO / "README.md"
DEFAULT_RUN = REPO / "docs" / "default_run.md"
VALIDATION = REPO / "docs" / "validation.md"
BENCHMARK = REPO / "docs" / "benchmark.md"


DERMOSCOPY_RUN = REPO / "docs" / "dermoscopy_run.md"


def _runs() -> dict[str, str]:
    return {"docs/dermoscopy_run.md": DERMOSCOPY_RUN.read_text(encoding="utf-8")} if DERMOSCOPY_RUN.exists() else {}


def _benchmark() -> str | None:
    return BENCHMARK.read_text(encoding="utf-8") if BENCHMARK.exists() else None


def test_readme_expectations_are_generated_from_the_run_documents():
    readme = README.read_text(encoding="utf-8")
    expected = replace_section(readme, render(DEFAULT_RUN.read_text(encoding="utf-8"),
                                              VALIDATION.read_text(encoding="utf-8"), _benchmark(), _runs()))
    assert readme == expected, "README's 'What to expect' differs from docs/: run `make docs`"


def test_the_expectations_check_fails_when_a_document_changes(tmp_path):
    paths = [README, DEFAULT_RUN, VALIDATION, *([BENCHMARK] if BENCHMARK.exists() else [])]
    for path in paths:
        (tmp_path / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    files = [str(tmp_path / path.name) for path in paths]
    if DERMOSCOPY_RUN.exists():
        (tmp_path / DERMOSCOPY_RUN.name).write_text(DERMOSCOPY_RUN.read_text(encoding="utf-8"), encoding="utf-8")
        files += ["--run", str(tmp_path / DERMOSCOPY_RUN.name)]
    assert expectations_main([*files, "--check"]) == 0
    validation = (tmp_path / "validation.md").read_text(encoding="utf-8")
    otsu = re.search(r"^\| Training-free \(Otsu\) \| \d+ \| (\d\.\d{3})", validation, re.MULTILINE)
    doctored = validation.replace(otsu.group(0), otsu.group(0)[: -len(otsu.group(1))] + "0.999", 1)
    (tmp_path / "validation.md").write_text(doctored, encoding="utf-8")
    assert expectations_main([*files, "--check"]) == 1
    assert expectations_main(files) == 0  # regenerating brings the README in step again
    assert "0.999 [" in (tmp_path / "README.md").read_text(encoding="utf-8")
    assert expectations_main([*files, "--check"]) == 0


def test_network_cost_table_in_scaling_doc_is_what_the_benchmark_measures():
    sys.path.insert(0, str(REPO / "benchmarks"))
    from network_cost import CASES, forward_cost

    scaling = (REPO / "docs" / "scaling.md").read_text(encoding="utf-8")
    for preset, size in CASES:
        parameters, gflop = forward_cost(preset, size)
        row = f"| {preset} | {size} px | {parameters / 1e6:.2f} M | {gflop:.4g} |"
        assert row in scaling, f"docs/scaling.md lacks {row!r}: run benchmarks/network_cost.py"


def test_the_architecture_layout_names_every_rule_file():
    architecture = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    layout = architecture[architecture.index("## Layout"):architecture.index("## The package in layers")]
    for rules in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        assert rules.name in layout, f"docs/architecture.md's Layout does not mention workflow/rules/{rules.name}"


def test_the_readme_is_short_and_points_at_the_configuration_and_the_benchmark():
    readme = README.read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 150
    for pointer in ("config/README.md", "docs/benchmark.md", "make annotate COHORT=", "make run", "make test"):
        assert pointer in readme, pointer


def test_every_figure_the_readme_and_docs_show_exists_and_is_written_by_a_target():
    """Each `![…](path)` of README.md and docs/ is a PNG in the repository that opens, and the README's
    overview is the embedded default run's `figures/overview.png` (rule draw_overview), which `make docs`
    copies (tests/test_screenshots.py renders it as the README shows it)."""
    from PIL import Image

    for page in [README, *(REPO / "docs").rglob("*.md")]:
        for link in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
            figure = (page.parent / link).resolve()
            assert figure.is_file(), f"{page.relative_to(REPO)} shows {link}, which does not exist"
            with Image.open(figure) as image:
                assert image.format == "PNG" and min(image.size) >= 200, link
    assert "](docs/figures/overview.png)" in README.read_text(encoding="utf-8")
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert "cp results/synthetic/figures/overview.png docs/figures/overview.png" in makefile
    assert '"results/{root}/figures/overview.png"' in (REPO / "workflow" / "rules" / "figures.smk").read_text(encoding="utf-8")


SOURCES = [path for folder in ("src", "scripts", "workflow", "config", "docs", "tests", "benchmarks")
           for path in (REPO / folder).rglob("*") if path.is_file() and path.suffix in (".py", ".smk", ".md", ".yaml")]


@pytest.mark.parametrize("path", [*SOURCES, README], ids=lambda p: str(p.relative_to(REPO)))
def test_method_citations_point_at_sections_that_exist(path):
    method = (REPO / "docs" / "method.md").read_text(encoding="utf-8")
    sections = set(re.findall(r"^## (\d+)\. ", method, re.MULTILINE))
    text = path.read_text(encoding="utf-8")
    this_file = path.name == "test_docs.py"
    assert this_file or "PAPER" + ".md" not in text, "cites PAPER.md, which is not part of the repository"
    for section in re.findall(r"docs/method\.md §(\d+)", text):
        assert section in sections, f"cites docs/method.md §{section}, which has no such section"


def test_a_label_budget_row_is_not_taken_for_the_unet_row():
    document = DEFAULT_RUN.read_text(encoding="utf-8")
    unet = next(line for line in document.splitlines() if line.startswith("| Supervised U-Net |"))
    budget = re.sub(r"\| \d\.\d{3} ± ", "| 0.111 ± ", unet.replace("| Supervised U-Net |", "| Supervised U-Net, 10 masks |"))
    rows = table1_rows(document.replace(unet, unet + "\n" + budget), "Table 1")
    assert rows["Supervised U-Net"].label == "Supervised U-Net"
    assert rows["Supervised U-Net"].dice == table1_rows(document, "Table 1")["Supervised U-Net"].dice != estimate(budget)


def test_a_step_chosen_on_a_development_split_is_not_called_chosen_on_the_test_images():
    default_run, validation = (path.read_text(encoding="utf-8") for path in (DEFAULT_RUN, VALIDATION))
    on_dev = [re.sub(r"\| DiffSeg best single step \(t = (\d+)\)",
                     r"| DiffSeg best single step (t = \1, chosen on 184 development images)", text)
              for text in (default_run, validation)]
    body = render(*on_dev)
    assert "chosen on the test images" not in body
    assert re.search(r"\(t = \d+, chosen on 184 development images\)", body)
    assert re.search(r"\(t = \d+, chosen on the test images\)", render(default_run, validation))


def _run_document(name: str, otsu: str, crf: str, otsu_minus_crf: str, p_holm: str, control: str = "") -> str:
    header = "| Method | n | Dice | ΔDice vs DiffSeg + CRF | p (Wilcoxon) | p (Holm) |"
    rows = [
        f"| Training-free (Otsu) | 150 | {otsu} | {otsu_minus_crf} | 1e-05 | {p_holm} |",
        *([f"| Training-free (Otsu) + DenseCRF | 150 | {control} | +0.150 | 1e-06 | 3e-06 |"] if control else []),
        "| Supervised U-Net | 150 | 0.800 ± 0.1 [0.780, 0.820] | +0.200 | 1e-09 | 4e-09 |",
        "| Supervised U-Net, 10 masks | 150 | 0.100 ± 0.1 [0.080, 0.120] | -0.500 | 1e-09 | 4e-09 |",
        "| DiffSeg best single step (t = 320, chosen on 184 development images) | 150 | 0.500 ± 0.1 [0.480, 0.520] "
        "| -0.100 | 1e-03 | 2e-03 |",
        "| DiffSeg mean-mask vote | 150 | 0.550 ± 0.1 [0.530, 0.570] | -0.050 | 1e-02 | 1e-02 |",
        f"| DiffSeg + DenseCRF | 150 | {crf} | – | – | – |",
    ]
    return "\n".join([
        f"# Benchmark {name}", "", "| | |", "|---|---|", "| Commit when written | `abcdef0123` |",
        "| Run time | 1 h 2 min (first job's start to last job's end, from the jobs' logs) |", "",
        "## Table 1: the test split (150 images)", "", header, "|---|---:|---|---:|---:|---:|", *rows, "",
        f"## Cross-dataset: the {name} models on other (150 test images)", "", header, "|---|---:|---|---:|---:|---:|",
        *rows, "",
        "## Label efficiency", "", "DiffSeg + DenseCRF (0 masks), Dice 0.600, is worth 25 [12, 40] masks: the number "
        "of masks at which the U-Net's curve reaches DiffSeg's Dice.", "",
        "## Configuration", "", "```yaml", "# a comment, not a heading", "dataset: {name: x}", "```", "",
    ])


def test_readme_benchmark_table_comes_from_the_benchmark_page():
    from diffseg.reports.benchmark_docs import benchmark_page
    from diffseg.reports.expectations import benchmark_columns, benchmark_runs, table_lines, verdict

    page = benchmark_page({
        "benchmark_isic2017": _run_document("benchmark_isic2017", "0.700 ± 0.1 [0.680, 0.720]",
                                            "0.600 ± 0.1 [0.580, 0.620]", "+0.100", "2e-05"),
        "benchmark_ham10000": _run_document("benchmark_ham10000", "0.500 ± 0.1 [0.480, 0.520]",
                                            "0.600 ± 0.1 [0.580, 0.620]", "-0.100", "0.03",
                                            control="0.750 ± 0.1 [0.730, 0.770]"),
    }, "benchmark", ["## Development-split curves: what a larger training budget gives\n\n| a | b |\n"])
    runs = benchmark_runs(page)
    assert list(runs) == ["benchmark_isic2017", "benchmark_ham10000"]
    assert "## Table 1: the test split" in runs["benchmark_ham10000"]
    # The header rows the README reads are on the page; the configuration is in provenance.md.
    assert "| Commit when written | `abcdef0123` |" in runs["benchmark_isic2017"]
    assert "## Configuration" not in runs["benchmark_isic2017"]
    assert "Development-split" not in runs["benchmark_ham10000"]
    columns = benchmark_columns(page)
    assert [column.title for column in columns] == [
        "benchmark_isic2017, test split", "benchmark_isic2017 models on other, not retrained",
        "benchmark_ham10000, test split", "benchmark_ham10000 models on other, not retrained"]
    text = "\n".join(table_lines(columns))
    assert "| Training-free (Otsu) | 0.700 [0.680, 0.720] | 0.700 [0.680, 0.720] | 0.500 [0.480, 0.520] |" in text
    assert ("| DiffSeg best single step | 0.500 [0.480, 0.520] (t = 320, chosen on 184 development images) "
            "| 0.500 [0.480, 0.520] (t = 320, chosen on 184 development images) |") in text
    # The ISIC document predates the fair control: its cell says so; HAM's has it, and it is the bar.
    assert ("| Training-free (Otsu) + DenseCRF | – (not in this document) | – (not in this document) "
            "| 0.750 [0.730, 0.770] |") in text
    assert ("| DiffSeg + DenseCRF − best training-free row, Dice | -0.100 (Holm p = 2e-05), vs Training-free (Otsu) "
            "| -0.100 (Holm p = 2e-05), vs Training-free (Otsu) | -0.150 (Holm p = 3e-06), vs Training-free (Otsu) "
            "+ DenseCRF |") in text
    assert "| worth, in labelled images | 25 [12, 40] masks | – | 25 [12, 40] masks | – |" in text
    assert "| run time, 2 CPU cores | 1 h 2 min | – |" in text and "`docs/benchmark.md`, `abcdef0`" in text
    assert verdict(columns[0]).startswith("- **benchmark_isic2017, test split**: DiffSeg + DenseCRF does **not** beat")
    assert "does **not** beat Otsu's mask alone" in verdict(columns[0])
    assert "predates the fair control (Otsu + DenseCRF), so it cannot say" in verdict(columns[0])
    # Above Otsu's mask alone (+0.100, p = 0.03) but below the fair control: it does not beat the best row.
    assert ("does **not** beat the best training-free row, Training-free (Otsu) + DenseCRF (-0.150 Dice, "
            "p = 3e-06) and is") in verdict(columns[2])
    assert "predates" not in verdict(columns[2])


def test_a_document_with_a_verdict_gives_its_fair_controls_p_and_its_placement_table_the_worth():
    """A benchmark document written with the verdict section and the placement table: the README takes the
    verdict's Holm p (the fair-controls family) for DiffSeg + DenseCRF against the best training-free row,
    not Table 1's, and the worth from DiffSeg + DenseCRF's row of the placement table."""
    from diffseg.reports.benchmark_docs import benchmark_page
    from diffseg.reports.expectations import (
        FairVerdict,
        benchmark_columns,
        fair_verdicts,
        verdict,
        worth_text,
    )

    document = _run_document("benchmark_ham10000", "0.500 ± 0.1 [0.480, 0.520]", "0.800 ± 0.1 [0.780, 0.820]",
                             "-0.300", "0.03", control="0.760 ± 0.1 [0.740, 0.780]")
    # Table 1's Holm p of the control is 3e-06; the verdict's own family gives other p-values.
    verdict_table = "\n".join([
        "## Verdict: DiffSeg against the best training-free row", "",
        "| images | DiffSeg row | control | n | DiffSeg row − control [95 % CI] | p (Holm) | beats it |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        "| benchmark_ham10000 test, all 150 | DiffSeg + DenseCRF | Training-free (Otsu) + DenseCRF | 150 | "
        "-0.150 [-0.200, -0.100] | 0.07 | no |",
        "| benchmark_ham10000 test, all 150 | DiffSeg student | Training-free (Otsu) + DenseCRF | 150 | "
        "+0.050 [+0.010, +0.090] | 0.001 | yes |",
        "| other test, all 150 (cross-dataset) | DiffSeg + DenseCRF | Training-free (Otsu) + DenseCRF | 150 | "
        "-0.150 [-0.200, -0.100] | 0.0004 | worse |", "", ""])
    placement = "\n".join([
        "## Label efficiency", "", "| Training masks | Method | Dice [95 % CI] |", "| --- | --- | --- |",
        "| 10 | Supervised U-Net, 10 masks | 0.500 [0.400, 0.600] |", "",
        "| Method | training masks | development masks that chose its settings | Dice | gap | worth [95 % CI] |",
        "| --- | --- | --- | --- | --- | --- |",
        "| DiffSeg + DenseCRF | 0 | 193 | 0.800 | -0.050 [-0.080, -0.020] | ≈ 154 labelled images [95 % CI 83, 334] |",
        "| DiffSeg student | 0 | 193 | 0.790 | -0.060 [-0.090, -0.030] | ≈ 120 labelled images [95 % CI 60, 300] |",
        "", ""])
    old_worth = document[document.index("## Label efficiency"):document.index("## Configuration")]
    document = document.replace("## Table 1: the test split", verdict_table + "## Table 1: the test split")
    document = document.replace(old_worth, placement)
    assert fair_verdicts(document) == {"benchmark_ham10000 test, all 150": FairVerdict(0.07, False),
                                       "other test, all 150 (cross-dataset)": FairVerdict(0.0004, False)}
    assert worth_text(document) == "≈ 154 labelled images [95 % CI 83, 334]"
    test, cross = benchmark_columns(benchmark_page({"benchmark_ham10000": document}, "benchmark"))
    assert (test.fair_p, cross.fair_p, test.worth) == (0.07, 0.0004, "≈ 154 labelled images [95 % CI 83, 334]")
    assert "does **not** beat the best training-free row" in verdict(test) and "p = 0.07)" in verdict(test)
    assert "does **not** beat the best training-free row" in verdict(cross) and "(-0.150 Dice, p = 0.0004)" in verdict(cross)
    # The verdict's word decides, even where Table 1's difference and p alone would not agree.
    assert replace(cross, fair=FairVerdict(0.0004, True)).beats_best_training_free()
    assert not replace(cross, fair=None).beats_best_training_free()  # Table 1: -0.150
    assert fair_verdicts(_run_document("x", "0.5 ± 0.1 [0.4, 0.6]", "0.6 ± 0.1 [0.5, 0.7]", "-0.1", "0.1")) == {}


def test_a_real_data_run_gives_a_column_for_its_test_split_and_each_subset():
    from diffseg.reports.expectations import CONTROL, run_columns, verdict

    if not DERMOSCOPY_RUN.exists():
        pytest.skip("docs/dermoscopy_run.md is written by make docs after the train_folder.yaml run")
    columns = run_columns(DERMOSCOPY_RUN.read_text(encoding="utf-8"), "docs/dermoscopy_run.md")
    assert [column.images for column in columns] == ["150", "52", "98"]
    assert columns[1].title == "dermoscopy run, isic2017:val, never used for any choice"
    assert all(CONTROL in column.rows for column in columns)  # every table has the fair control
    assert columns[0].source.startswith("`docs/dermoscopy_run.md`, `")
    assert all(verdict(column).startswith(f"- **{column.title}**: DiffSeg + DenseCRF ") for column in columns)


def test_each_test_set_is_followed_by_its_subsets_and_the_bullet_gives_their_verdicts_and_the_students():
    """A benchmark document with subsets of its test images (ISIC 2017: never used for any choice, seen):
    a column for each after its test set, and one bullet per test set that says, for the whole set and
    each subset, whether DiffSeg + DenseCRF and the DiffSeg student beat the best training-free row, with
    the verdict's p."""
    from diffseg.reports.benchmark_docs import benchmark_page
    from diffseg.reports.expectations import benchmark_columns, table_lines, verdicts

    document = _run_document("benchmark_isic2017", "0.500 ± 0.1 [0.480, 0.520]", "0.800 ± 0.1 [0.780, 0.820]",
                             "-0.300", "0.03", control="0.760 ± 0.1 [0.740, 0.780]")
    whole = document[document.index("| Method | n |"):document.index("\n\n## Cross-dataset")]
    subset = whole.replace("| 150 |", "| 52 |").replace("0.800 ± 0.1 [0.780, 0.820]", "0.700 ± 0.1 [0.680, 0.720]")
    document = document.replace(
        "\n\n## Cross-dataset",
        "\n\n### Table 1 on subsets of the test images\n\n#### never used for any choice "
        f"(`in_isic2017_sample98` = 0, 52 images)\n\n{subset}\n\n## Cross-dataset", 1)
    verdict_rows = [
        ("benchmark_isic2017 test, all 150", "DiffSeg + DenseCRF", "Training-free (Otsu) + DenseCRF", "+0.040", "0.001", "yes"),
        ("benchmark_isic2017 test, all 150", "DiffSeg student", "Training-free (Otsu) + DenseCRF", "+0.050", "0.0001", "yes"),
        ("benchmark_isic2017 test, all 150", "DiffSeg student", "Otsu + DenseCRF student", "+0.060", "0.0002", "yes"),
        ("benchmark_isic2017 test, never used for any choice (52)", "DiffSeg + DenseCRF",
         "Training-free (Otsu) + DenseCRF", "+0.007", "0.9", "no"),
        ("benchmark_isic2017 test, never used for any choice (52)", "DiffSeg student",
         "Training-free (Otsu) + DenseCRF", "-0.020", "0.04", "worse"),
    ]
    table = "\n".join([
        "## Verdict: DiffSeg against the best training-free row", "",
        "| images | DiffSeg row | control | n | DiffSeg row − control [95 % CI] | p (Holm) | beats it |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *(f"| {images} | {row} | {control} | 150 | {difference} [-1.000, +1.000] | {p} | {word} |"
          for images, row, control, difference, p, word in verdict_rows), "", ""])
    document = document.replace("## Table 1: the test split", table + "## Table 1: the test split")
    columns = benchmark_columns(benchmark_page({"benchmark_isic2017": document}, "benchmark"))
    assert [(column.title, column.images) for column in columns] == [
        ("benchmark_isic2017, test split", "150"),
        ("benchmark_isic2017, test split, never used for any choice", "52"),
        ("benchmark_isic2017 models on other, not retrained", "150")]
    assert "| DiffSeg + DenseCRF | 0.800 [0.780, 0.820] | 0.700 [0.680, 0.720] | 0.800 [0.780, 0.820] |" in "\n".join(
        table_lines(columns))
    bullets = verdicts(columns)
    assert len(bullets) == 2  # the subset's verdict is in its test set's bullet
    assert bullets[0] == (
        "- **benchmark_isic2017, test split**: DiffSeg + DenseCRF beats the best training-free row, Training-free "
        "(Otsu) + DenseCRF (+0.040 Dice, p = 0.001) and is 0.200 Dice below the U-Net. The DiffSeg student beats "
        "it (+0.050 Dice, p = 0.0001). On the 52 images never used for any choice, DiffSeg + DenseCRF does **not** "
        "beat Training-free (Otsu) + DenseCRF (+0.007 Dice, p = 0.9). The DiffSeg student does **not** beat it "
        "(-0.020 Dice, p = 0.04).")
    assert "student" not in bullets[1]  # the cross cohort has no verdict rows here


def test_the_readme_annotation_speeds_are_the_committed_throughput_benchmarks():
    """The student's and the diffusion path's images/s in the README are those the side-by-side benchmark
    (benchmarks/annotation_throughput.py) wrote to benchmarks/cpu/annotation_throughput.json."""
    import json

    measured = json.loads((REPO / "benchmarks" / "cpu" / "annotation_throughput.json").read_text(encoding="utf-8"))
    readme = " ".join(README.read_text(encoding="utf-8").split())
    student, diffusion = measured["student_images_per_s"], measured["diffusion_images_per_s"]
    assert measured["threads"] == 2 and measured["device"] == "cpu"
    assert (f"{student:.0f} images/s on 2 CPU cores against {diffusion:.1f} for the diffusion path "
            "(`benchmarks/annotation_throughput.py`)") in readme
