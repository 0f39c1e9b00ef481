"""The colour model's seeds compared: the run's vote against centred discs that need no model."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import ndimage
from test_crf import dice, lesion_image

from diffseg.data.maps import write_maps
from diffseg.data.store import ImageStore, write_store
from diffseg.data.synthetic import write_synthetic_cohort
from diffseg.evaluation.breakdown import SIZE_BINS
from diffseg.evaluation.seed_ablation import (
    COMMITTED_SEED_ABLATIONS,
    OTSU,
    UNDECIDED,
    VOTE_SEED,
    centre_disc_seed,
    disc_name,
    fused_dice,
    seed_section,
    summary_row,
)
from diffseg.method.crf import CRFParams, crf_fuse
from diffseg.runtime.errors import BadInputError

REPO = Path(__file__).parents[1]
SCRIPT = REPO / "benchmarks" / "seed_ablation.py"


def test_a_disc_seed_is_lesion_at_the_centre_skin_outside_and_undecided_between():
    seed = centre_disc_seed(40, 0.1, 0.3)
    assert seed.dtype == np.float32 and seed.shape == (40, 40)
    assert seed[20, 20] == 1 and seed[0, 0] == 0 and seed[20, 20 + 8] == UNDECIDED  # 8 px = 0.2 of the side
    assert set(np.unique(seed)) == {0.0, UNDECIDED, 1.0}
    with pytest.raises(ValueError, match="core < ring"):
        centre_disc_seed(40, 0.3, 0.3)


def test_one_seed_serves_every_image_as_if_given_to_each():
    images, truths = map(np.stack, zip(*(lesion_image(radius=20, seed=s) for s in (0, 1)), strict=True))
    seed, params = centre_disc_seed(64, 0.1, 0.4), CRFParams(bilateral_sxy=4, colour_weight=0.7)
    scores = fused_dice(images, truths, seed, params)
    assert scores == pytest.approx([dice(crf_fuse(image, seed, params)[0], truth) for image, truth in zip(images, truths, strict=True)])
    assert scores.min() > 0.95  # a centred lesion: the disc alone seeds it well


def test_a_row_holds_the_mean_its_interval_the_paired_difference_and_each_size_bin():
    dice_ = np.array([0.9, 0.8, 0.5, 0.2])
    row = summary_row("disc 0.1/0.3", True, 0.5, dice_, [0.05, 0.2, 0.3, 0.6], dice_ + 0.1, n_resamples=200)
    assert row["dice"] == pytest.approx(0.6) and row["ci_low"] <= 0.6 <= row["ci_high"]
    assert row["minus_vote"] == pytest.approx(-0.1)
    assert row["minus_vote_ci_low"] == pytest.approx(-0.1) and row["minus_vote_ci_high"] == pytest.approx(-0.1)
    assert [row[name] for name in SIZE_BINS] == pytest.approx([0.9, 0.8, 0.5, 0.2])
    assert [row[f"n {name}"] for name in SIZE_BINS] == [1, 1, 1, 1]


def _table(vote_dice, disc_dices) -> pd.DataFrame:
    fraction = np.linspace(0.02, 0.8, len(vote_dice))
    rows = [summary_row(VOTE_SEED, True, 0.5, vote_dice, fraction, vote_dice, 200)]
    rows += [summary_row(disc_name(0.1, ring), True, 0.5, d, fraction, vote_dice, 200) for ring, d in disc_dices.items()]
    table = pd.DataFrame(rows)
    table.insert(0, "candidate", "steps_c")
    table.insert(0, "benchmark", "bench")
    return table


def test_the_section_compares_the_vote_with_the_best_disc():
    vote = np.full(8, 0.8)
    lines = seed_section(_table(vote, {0.3: vote - 0.2, 0.4: vote - 0.05}), "seeds.csv")
    text = "\n".join(lines)
    assert "`seeds.csv`" in text and "`steps_c`" in text and "8 development images of bench" in text
    assert "(disc 0.1/0.4): 0.750 [0.750, 0.750]" in text and "The diffusion maps add +0.050" in text
    assert "the run's vote → DenseCRF with the colour model (w = 0.5)" in text


def test_a_table_without_its_columns_is_refused_by_name():
    with pytest.raises(BadInputError, match="seeds.csv"):
        seed_section(_table(np.full(4, 0.8), {0.3: np.full(4, 0.5)}).drop(columns="minus_vote"), "seeds.csv")


@pytest.fixture
def finished_benchmark(tmp_path):
    """A results root as a benchmark leaves it: the development store, the chosen candidate and its
    development regions (mean masks that mark each lesion's core only)."""
    root = tmp_path / "results" / "bench"
    cohort = write_synthetic_cohort(tmp_path / "cohort", n_lesion=6, n_healthy=1, size=64, seed=3, test_fraction=0.5)
    (root / "dev" / "prepared").mkdir(parents=True)
    write_store(root / "dev" / "prepared" / "store.h5", cohort, 32, "synthetic")
    with ImageStore(root / "dev" / "prepared" / "store.h5") as store:
        positions = np.flatnonzero(store.has_mask)
        truths = store.masks(positions).astype(bool)
    cores = np.stack([ndimage.binary_erosion(truth, iterations=2) for truth in truths]).astype(np.float16)
    regions = root / "candidate" / "steps_c" / "dev" / "regions"
    regions.mkdir(parents=True)
    write_maps(regions / "shard-0000.h5", positions[:3], [f"i{p}" for p in positions[:3]], mean=cores[:3])
    write_maps(regions / "shard-0001.h5", positions[3:], [f"i{p}" for p in positions[3:]], mean=cores[3:])
    (root / "selection").mkdir()
    choice = {"candidate": "steps_c", "override": {"crf": {"bilateral_sxy": 4, "colour_weight": 0.6}}}
    (root / "selection" / "chosen.yaml").write_text(yaml.safe_dump(choice))
    return root, len(positions)


def test_the_script_writes_every_seed_of_a_finished_benchmark(finished_benchmark, tmp_path):
    root, n = finished_benchmark
    spec = importlib.util.spec_from_file_location("seed_ablation_script", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    script.main([str(root), "--out", str(tmp_path / "seeds.csv"), "--bootstrap", "100"])
    table = pd.read_csv(tmp_path / "seeds.csv")
    assert list(table["seed"]) == [OTSU, VOTE_SEED, VOTE_SEED, VOTE_SEED, *(disc_name(*d) for d in script.DISC_SEEDS)]
    assert (table["n"] == n).all() and set(table["candidate"]) == {"steps_c"} and set(table["benchmark"]) == {"bench"}
    fused = table[(table["seed"] == VOTE_SEED) & (table["colour_weight"] == 0.6)]
    assert len(fused) == 1 and fused["minus_vote"].iloc[0] == 0
    lines = seed_section(table, "seeds.csv")
    assert lines[0].startswith("## What the diffusion maps add")
    assert any(line.startswith("| training-free Otsu, no DenseCRF |") for line in lines)


def test_the_benchmark_page_holds_the_section_of_the_committed_seed_comparisons():
    page = REPO / "docs" / "benchmark.md"
    if not page.exists():
        pytest.skip("docs/benchmark.md is written by `make docs` after the two benchmark runs")
    for path in COMMITTED_SEED_ABLATIONS:
        section = seed_section(pd.read_csv(REPO / path), path)
        assert "\n".join(section) in page.read_text(encoding="utf-8"), "run `make docs`"
