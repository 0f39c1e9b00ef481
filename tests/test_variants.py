"""Ablation variants: deep-merged overrides and the stages each one recomputes."""

import yaml
from snakemake.utils import validate
from test_config import SCHEMA, load_default_config

from diffseg.roots import STAGE_SETTINGS, merged_config, stage_owners

from conftest import run_snakemake


def test_merge_is_deep_replaces_lists_and_leaves_the_base_alone():
    base = {"threshold": {"method": "otsu", "value": 0.5}, "extraction": {"steps": [60, 150], "draws": 4}}
    merged = merged_config(base, {"threshold": {"method": "fixed"}, "extraction": {"steps": [10]}})
    assert merged == {"threshold": {"method": "fixed", "value": 0.5}, "extraction": {"steps": [10], "draws": 4}}
    assert base["threshold"]["method"] == "otsu" and base["extraction"]["steps"] == [60, 150]


def test_only_the_stages_an_override_reaches_are_recomputed():
    base = load_default_config()
    validate(base, SCHEMA)  # every setting present, with its default

    def recomputed(override):
        configs = {"default": base, "variant": merged_config(base, override)}
        return {stage for stage in STAGE_SETTINGS if stage_owners(configs, stage)["variant"] == "variant"}

    assert recomputed({"threshold": {"method": "fixed"}}) == set()
    # The fair control (Otsu's mask through the variant's DenseCRF) reads the crf section too.
    assert recomputed({"crf": {"rounds": 5}}) == {"otsu_crf"}
    assert recomputed({"crf": {"colour_weight": 0}}) == {"otsu_crf"}
    assert recomputed({"extraction": {"steps": [10, 20]}}) == {"diffs"}
    assert recomputed({"extraction": {"shard_size": 8}}) == {"diffs", "unet", "otsu", "otsu_crf"}
    assert recomputed({"train": {"steps": 1}}) == {"model", "diffs"}
    assert recomputed({"otsu": {"channels": "blue"}}) == {"otsu", "otsu_crf"}
    assert recomputed({"dataset": {"size": 32}}) == set(STAGE_SETTINGS)


def test_a_combined_ablation_reuses_the_stages_of_the_ones_it_combines():
    base = {"semantics": {"model": "conditional"}, "train": {"steps": 600}, "extraction": {"steps": [60]},
            "threshold": {"smooth_sigma": 1.0}}  # fmt: skip
    overrides = {
        "pair": {"semantics": {"model": "pair"}},
        "late": {"extraction": {"steps": [150]}},
        "pair_late": {"semantics": {"model": "pair"}, "extraction": {"steps": [150]}},
        "same_as_default": {"train": {"steps": 600}},
    }
    configs = {"default": base, **{name: merged_config(base, o) for name, o in overrides.items()}}
    model, diffs = stage_owners(configs, "model"), stage_owners(configs, "diffs")
    assert model == {"default": "default", "pair": "pair", "late": "default", "pair_late": "pair",
                     "same_as_default": "default"}  # fmt: skip
    assert diffs == {"default": "default", "pair": "pair", "late": "late", "pair_late": "pair_late",
                     "same_as_default": "default"}  # fmt: skip


def test_an_ablation_that_changes_the_cohort_is_refused(tmp_path):
    override = {"dataset": {"synthetic": {"n_lesion": 10}}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"validation": {"ablations": {"fewer_lesions": override}}}))
    result = run_snakemake(tmp_path, "-n", "validate")
    assert result.returncode != 0
    assert "validation.ablations.fewer_lesions changes the cohort" in result.stdout + result.stderr
