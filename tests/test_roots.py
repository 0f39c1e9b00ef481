"""diffseg.roots: the results roots' paths, configurations and stage owners, without Snakemake."""

from __future__ import annotations

import re

import pytest
from snakemake.utils import validate
from test_config import SCHEMA, load_default_config

from diffseg.roots import STAGE_SETTINGS, ResultsRoots, Root, merged_config, wildcard_pattern
from diffseg.runtime.errors import ConfigError

EVERY_KIND = [
    "bench",
    "bench/validate/default/fold-1",
    "bench/validate/no_crf/fold-12",
    "bench/dev",
    "bench/cross/ham10000",
    "bench/candidate/late",
    "bench/candidate/late/dev",
    "bench/candidate/late/cross/ham10000",
]


@pytest.mark.parametrize("text", EVERY_KIND)
def test_a_root_formats_back_to_the_path_it_was_parsed_from(text):
    assert str(Root.parse(text, "bench")) == text


@pytest.mark.parametrize("text", EVERY_KIND)
def test_the_wildcard_pattern_matches_every_kind_of_root(text):
    assert re.fullmatch(wildcard_pattern("bench"), text)


@pytest.mark.parametrize("text", ["other", "bench/validate/default", "bench/validate/a/fold-x", "bench/dev/x",
                                  "bench/cross", "bench/candidate", "bench/evaluation"])
def test_a_path_that_is_no_root_is_refused_by_both(text):
    with pytest.raises(ValueError, match=re.escape(text)):
        Root.parse(text, "bench")
    assert not re.fullmatch(wildcard_pattern("bench"), text)


def test_the_dataset_name_is_matched_literally():
    assert not re.fullmatch(wildcard_pattern("a.b"), "axb")
    assert str(Root.parse("a.b/dev", "a.b")) == "a.b/dev"


def test_fields_of_each_kind():
    fold = Root.parse("bench/validate/no_crf/fold-3", "bench")
    assert (fold.variant, fold.fold, fold.held_out_split) == ("no_crf", 3, None)
    candidate = Root.parse("bench/candidate/late/cross/ham10000", "bench")
    assert (candidate.candidate, candidate.cohort, candidate.held_out_split) == ("late", "ham10000", "test")
    assert str(candidate.base) == "bench/cross/ham10000"
    assert Root.parse("bench/dev", "bench").held_out_split == "dev"
    assert str(Root("bench").with_candidate("default")) == "bench"
    assert str(Root("bench", development=True).with_candidate("late")) == "bench/candidate/late/dev"


def default_config() -> dict:
    """config/config.yaml with the schema's defaults filled in, as the workflow sees it."""
    config = load_default_config()
    validate(config, SCHEMA)
    return config


@pytest.fixture(scope="module")
def roots():
    config = merged_config(default_config(), {
        "dataset": {"name": "bench", "dev_fraction": 0.2},
        "validation": {"folds": 3, "ablations": {"no_crf": {"crf": {"rounds": 0}},
                                                  "small": {"dataset": {"size": 32}}}},
        "benchmark": {"cross": {"ham": {"images": "/data/ham"}},
                      "candidates": {"paper": {}, "late": {"extraction": {"steps": [200, 300]}},
                                     "late_fixed": {"extraction": {"steps": [200, 300]},
                                                    "threshold": {"method": "fixed"}}}},
    })
    return ResultsRoots(config)


def owner(roots, text, stage):
    return str(roots.stage_root(roots.parse(text), stage))


def test_a_variant_computes_only_the_stages_its_override_reaches(roots):
    assert owner(roots, "bench/validate/no_crf/fold-2", "model") == "bench/validate/default/fold-2"
    assert owner(roots, "bench/validate/no_crf/fold-2", "diffs") == "bench/validate/default/fold-2"
    assert owner(roots, "bench/validate/small/fold-2", "model") == "bench/validate/small/fold-2"
    assert owner(roots, "bench", "model") == "bench"


def test_a_held_out_root_takes_only_the_trained_models_from_the_main_run(roots):
    for text in ("bench/dev", "bench/cross/ham"):
        assert owner(roots, text, "model") == owner(roots, text, "unet_model") == "bench"
        assert {owner(roots, text, stage) for stage in ("prepare", "diffs", "otsu", "unet")} == {text}


def test_a_candidate_shares_an_extraction_with_the_first_candidate_of_its_step_set(roots):
    assert owner(roots, "bench/candidate/paper/dev", "diffs") == "bench/dev"
    assert owner(roots, "bench/candidate/late/dev", "diffs") == "bench/candidate/late/dev"
    assert owner(roots, "bench/candidate/late_fixed/dev", "diffs") == "bench/candidate/late/dev"
    assert owner(roots, "bench/candidate/late_fixed/cross/ham", "diffs") == "bench/candidate/late/cross/ham"
    assert owner(roots, "bench/candidate/late_fixed/cross/ham", "model") == "bench"
    assert owner(roots, "bench/candidate/late_fixed", "prepare") == "bench"


