"""The whole pipeline, end to end, on a miniature of the embedded default (a minute or two on CPU).

The miniature keeps every stage and the sharding real (three shards) but trains for a few dozen
steps, so these tests check that stages connect and their outputs are sound, not the quality of a
model trained that briefly; quality is reported from the full default run.
"""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest

from conftest import run_snakemake

pytestmark = pytest.mark.pipeline


def test_table1_has_every_method_with_sound_scores(finished_run):
    table = pd.read_csv(finished_run / "evaluation" / "table1.csv")
    assert list(table["key"]) == ["otsu", "otsu_crf", "unet", "best_step", "diffseg_mean", "diffseg_crf"]
    test_images = pd.read_csv(finished_run / "prepared" / "manifest.csv").query("split == 'test' and label == 1")
    assert (table["n"] == len(test_images)).all()
    for metric in ("dice", "iou", "precision", "recall"):
        assert table[f"{metric}_mean"].between(0, 1).all()
        assert (table[f"{metric}_ci_low"] <= table[f"{metric}_mean"] + 1e-9).all()
        assert (table[f"{metric}_mean"] <= table[f"{metric}_ci_high"] + 1e-9).all()
    assert "DiffSeg + DenseCRF" in (finished_run / "evaluation" / "table1.md").read_text()


def test_every_test_image_is_scored_once_per_method(finished_run):
    scores = pd.read_csv(finished_run / "evaluation" / "scores.csv")
    methods = {"step_060", "step_100", "step_150", "diffseg_mean", "diffseg_crf", "unet", "otsu", "otsu_crf"}
    assert set(scores["method"]) == methods
    counts = scores.groupby("method")["id"].nunique()
    assert counts.nunique() == 1 and counts.iloc[0] == scores["id"].nunique()


def test_shards_are_joined_into_one_virtual_file(finished_run):
    shards = sorted((finished_run / "diffs").glob("shard-*.h5"))
    assert len(shards) >= 2
    with h5py.File(finished_run / "diffs" / "joined.h5", "r") as joined:
        assert joined["diff"].is_virtual
        total = sum(h5py.File(s, "r")["diff"].shape[0] for s in shards)
        assert joined["diff"].shape == (total, 3, 32, 32)
        last = h5py.File(shards[-1], "r")
        np.testing.assert_array_equal(joined["diff"][-1], last["diff"][-1])


def test_per_step_masks_and_regions_agree(finished_run):
    with h5py.File(finished_run / "steps" / "shard-0000.h5", "r") as masks, \
            h5py.File(finished_run / "regions" / "shard-0000.h5", "r") as regions:
        steps = masks["masks"][()].astype(bool)  # (n, S, H, W)
        np.testing.assert_array_equal(regions["consistent"][()].astype(bool), steps.all(axis=1))
        np.testing.assert_allclose(regions["mean"][()], steps.mean(axis=1), atol=1e-3)


def test_ged_table_covers_the_test_images(finished_run):
    ged = pd.read_csv(finished_run / "uncertainty" / "ged.csv")
    scores = pd.read_csv(finished_run / "evaluation" / "scores.csv")
    assert set(ged["id"]) == set(scores["id"])
    assert ged["diversity"].between(0, 1).all() and ged["ged"].between(0, 2).all()


def test_second_run_has_nothing_to_do(finished_run):
    result = run_snakemake(finished_run.parent.parent, "-n")
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr
