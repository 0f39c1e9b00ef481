"""Post-training settings chosen on the development split (diffseg.evaluation.selection), on constructed scores."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from diffseg.evaluation.selection import (
    chosen_candidate,
    read_choice,
    refused_overrides,
    selection_markdown,
    selection_table,
    write_choice,
)

from conftest import run_snakemake


def dev_scores(crf: list[float], vote: float = 0.5, steps: dict[int, float] | None = None) -> pd.DataFrame:
    """Development scores: DiffSeg + CRF Dice per image, the vote's and each step's (the same on every image)."""
    rows = []
    for i, dice in enumerate(crf):
        rows += [{"id": f"img{i}", "method": "diffseg_crf", "dice": dice},
                 {"id": f"img{i}", "method": "diffseg_mean", "dice": vote}]
        rows += [{"id": f"img{i}", "method": f"step_{step:03d}", "dice": value}
                 for step, value in (steps or {60: 0.3, 150: 0.4}).items()]
    return pd.DataFrame(rows)


def test_the_best_development_crf_dice_is_chosen_with_its_row():
    table = selection_table({"early": dev_scores([0.4, 0.5]), "late": dev_scores([0.6, 0.7], steps={200: 0.2, 500: 0.55})},
                            n_resamples=200, seed=0)
    assert table["candidate"].tolist() == ["early", "late"] and table["chosen"].tolist() == [False, True]
    late = table.set_index("candidate").loc["late"]
    assert late["dev_n"] == 2 and late["crf_mean"] == pytest.approx(0.65)
    assert late["crf_ci_low"] <= 0.65 <= late["crf_ci_high"]
    assert late["best_step"] == 500 and late["best_step_mean"] == pytest.approx(0.55)
    assert late["vote_mean"] == pytest.approx(0.5)


def test_a_tie_goes_to_the_first_listed_and_an_unscored_candidate_is_never_chosen():
    table = pd.DataFrame({"candidate": ["a", "b", "c"], "crf_mean": [float("nan"), 0.5, 0.5]})
    assert chosen_candidate(table) == "b"
    with pytest.raises(ValueError, match="no candidate"):
        chosen_candidate(table.iloc[:1])


def test_only_post_training_settings_may_be_overridden():
    assert refused_overrides({"extraction": {"steps": [200], "draws": 2}, "difference": {"reduce": "abs_mean"},
                              "threshold": {"method": "fixed", "value": 0.4}, "crf": {"rounds": 5}}) == []
    assert refused_overrides({"extraction": {"shard_size": 8, "steps": [1]}, "model": {"preset": "tiny"},
                              "train": {"steps": 1}}) == ["extraction.shard_size", "model", "train"]
    assert refused_overrides({"extraction": 3}) == ["extraction"]


def test_the_table_lists_every_candidate_and_marks_the_chosen_one(tmp_path):
    overrides = {"early": {}, "late": {"extraction": {"steps": [200, 500]}}}
    table = selection_table({"early": dev_scores([0.4]), "late": dev_scores([0.6])}, n_resamples=200, seed=0)
    markdown = selection_markdown(table, overrides)
    assert "| early | `(the configuration's)` | 1 |" in markdown
    assert "| **late** (chosen) | `{extraction: {steps: [200, 500]}}` | 1 | 0.600 [0.600, 0.600]" in markdown
    write_choice(tmp_path / "chosen.yaml", table, overrides)
    assert read_choice(tmp_path / "chosen.yaml") == {"candidate": "late", "override": overrides["late"],
                                                      "dev_masks": 1, "dev_dice_crf": pytest.approx(0.6)}


@pytest.mark.parametrize("override, named", [
    ({"unet": {"steps": 5}}, "benchmark.candidates.bad overrides unet"),
    ({"threshold": {"method": "median"}}, "benchmark.candidates.bad is not a valid override"),
])
def test_a_candidate_that_would_retrain_or_is_invalid_is_refused_by_name(tmp_path, override, named):
    config = {"dataset": {"dev_fraction": 0.2}, "benchmark": {"candidates": {"bad": override}}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = run_snakemake(tmp_path, "-n", "benchmark")
    assert result.returncode != 0 and named in result.stdout + result.stderr
