"""`snakemake validate` and `snakemake ablate` end to end on a miniature of a real folder cohort.

Eight real ISIC 2017 images with their masks, two folds, the tiny preset trained for a few steps:
this proves the targets run on a user's folder and that the folds, the shared stages and the
documents are right, not the quality of so short a training (docs/validation.md has the real run).
"""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from conftest import linked_sample, run_snakemake

pytestmark = pytest.mark.pipeline

N_IMAGES = 8


@pytest.fixture(scope="module")
def validated(isic_sample, tmp_path_factory):
    """The workdir after `snakemake ablate` (which includes `validate`) on 8 real images, 2 folds."""
    workdir = tmp_path_factory.mktemp("validate")
    linked_sample(isic_sample, workdir / "cohort", N_IMAGES)
    images, masks = workdir / "cohort" / "images", workdir / "cohort" / "masks"
    config = {
        "dataset": {"name": "cv", "source": "folder", "size": 32,
                    "folder": {"images": str(images), "masks": str(masks)}},
        "healthy": {"source": "border_crops"},
        "train": {"steps": 20, "batch_size": 8, "checkpoint_every": 10},
        "extraction": {"steps": [60, 150], "draws": 1, "shard_size": 4},
        "unet": {"steps": 10, "batch_size": 4, "base_channels": 8},
        "metrics": {"bootstrap": 200},
        "validation": {"folds": 2, "ablations": {"fixed_threshold": {"threshold": {"method": "fixed"}},
                                                   "untrained": {"train": {"steps": 1}}}},
    }
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    result = run_snakemake(workdir, "ablate")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    return workdir / "results" / "cv" / "validate"


def test_folds_are_disjoint_stratified_and_cover_the_cohort(validated):
    manifests = [pd.read_csv(validated / "default" / f"fold-{k}" / "prepared" / "manifest.csv") for k in (1, 2)]
    tested = [set(m.loc[m["split"] == "test", "id"]) for m in manifests]
    assert tested[0].isdisjoint(tested[1]) and len(tested[0] | tested[1]) == N_IMAGES
    assert [len(t) for t in tested] == [4, 4]
    assert (manifests[0].set_index("id")["fold"] == manifests[1].set_index("id")["fold"]).all()


def test_cross_validated_table1_scores_every_image_once(validated):
    table = pd.read_csv(validated / "table1.csv")
    assert list(table["key"]) == ["otsu", "otsu_crf", "unet", "best_step", "diffseg_mean", "diffseg_crf"]
    assert (table["n"] == N_IMAGES).all()
    assert table.loc[table["key"] == "otsu", "p_dice_vs_crf"].between(0, 1).all()
    assert table.loc[table["key"] == "unet", "p_dice_vs_crf"].between(0, 1).all()
    scores = pd.read_csv(validated / "scores.csv")
    assert scores.groupby("method")["id"].nunique().eq(N_IMAGES).all()
    per_fold = pd.read_csv(validated / "per_fold.csv")
    assert per_fold["n"].tolist() == [4, 4]


def test_ablations_share_what_they_do_not_change(validated):
    # A threshold ablation reuses the default's DDPM and maps; the untrained control trains its own.
    for k in (1, 2):
        assert not (validated / "fixed_threshold" / f"fold-{k}" / "model").exists()
        assert not (validated / "fixed_threshold" / f"fold-{k}" / "diffs").exists()
        assert (validated / "fixed_threshold" / f"fold-{k}" / "steps").is_dir()
        assert (validated / "untrained" / f"fold-{k}" / "model" / "ema").is_dir()
    table = pd.read_csv(validated / "ablation_table.csv")
    assert table["variant"].tolist() == ["default", "fixed_threshold", "untrained"]
    assert table.loc[1:, "p_crf_vs_default"].between(0, 1).all()


def test_documents_hold_the_tables_and_how_they_were_made(validated):
    validation = (validated / "validation.md").read_text()
    ablation = (validated / "ablation.md").read_text()
    for document in (validation, ablation):
        assert "snakemake" in document and "## Table 1, cross-validated" in document
        assert "Training-free (Otsu)" in document and "Supervised U-Net" in document
        assert "| Commit when written |" in document and "validation:" in document
    assert "## Ablations" in ablation and "`threshold: {method: fixed}`" in ablation
    assert "## Ablations" not in validation