def test_each_root_has_its_own_configuration(roots):
    assert roots.setting(roots.parse("bench/validate/small/fold-1"), ["dataset", "size"]) == 32
    late = roots.parse("bench/candidate/late_fixed/cross/ham")
    assert roots.setting(late, ["threshold", "method"]) == "fixed"
    assert roots.setting(late, ["dataset", "folder", "images"]) == "/data/ham"
    assert roots.setting(late, ["dataset", "dev_fraction"]) == 0
    assert roots.setting(None, ["dataset", "dev_fraction"]) == 0.2
    assert roots.setting(roots.parse("bench/dev"), ["threshold", "method"]) == "otsu"


@pytest.mark.parametrize(("text", "message"), [
    ("bench/candidate/nope/dev", "no candidate 'nope' in benchmark.candidates"),
    ("bench/cross/nope", "no cohort 'nope' in benchmark.cross"),
    ("bench/validate/nope/fold-1", "no ablation 'nope' in validation.ablations"),
    ("bench/validate/default/fold-4", "fold 4 is not among 1…3"),
])
def test_an_unknown_name_is_an_error_naming_the_root(roots, text, message):
    with pytest.raises(ConfigError, match=re.escape(f"{text}: {message}")):
        roots.stage_root(roots.parse(text), "model")


def test_which_roots_choose_on_the_development_split(roots):
    chooses = {text: roots.chooses_on_development(roots.parse(text)) for text in
               ("bench", "bench/cross/ham", "bench/candidate/late", "bench/dev", "bench/validate/default/fold-1")}
    assert chooses == {"bench": True, "bench/cross/ham": True, "bench/candidate/late": True,
                       "bench/dev": False, "bench/validate/default/fold-1": False}
    assert str(roots.development_root(roots.parse("bench/candidate/late/cross/ham"))) == "bench/candidate/late/dev"


def test_overrides_that_cannot_work_are_refused_when_the_roots_are_built():
    base = default_config()
    with pytest.raises(ConfigError, match="validation.ablations.other changes the cohort"):
        ResultsRoots(merged_config(base, {"validation": {"ablations": {
            "other": {"dataset": {"folder": {"images": "/elsewhere"}}}}}}))
    with pytest.raises(ConfigError, match="benchmark.candidates.retrain overrides train"):
        ResultsRoots(merged_config(base, {"dataset": {"dev_fraction": 0.2},
                                          "benchmark": {"candidates": {"retrain": {"train": {"steps": 5}}}}}))
    with pytest.raises(ConfigError, match="set dataset.dev_fraction above 0"):
        ResultsRoots(merged_config(base, {"dataset": {"dev_fraction": 0},
                                          "benchmark": {"candidates": {"late": {"crf": {"rounds": 1}}}}}))


def test_every_merged_configuration_goes_through_the_validator():
    seen = []
    config = merged_config(default_config(), {
        "dataset": {"dev_fraction": 0.2},
        "validation": {"ablations": {"a": {"crf": {"rounds": 0}}}},
        "benchmark": {"cross": {"c": {"images": "/x"}}, "candidates": {"k": {"crf": {"rounds": 2}}}},
    })
    ResultsRoots(config, lambda merged, key, what: seen.append(key) or merged)
    ablations = [f"validation.ablations.{name}" for name in config["validation"]["ablations"]]
    assert "validation.ablations.a" in ablations
    assert seen == [*ablations, "benchmark.cross.c", "benchmark.candidates.k"]


def test_every_stage_has_an_owner_for_every_variant_and_candidate(roots):
    assert set(roots.variant_owners) == set(roots.candidate_owners) == set(STAGE_SETTINGS)
    assert all(set(owners) == set(roots.variants) for owners in roots.variant_owners.values())
    assert {"no_crf", "small"} <= set(roots.variants)


def test_params_are_key_ordered_so_that_settings_read_in_another_order_rerun_nothing():
    from diffseg.roots import key_ordered

    in_file_order = {"splits": {"csv": "m.csv", "column": "split"}, "steps": [300, 200], "name": "x"}
    sorted_elsewhere = {"name": "x", "splits": {"column": "split", "csv": "m.csv"}, "steps": [300, 200]}
    assert repr(key_ordered(in_file_order)) == repr(key_ordered(sorted_elsewhere))
    assert key_ordered(in_file_order)["steps"] == [300, 200]  # a list keeps its order
    assert list(key_ordered({1: "a", "0": "b"})) == ["0", 1]  # keys of mixed types sort by their text
