"""The development-split curves: benchmarks/dev_curve.py on a small cohort, the section of
docs/benchmark.md written from its CSV, and the committed H200 measurements behind both docs."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from diffseg.data.store import ImageStore
from diffseg.data.synthetic import write_synthetic_cohort
from diffseg.evaluation.dev_curves import COMMITTED_CURVES, best_step_sets, dev_curve_section, read_curves

from conftest import REPO

H200 = REPO / "benchmarks" / "h200"


def _row(**values) -> dict:
    row = {
        "variant": "tiny_64px_dropout0.1", "device": "NVIDIA H200", "preset": "tiny", "size": 64,
        "label_dropout": 0.1, "batch_size": 16, "train_steps": 1000, "train_seconds": 36.0,
        "step_set": "steps_60_150", "dev_images": 184, "otsu_dice": 0.68, "best_t": 140,
        "best_step_dice": 0.45, "vote_dice": 0.42, "vote_ci_low": 0.38, "vote_ci_high": 0.46,
        "per_step_dice": json.dumps([0.45, 0.40, 0.41, 0.39]),
    }
    return row | values


def test_each_trained_model_keeps_its_best_step_set_by_the_vote():
    curve = pd.DataFrame([
        _row(),
        _row(step_set="steps_200_500", vote_dice=0.48, vote_ci_low=0.44, vote_ci_high=0.52),
        _row(train_steps=4000, vote_dice=0.50),
        _row(train_steps=4000, step_set="steps_200_500", vote_dice=0.47),
    ])
    best = best_step_sets(curve)
    assert list(zip(best["train_steps"], best["step_set"], best["vote_dice"], strict=True)) == [
        (1000, "steps_200_500", 0.48),
        (4000, "steps_60_150", 0.50),
    ]
    assert list(best["images_seen"]) == [16000, 64000]


def test_the_section_compares_budgets_and_label_dropout_from_the_numbers():
    curve = pd.DataFrame([
        _row(),
        _row(batch_size=64, train_steps=3000, vote_dice=0.50, vote_ci_low=0.46, vote_ci_high=0.53),
        _row(variant="tiny_64px_dropout0", label_dropout=0.0, batch_size=64, train_steps=3000, vote_dice=0.70,
             vote_ci_low=0.66, vote_ci_high=0.74, per_step_dice=json.dumps([0.1, 0.2, 0.7])),
    ])
    text = "\n".join(dev_curve_section(curve, "curve.csv"))
    assert "Written from `curve.csv`" in text and "one NVIDIA H200" in text
    assert "| tiny 64 px | 0 | 64 | 3000 | 192000 | 36 | steps_60_150 | 0.700 [0.660, 0.740] | 0.450 (140) |" in text
    assert "Best vote of any model: 0.700 [0.660, 0.740]" in text and "0.020 above Otsu." in text
    assert "12× the images seen (16000 → 192000) moved the vote from 0.420 to 0.500 (+0.080)" in text
    assert "0: 0.700 [0.660, 0.740]; 0.1: 0.500 [0.460, 0.530] — the intervals do not overlap." in text
    assert "In 1 of 3 rows the best single step is one of the last two" in text


def test_mirrored_crops_are_compared_with_enlarged_ones_trained_alike_on_the_same_device():
    cpu = {"device": "cpu (2 threads)", "label_dropout": 0.0, "batch_size": 16, "train_steps": 2000}
    curve = pd.concat([
        pd.DataFrame([_row()]),  # an earlier run: no crop_scale column, so enlarged crops
        pd.DataFrame([
            _row(**cpu, variant="tiny_64px_dropout0", crop_scale="enlarge", vote_dice=0.50, vote_ci_low=0.46,
                 vote_ci_high=0.54),
            _row(**cpu, variant="tiny_64px_dropout0_mirror", crop_scale="mirror", vote_dice=0.60, vote_ci_low=0.56,
                 vote_ci_high=0.64),
        ]),
    ], ignore_index=True)
    text = "\n".join(dev_curve_section(curve, "a.csv"))
    assert "run on NVIDIA H200, cpu (2 threads), each model on one" in text
    assert "| cpu (2 threads) | tiny 64 px, mirrored crops | 0 | 16 | 2000 |" in text
    assert "| NVIDIA H200 | tiny 64 px | 0.1 | 16 | 1000 |" in text
    assert ("side by side on cpu (2 threads)): vote 0.600 [0.560, 0.640] against 0.500 [0.460, 0.540] (+0.100) "
            "— the intervals do not overlap.") in text
    assert "mirrored" not in "\n".join(dev_curve_section(curve.iloc[:2], "a.csv"))


def test_zoomed_lesion_views_are_compared_with_whole_frames_by_lesion_size():
    cpu = {"device": "cpu (1 threads)", "label_dropout": 0.1, "batch_size": 16, "train_steps": 1000}
    sizes = json.dumps({"< 10 %": 84, "≥ 50 %": 14}, ensure_ascii=False)
    curve = pd.DataFrame([
        _row(**cpu, variant="tiny_64px_dropout0.1", vote_dice=0.46, vote_ci_low=0.43, vote_ci_high=0.50,
             vote_dice_by_size=json.dumps({"< 10 %": 0.60, "≥ 50 %": 0.10}, ensure_ascii=False), images_by_size=sizes,
             map_auc_by_size=json.dumps({"< 10 %": 0.94, "≥ 50 %": 0.55}, ensure_ascii=False),
             darkness_auc_by_size=json.dumps({"< 10 %": 0.92, "≥ 50 %": 0.87}, ensure_ascii=False)),
        _row(**cpu, variant="tiny_64px_dropout0.1_zoom2+4", lesion_zooms="2+4", vote_dice=0.52, vote_ci_low=0.48,
             vote_ci_high=0.55, vote_dice_by_size=json.dumps({"< 10 %": 0.58, "≥ 50 %": 0.40}, ensure_ascii=False),
             images_by_size=sizes),
    ])
    curve.loc[0, "lesion_zooms"] = float("nan")  # as pandas reads an empty cell
    curve.loc[1, "map_auc_by_size"] = float("nan")
    # The same baseline from an earlier run that did not score by size: the fuller row is the one kept.
    earlier = _row(**cpu, variant="tiny_64px_dropout0.1", vote_dice=0.46, vote_ci_low=0.43, vote_ci_high=0.50)
    curve = pd.concat([pd.DataFrame([earlier]), curve], ignore_index=True)
    text = "\n".join(dev_curve_section(curve, "a.csv"))
    assert "| tiny 64 px, lesion views ×2+4 | 0.1 | 16 | 1000 |" in text
    assert ("Zoomed-in lesion views (zooms 2+4) added to the lesion class, against whole frames only (tiny, label "
            "dropout 0.1, 1000 steps × 16, side by side on cpu (1 threads)): vote 0.520 [0.480, 0.550] against "
            "0.460 [0.430, 0.500] (+0.060) — the intervals overlap.") in text
    assert "| model | < 10 % (84 images) | ≥ 50 % (14 images) |" in text
    assert "| tiny 64 px | 0.600 (AUC 0.94) | 0.100 (AUC 0.55) |" in text
    assert "| tiny 64 px, lesion views ×2+4 | 0.580 | 0.400 |" in text  # a row scored before the AUC was
    assert "| Otsu's darkness map (training-free) | (AUC 0.92) | (AUC 0.87) |" in text
    assert "Best vote of any model: 0.520 [0.480, 0.550] (tiny 64 px, lesion views ×2+4, label dropout 0.1" in text
    assert "Training budget" not in text  # the two rows are different trainings, not one at two budgets


def test_a_table_without_the_needed_columns_is_refused():
    with pytest.raises(ValueError, match="vote_dice"):
        best_step_sets(pd.DataFrame([_row()]).drop(columns="vote_dice"))


def test_the_benchmark_page_ends_with_the_section_of_the_committed_curves():
    page = REPO / "docs" / "benchmark.md"
    if not page.exists():
        pytest.skip("docs/benchmark.md is written by `make docs` after the two benchmark runs")
    section = dev_curve_section(read_curves(REPO / path for path in COMMITTED_CURVES), "`, `".join(COMMITTED_CURVES))
    assert "\n".join(section) in page.read_text(encoding="utf-8"), "run `make docs`"


def test_dev_curve_script_trains_in_stages_and_scores_the_development_split(tmp_path):
    cohort = write_synthetic_cohort(tmp_path / "data", n_lesion=16, n_healthy=0, size=48, seed=1)
    manifest = pd.DataFrame({"id": cohort["id"], "split": ["train"] * 12 + ["val"] * 4})
    manifest.to_csv(tmp_path / "data" / "manifest.csv", index=False)
    out = tmp_path / "curve"
    subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "dev_curve.py"), "--data", str(tmp_path / "data"),
         "--out", str(out), "--variant", "tiny:32:0.1:2,4", "--variant", "tiny:32:0.1:2:zoom=2", "--dev-fraction", "0.25", "--draws", "1"],
        check=True, capture_output=True, cwd=REPO, env={"PYTHONPATH": str(REPO / "src"), "TQDM_DISABLE": "1"},
    )
    everything = pd.read_csv(out / "dev_curve.csv", keep_default_na=False)
    zoomed = everything[everything["variant"] == "tiny_32px_dropout0.1_zoom2"]
    assert len(zoomed) == 3 and set(zoomed["lesion_zooms"]) == {"2"}
    curve = everything[everything["variant"] == "tiny_32px_dropout0.1"]
    assert set(curve["lesion_zooms"]) == {""}
    assert sorted(set(curve["train_steps"])) == [2, 4]
    assert len(curve) == 2 * 3  # every stage scores the three step sets
    for row in everything.itertuples():  # the vote's Dice by lesion size covers every development image
        assert sum(json.loads(row.images_by_size).values()) == row.dev_images
        assert set(json.loads(row.vote_dice_by_size)) <= set(json.loads(row.images_by_size))
        assert all(0 <= auc <= 1 for auc in json.loads(row.map_auc_by_size).values() if auc == auc)
        assert all(0 <= auc <= 1 for auc in json.loads(row.darkness_auc_by_size).values() if auc == auc)
    with ImageStore(out / "store_32.h5") as store:
        dev = {store.ids[i] for i in np.flatnonzero(store.split == "dev")}
    assert set(curve["dev_images"]) == {len(dev)} and 1 <= len(dev) < 12
    assert dev <= set(manifest.loc[manifest["split"] == "train", "id"])  # carved from training, never val
    assert curve["vote_dice"].between(0, 1).all() and curve["otsu_dice"].between(0, 1).all()
    assert len(pd.read_csv(out / "tiny_32px_dropout0.1" / "loss.csv")) == 4  # the second stage resumed


def test_scaling_doc_shows_the_measured_gpu_throughput():
    sys.path.insert(0, str(REPO / "benchmarks"))
    from device_throughput import table_lines

    rows = json.loads((H200 / "throughput.json").read_text(encoding="utf-8"))
    scaling = (REPO / "docs" / "scaling.md").read_text(encoding="utf-8")
    for line in table_lines(rows):
        assert line in scaling, f"docs/scaling.md lacks {line!r}: rerun benchmarks/device_throughput.py"
    paper = next(r for r in rows if (r["preset"], r["size"]) == ("paper", 128) and "H200" in r["device"])
    assert f"≈ {20_000 / paper['train_steps_per_s'] / 60:.0f} min" in scaling
    assert f"≈ {40_000 / paper['extract_pipeline_images_steps_per_s'] / 60:.1f} min" in scaling
    assert f"≈ {4e6 / paper['extract_pipeline_images_steps_per_s'] / 3600:.1f} h" in scaling


def test_scaling_doc_prose_quotes_the_measured_rates():
    rows = json.loads((H200 / "throughput.json").read_text(encoding="utf-8"))
    scaling = " ".join((REPO / "docs" / "scaling.md").read_text(encoding="utf-8").split())
    gpu = {(r["preset"], r["size"]): r for r in rows if "H200" in r["device"]}
    paper, tiny = gpu[("paper", 128)], gpu[("tiny", 64)]
    assert f"~{paper['train_tflops']:.0f} TFLOP/s and the bare forward ~{paper['extract_tflops']:.0f} TFLOP/s" in scaling
    assert f"{tiny['train_steps_per_s']} training steps/s at batch 16 is ~{1000 / tiny['train_steps_per_s']:.0f} ms" in scaling
    piped, bare = tiny["extract_pipeline_images_steps_per_s"], tiny["extract_bare_images_steps_per_s"]
    assert f"{piped:,.0f} images·steps/s against {bare:,.0f}".replace(",", " ") in scaling
    assert f"({100 * piped / bare:.0f} %)" in scaling
    kept = paper["extract_pipeline_images_steps_per_s"] / paper["extract_bare_images_steps_per_s"]
    assert f"keeps {100 * kept:.0f} % of the bare rate" in scaling
    curve = pd.read_csv(H200 / "dev_curve.csv")
    batch64 = curve[curve["batch_size"] == 64].drop_duplicates("variant")
    rates = batch64["train_steps"] / batch64["train_seconds"]
    assert f"batch 64 at {rates.mean():.0f} steps/s" in scaling


def test_training_budgets_are_compared_on_one_device_only():
    gpu = _row(train_steps=1000, vote_dice=0.45)
    cpu = _row(device="cpu (2 threads)", train_steps=2000, vote_dice=0.50, variant="tiny_64px_dropout0.1")
    assert "Training budget" not in "\n".join(dev_curve_section(pd.DataFrame([gpu, cpu]), "a.csv"))
    longer = _row(train_steps=4000, vote_dice=0.48)
    text = "\n".join(dev_curve_section(pd.DataFrame([gpu, cpu, longer]), "a.csv"))
    assert "Training budget (tiny, label dropout 0.1, NVIDIA H200): 4× the images seen (16000 → 64000)" in text
