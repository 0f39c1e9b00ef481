"""`snakemake benchmark` end to end on a miniature of an official-split cohort.

Thirty real ISIC 2017 images with their masks and a manifest the test writes (20 `train`, 10 `val`,
each marked full-resolution or thumbnail), a development split carved from the training images, two
candidate post-training settings chosen between on it, two label budgets, six other images as a cross-dataset cohort with HAM10000's manifest columns, and the
tiny preset trained for a few steps: this proves the protocol's plumbing (which images train, select
and test, which rows the tables hold, the document and its figure), not the quality of so short a
training.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from diffseg.data.maps import read_maps
from diffseg.reports.figures import DPI
from diffseg.reports.figures.label_efficiency import HEIGHT, WIDTH

from conftest import linked_sample, run_snakemake

pytestmark = pytest.mark.pipeline

N_TRAIN, N_TEST = 20, 10
N_CROSS = 6
N_UNLABELLED = 4
BUDGETS = [3, 8]
# The configuration's step set, and later steps thresholded at a fixed level (its own extraction) and
# fused with the colour model in DenseCRF's unary.
CANDIDATES = {"paper_steps": {}, "late_fixed_04": {"extraction": {"steps": [200, 300]},
                                                   "threshold": {"method": "fixed", "value": 0.4},
                                                   "crf": {"colour_weight": 0.6}}}


@pytest.fixture(scope="module")
def benchmarked(isic_sample, tmp_path_factory):
    """The workdir's results/bench after `snakemake benchmark`."""
    workdir = tmp_path_factory.mktemp("benchmark")
    chosen = linked_sample(isic_sample, workdir / "cohort", N_TRAIN + N_TEST)
    images, masks = workdir / "cohort" / "images", workdir / "cohort" / "masks"
    pd.DataFrame({
        "id": [image.stem for image in chosen],
        "split": ["train"] * N_TRAIN + ["val"] * N_TEST,
        "img_kind": ["fullres", "thumb256_squashed"] * ((N_TRAIN + N_TEST) // 2),
    }).to_csv(workdir / "cohort" / "manifest.csv", index=False)
    # A cross-dataset cohort as HAM10000 describes its images: one training lesion photographed twice
    # (left out, as every training image), test lesions (the last photographed twice), a diagnosis per image.
    other = linked_sample(isic_sample, workdir / "other", N_CROSS + 2, start=N_TRAIN + N_TEST)
    pd.DataFrame({
        "id": [image.stem for image in other],
        "suggested_split": ["train"] * 2 + ["val"] * N_CROSS,
        "lesion_id": ["L0", "L0", *(f"L{i}" for i in range(1, N_CROSS)), f"L{N_CROSS - 1}"],
        "dx": ["nv", "nv", *(["mel", "nv"] * (N_CROSS // 2))],
    }).to_csv(workdir / "other" / "manifest.csv", index=False)
    # Unlabelled images the students learn from, in no split of either cohort.
    linked_sample(isic_sample, workdir / "unlabelled", N_UNLABELLED, start=N_TRAIN + N_TEST + N_CROSS + 5)
    cross = {"images": str(workdir / "other" / "images"), "masks": str(workdir / "other" / "masks"),
             "splits": {"csv": str(workdir / "other" / "manifest.csv"), "column": "suggested_split",
                        "train": "train", "test": "val", "group": "lesion_id", "keep": ["dx"],
                        "subsets": {"dx": {"mel": "melanomas"}}}}
    config = {
        "dataset": {"name": "bench", "source": "folder", "size": 32, "dev_fraction": 0.25,
                    "folder": {"images": str(images), "masks": str(masks),
                               "splits": {"csv": str(workdir / "cohort" / "manifest.csv"), "column": "split",
                                          "train": "train", "test": "val", "keep": ["img_kind"],
                                          "subsets": {"img_kind": {"fullres": "full-resolution originals"}}}}},
        "healthy": {"source": "border_crops"},
        "lesion_views": {"zooms": [2]},
        "train": {"steps": 20, "batch_size": 8, "checkpoint_every": 10},
        "extraction": {"steps": [60, 100, 150], "draws": 1, "shard_size": 8},
        "unet": {"steps": 10, "batch_size": 4, "base_channels": 8, "label_budgets": BUDGETS},
        "metrics": {"bootstrap": 200, "ledger": "ledger.csv"},
        "benchmark": {"cross": {"other": cross}, "candidates": CANDIDATES},
        "student": {"enabled": True, "cohorts": {"unlabelled": str(workdir / "unlabelled" / "images")}, "max_images": 12},
    }
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))  # candidates in their order
    result = run_snakemake(workdir, "benchmark")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    return workdir / "results" / "bench"


@pytest.fixture(scope="module")
def chosen(benchmarked):
    """The root of the candidate chosen on the development split, which segments the test images."""
    return benchmarked / "candidate" / yaml.safe_load((benchmarked / "selection" / "chosen.yaml").read_text())["candidate"]


def test_the_candidate_with_the_best_development_dice_is_chosen_and_alone_tested(benchmarked, chosen):
    dev_crf = {name: pd.read_csv(benchmarked / "candidate" / name / "dev" / "evaluation" / "scores.csv")
               .query("method == 'diffseg_crf'")["dice"].mean() for name in CANDIDATES}
    assert chosen.name == max(CANDIDATES, key=lambda name: (dev_crf[name], name == "paper_steps"))
    selection = pd.read_csv(benchmarked / "selection" / "candidates.csv")
    assert selection["candidate"].tolist() == list(CANDIDATES)
    assert selection["crf_mean"].tolist() == pytest.approx([dev_crf[name] for name in CANDIDATES])
    # Only the chosen candidate segments the test images; each reuses the main run's models, and the
    # one with the configuration's step set its extraction.
    for name in CANDIDATES:
        assert (benchmarked / "candidate" / name / "evaluation" / "table1.csv").exists() == (name == chosen.name)
        assert not (benchmarked / "candidate" / name / "dev" / "model").exists()
    assert (benchmarked / "dev" / "diffs").is_dir() and not (benchmarked / "candidate" / "paper_steps" / "dev" / "diffs").exists()
    assert (benchmarked / "candidate" / "late_fixed_04" / "dev" / "diffs").is_dir()
    assert not (benchmarked / "evaluation" / "table1.csv").exists()


def test_official_splits_and_a_development_split_that_trains_nothing(benchmarked, chosen):
    manifest = pd.read_csv(benchmarked / "prepared" / "manifest.csv")
    counts = manifest["split"].value_counts().to_dict()
    assert counts["test"] == N_TEST and counts["train"] + counts["dev"] == N_TRAIN and counts["dev"] >= 1
    assert "img_kind" in manifest
    # The U-Net on all masks trained on the training split alone, the budgets on their subsets.
    assert f"U-Net trains on {counts['train']} images" in (benchmarked.parents[1] / "logs" / "bench" / "unet" / "train.log").read_text()
    for budget in BUDGETS:
        log = benchmarked.parents[1] / "logs" / "bench" / "unet" / f"masks-{budget}" / "train.log"
        assert f"U-Net trains on {budget} images" in log.read_text()
    # The development root scores the development images with the main run's models, trains none.
    dev = benchmarked / "dev"
    dev_manifest = pd.read_csv(dev / "prepared" / "manifest.csv")
    assert sorted(dev_manifest["id"]) == sorted(manifest.loc[manifest["split"] == "dev", "id"])
    assert (dev_manifest["split"] == "test").all()
    assert not (dev / "model").exists() and not (dev / "unet" / "model.pt").exists()
    dev_scores = pd.read_csv(chosen / "dev" / "evaluation" / "scores.csv")
    assert dev_scores["id"].nunique() == counts["dev"]


def test_table1_has_the_budget_rows_and_the_step_chosen_on_the_development_split(chosen):
    table = pd.read_csv(chosen / "evaluation" / "table1.csv")
    assert list(table["key"]) == ["otsu", "otsu_crf", "otsu_crf_student", "unet", "unet_3", "unet_8", "best_step",
                                  "diffseg_mean", "diffseg_crf", "diffseg_student"]
    assert (table["n"] == N_TEST).all()
    assert table.loc[table["key"] == "unet_3", "method"].item() == "Supervised U-Net, 3 masks"
    best = table.set_index("key").loc["best_step"]
    assert best["step_chosen_on"] == "development" and "development images" in best["method"]
    dev_per_step = pd.read_csv(chosen / "dev" / "evaluation" / "per_step.csv")
    assert f"t = {int(dev_per_step.loc[dev_per_step['mean'].idxmax(), 'step'])}," in best["method"]
    compared = table["key"] != "diffseg_crf"
    assert table.loc[compared, "p_holm_dice_vs_crf"].between(0, 1).all()
    scores = pd.read_csv(chosen / "evaluation" / "scores.csv")
    assert set(scores["img_kind"]) == {"fullres", "thumb256_squashed"}


def test_another_cohort_is_segmented_by_this_runs_models_without_retraining(benchmarked, chosen):
    manifest = pd.read_csv(benchmarked / "cross" / "other" / "prepared" / "manifest.csv")
    cross = chosen / "cross" / "other"
    assert len(manifest) == N_CROSS and (manifest["split"] == "test").all()
    assert not (cross / "model").exists() and not (cross / "unet" / "model.pt").exists()
    table = pd.read_csv(cross / "evaluation" / "table1.csv").set_index("key")
    assert (table["n"] == N_CROSS).all() and "unet_8" in table.index
    assert table.loc["best_step", "step_chosen_on"] == "development"
    scores = pd.read_csv(cross / "evaluation" / "scores.csv")
    assert set(scores["dx"]) == {"mel", "nv"} and scores["lesion_id"].nunique() == N_CROSS - 1
    # The lesion photographed twice is one unit of the bootstrap and of the paired test.
    assert (table["grouped_by"] == "lesion_id").all() and (table["groups"] == N_CROSS - 1).all()
    assert f"form {N_CROSS - 1} `lesion_id` groups" in (cross / "evaluation" / "table1.md").read_text()


def test_label_efficiency_curve_and_its_figure(benchmarked):
    curve = pd.read_csv(benchmarked / "evaluation" / "label_efficiency.csv")
    manifest = pd.read_csv(benchmarked / "prepared" / "manifest.csv")
    assert curve["masks"].tolist() == [*BUDGETS, int((manifest["split"] == "train").sum())]
    assert curve["method"].tolist() == ["unet_3", "unet_8", "unet"]
    with Image.open(benchmarked / "figures" / "label_efficiency.png") as image:
        assert image.format == "PNG" and image.size == (round(WIDTH * DPI), round(HEIGHT * DPI))
        assert np.asarray(image.convert("L"), dtype=np.float32).std() > 20


def test_the_size_and_failure_tables_show_the_step_chosen_on_the_development_split(chosen):
    label = pd.read_csv(chosen / "evaluation" / "table1.csv").set_index("key").loc["best_step", "method"]
    assert "development" in label
    for name in ("size_bins.csv", "mask_coverage.csv"):
        table = pd.read_csv(chosen / "evaluation" / name)
        assert set(table.loc[table["key"] == "best_step", "method"]) == {label}, name


def test_the_document_says_what_was_chosen_on_what(benchmarked, chosen):
    document = (benchmarked / "benchmark.md").read_text()
    for heading in ("## Protocol", "## Settings chosen on the development split", "## Table 1: the test split (10 images)",
                    "### Test images by `img_kind`", "## Cross-dataset: the bench models on other (6 test images)",
                    "### Test images by `dx`", "### Dice by lesion size",
                    "### Empty and frame-covering masks", "## Label efficiency", "## Training curve",
                    "## Verdict: DiffSeg against the best training-free row",
                    "## Compute per stage", "| training and test | **all stages** |",
                    "## Code that computed each stage", "## Configuration"):
        assert heading in document
    assert "development masks used for selection" in document
    assert ("- **DDPM training images**: lesion: the training images as whole frames, and their centre zoomed 2× "
            "(`lesion_views.zooms`); healthy skin: 4 border crops of each training image (0.25 of each side, "
            "enlarged); a lesion image in 50% of draws (`train.lesion_share`). No mask is used.") in document
    assert f"Post-training settings: candidate `{chosen.name}`" in document
    assert all(f"| {name} |" in document or f"| **{name}** (chosen) |" in document for name in CANDIDATES)
    assert f"| **{chosen.name}** (chosen) |" in document
    assert "Supervised U-Net, 8 masks" in document and "labelled images [95 % CI" in document
    assert "figures/label_efficiency.png" in document and "snakemake benchmark" in document
    # Size bins and failed masks for the test split and again for the cross-dataset cohort.
    assert document.count("### Dice by lesion size") == 2 and document.count("| Empty masks |") == 2
    assert "resampling whole `lesion_id` groups" in document  # the cross cohort's size bins


def test_the_fair_control_is_fused_with_the_tested_candidate_s_own_crf_settings(benchmarked, chosen):
    """Otsu's mask through the chosen candidate's DenseCRF: a candidate with its own crf settings fuses
    its own control; one with the configuration's reads the main run's."""
    own_crf = "crf" in CANDIDATES[chosen.name]
    assert (chosen / "otsu_crf").is_dir() == own_crf
    assert (benchmarked / ("candidate/" + chosen.name if own_crf else "") / "otsu_crf" / "shard-0000.h5").exists()
    table = pd.read_csv(chosen / "evaluation" / "table1.csv").set_index("key")
    assert table.loc["otsu_crf", "method"] == "Training-free (Otsu) + DenseCRF"
    assert table.loc["otsu_crf", "dice_mean"] != table.loc["otsu", "dice_mean"]


def test_every_test_split_scoring_joins_the_ledger_and_the_document_counts_them(benchmarked, chosen):
    ledger = pd.read_csv(benchmarked.parent.parent / "ledger.csv")
    # The chosen candidate's test split and the cross-dataset cohort's: the development scorings are not tests.
    assert sorted(ledger["split"]) == ["cohort:val", "other:val"]
    assert set(ledger["run"]) == {f"bench/candidate/{chosen.name}", f"bench/candidate/{chosen.name}/cross/other"}
    assert (ledger["candidate"] == chosen.name).all() and ledger["diffseg_crf_dice"].between(0, 1).all()
    document = (benchmarked / "benchmark.md").read_text()
    assert "The test split `cohort:val` (10 images) had not been scored before this scoring" in document
    assert "The test split `other:val` (6 test images)" not in document
    assert "The test split `other:val` (6 images) had not been scored before" in document
    # The subset of metrics.subsets has its own Table 1 with its own fair-control row.
    section = document.split("### Table 1 on subsets of the test images")[1]
    assert section.lstrip().startswith("#### full-resolution originals (`img_kind` = fullres, 5 images)")
    assert "| Training-free (Otsu) + DenseCRF | 5 |" in section


def test_annotating_with_the_run_folder_uses_its_chosen_settings_as_the_explicit_override_does(
        benchmarked, chosen, isic_sample):
    """`make annotate MODEL=results/bench`: the run's model and chosen candidate, no YAML copied by hand.
    The same cohort annotated with the configuration and the chosen override written out explicitly
    (and no candidates) gives the same masks."""
    import h5py

    from diffseg.data.images import read_mask
    from diffseg.roots import merged_config

    workdir = benchmarked.parents[1]
    linked_sample(isic_sample, workdir / "clinic", 3, start=N_TRAIN + N_TEST + N_CROSS + 2)
    cohort = f"cohort={workdir / 'clinic' / 'images'}"
    # The diffusion path, as the explicit override's run (which has no student) takes it.
    by_run = run_snakemake(workdir, "annotate", "--config", cohort, "model=results/bench",
                           "annotate={name: by_run, path: diffusion}")
    assert by_run.returncode == 0, by_run.stdout[-4000:] + by_run.stderr[-4000:]
    assert "review page (flagged images first): results/annotate/by_run/summary.html" in by_run.stdout + by_run.stderr
    page = (workdir / "results" / "annotate" / "by_run" / "summary.html").read_text()
    chosen_name = yaml.safe_load((benchmarked / "selection" / "chosen.yaml").read_text())["candidate"]
    assert f"segmented by the run results/bench (model results/bench/model/ema, its chosen candidate `{chosen_name}`)" in page

    config = yaml.safe_load((workdir / "config.yaml").read_text())
    choice = yaml.safe_load((benchmarked / "selection" / "chosen.yaml").read_text())
    explicit = merged_config(config, choice["override"])
    explicit["benchmark"] = {}
    (workdir / "explicit.yaml").write_text(yaml.safe_dump(explicit))
    by_hand = run_snakemake(workdir, "annotate", "--configfile", str(workdir / "explicit.yaml"),
                            "--config", cohort, "annotate={name: by_hand, path: diffusion}")
    assert by_hand.returncode == 0, by_hand.stdout[-4000:] + by_hand.stderr[-4000:]

    annotated = workdir / "results" / "annotate"
    with h5py.File(annotated / "by_run" / "diffs" / "shard-0000.h5") as h5:
        steps = list(h5["steps"][()])
    assert steps == explicit["extraction"]["steps"]  # the chosen candidate's steps, not the schema's
    masks = sorted((annotated / "by_run" / "crf" / "masks").rglob("*_segmentation.png"))
    assert len(masks) == 3
    for mask in masks:
        twin = annotated / "by_hand" / mask.relative_to(annotated / "by_run")
        assert (read_mask(mask) == read_mask(twin)).all(), mask.name


def test_the_students_learn_from_unscored_images_with_the_chosen_settings_and_segment_every_test_image(
    benchmarked, chosen
):
    manifest = pd.read_csv(benchmarked / "prepared" / "manifest.csv", dtype={"id": str})
    training = set(manifest.loc[manifest["split"] == "train", "id"])
    scored = set(manifest.loc[manifest["split"] != "train", "id"])
    unlabelled = {path.stem for path in (benchmarked.parents[1] / "unlabelled" / "images").iterdir()}
    for teacher in ("diffseg", "otsu_crf"):
        taught = pd.read_csv(benchmarked / "student" / teacher / "pseudo_labels.csv", dtype={"id": str})
        by_cohort = taught.groupby("cohort")["id"].apply(set).to_dict()
        # At most student.max_images of the training split, none of its development or test images.
        assert by_cohort["train"] <= training and len(by_cohort["train"]) == min(12, len(training))
        assert by_cohort["unlabelled"] == unlabelled and not set(taught["id"]) & scored
        assert set(taught.loc[~taught["kept"], "reason"]) <= {"empty", "covers frame", "uncertain"}
    # The pseudo-labels were made with the chosen candidate's settings (the candidates' step sets differ).
    pseudo_steps = read_maps(benchmarked / "pseudo" / "train" / "steps" / "shard-0000.h5", "steps")["steps"]
    np.testing.assert_array_equal(pseudo_steps, read_maps(chosen / "steps" / "shard-0000.h5", "steps")["steps"])
    for root in (chosen, chosen / "cross" / "other"):
        scores = pd.read_csv(root / "evaluation" / "scores.csv")
        students = scores[scores["method"].isin(["diffseg_student", "otsu_crf_student"])]
        assert students.groupby("method")["id"].nunique().tolist() == [scores["id"].nunique()] * 2
        assert students["uncertainty"].between(0, 1).all()
        assert "Spearman correlation of the uncertainty of DiffSeg student" in (root / "evaluation" / "table1.md").read_text()
    summary = pd.read_csv(chosen / "dev" / "student" / "summary.csv")
    assert list(summary["key"]) == ["diffseg_student", "otsu_crf_student"]
    document = (benchmarked / "benchmark.md").read_text()
    assert "## Self-training: the students" in document and "### DiffSeg against its fair controls" in document
    assert "DiffSeg student | Otsu + DenseCRF student |" in document
    # The verdict names the student against the best training-free row and its own control, on the test
    # split and the cross cohort; label efficiency places it, counting the development masks that chose
    # its teacher's settings.
    for images in ("bench test, all 10", "other test, all 6 (cross-dataset)", "other test, melanomas (3, cross-dataset)"):
        assert f"| {images} | DiffSeg student | Otsu + DenseCRF student |" in document
    # Its cells are those of the fair-controls table of the same images: one comparison, one Holm family.
    verdict_row = next(line for line in document.splitlines()
                       if line.startswith("| bench test, all 10 | DiffSeg + DenseCRF |")).split(" | ")
    control, difference, p_holm = verdict_row[2], verdict_row[4], verdict_row[5]
    controls_section = document[document.index("## DiffSeg against its fair controls"):]
    assert f"| DiffSeg + DenseCRF | {control} | 10 |" in controls_section
    controls_row = next(line for line in controls_section.splitlines()
                        if line.startswith(f"| DiffSeg + DenseCRF | {control} | 10 |")).split(" | ")
    assert (controls_row[5], controls_row[7].rstrip(" |")) == (difference, p_holm)
    dev_masks = yaml.safe_load((benchmarked / "selection" / "chosen.yaml").read_text())["dev_masks"]
    assert f"| DiffSeg student | 0 | {dev_masks} |" in document and "| Training-free (Otsu) | 0 | 0 |" in document


def test_a_resumed_benchmark_resolves_the_students_inputs(benchmarked):
    """Retraining the students of a finished run (their pseudo-label cohorts prepared by an earlier run,
    behind the select_candidate checkpoint) lists every pseudo-label shard as their input, not <TBD>
    (snakemake/snakemake#3862, which had trained a student with no input)."""
    result = run_snakemake(benchmarked.parents[1], "benchmark", "--dry-run", "--forcerun", "train_student")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    plan = result.stdout.split("rule train_student:")
    assert len(plan) == 3, result.stdout[-3000:]
    for job in plan[1:]:
        inputs = job.split("\n")[1]
        assert "<TBD>" not in inputs and "pseudo/unlabelled/prepared/store.h5" in inputs, inputs


def test_annotating_with_a_run_that_has_a_student_uses_the_student(benchmarked, isic_sample):
    """`make annotate MODEL=results/bench` on a run with a student: one U-Net pass per flip, no DDPM; the
    same table, review flags and page, the student's diversity in place of the per-step masks'."""
    workdir = benchmarked.parents[1]
    linked_sample(isic_sample, workdir / "ward", 3, start=N_TRAIN + N_TEST + N_CROSS + 2)
    result = run_snakemake(workdir, "annotate", "--config", f"cohort={workdir / 'ward' / 'images'}",
                           "model=results/bench", "annotate={name: by_student}")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    annotated = workdir / "results" / "annotate" / "by_student"
    assert not (annotated / "diffs").exists()  # the DDPM segmented nothing
    page = (annotated / "summary.html").read_text()
    assert "segmented by the DiffSeg student of the run results/bench (results/bench/student/diffseg/model.pt" in page
    table = pd.read_csv(annotated / "annotations.csv")
    assert len(table) == 3 and table["diversity"].between(0, 1).all()
    for mask in table["mask"]:
        assert (annotated / mask).is_file() and "student/crf/masks" in mask
    samples = read_maps(annotated / "student" / "steps" / "shard-0000.h5", "masks")["masks"]
    assert samples.shape[:2] == (3, 12)  # four flips at three levels per image
