"""The config schema: defaults come from it, and unknown or wrong keys stop the run naming them."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from conftest import REPO

SCHEMA = str(REPO / "workflow" / "schemas" / "config.schema.yaml")


def load_default_config() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def test_defaults_are_filled_from_the_schema():
    config = load_default_config()
    validate(config, SCHEMA)
    assert config["extraction"]["steps"] == list(range(200, 501, 30))  # chosen on ISIC 2017 (test_defaults)
    assert config["semantics"] == {
        "a": "healthy",
        "b": "lesion",
        "model": "conditional",
        "t_ranges": {},
        "finetune_steps": None,
        "finetune_t_range": [50, 60],
    }
    assert config["train"]["lesion_share"] == 0.5
    assert config["crf"]["bilateral_sxy"] == 4 and config["crf"]["bilateral_srgb"] == 13
    assert config["dataset"]["synthetic"]["n_lesion"] == 240


def test_empty_config_is_complete_after_validation():
    config: dict = {}
    validate(config, SCHEMA)
    assert config["dataset"]["source"] == "synthetic"
    assert config["model"]["preset"] == "tiny"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda c: c["dataset"].update(sauce="folder"), "sauce"),
        (lambda c: c.update(extraktion={}), "extraktion"),
        (lambda c: c["dataset"].update(source="dropbox"), "dropbox"),
        (lambda c: c["dataset"].update(size="big"), "big"),
        (lambda c: c["extraction"].update(steps=[0, 60]), "0"),
        (lambda c: c["threshold"].update(value=1.5), "1.5"),
        (lambda c: c["train"].update(steps=-3), "-3"),
    ],
)
def test_wrong_keys_and_values_are_named(change, named):
    config = load_default_config()
    validate(config, SCHEMA)
    broken = copy.deepcopy(config)
    change(broken)
    with pytest.raises(WorkflowError) as error:
        validate(broken, SCHEMA)
    assert named in str(error.value)


@pytest.mark.parametrize("path", sorted((REPO / "config").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_is_valid(path):
    config = yaml.safe_load(path.read_text()) or {}
    validate(config, SCHEMA)


def test_config_readme_documents_every_top_level_section_and_every_config_file():
    readme = (REPO / "config" / "README.md").read_text()
    schema = yaml.safe_load(Path(SCHEMA).read_text())
    headings = re.findall(r"^### (.+)$", readme, flags=re.MULTILINE)
    documented = {name for heading in headings for name in re.findall(r"`([a-z_]+)`", heading)}
    assert set(schema["properties"]) - documented == set()
    for config_file in (REPO / "config").glob("*.yaml"):
        assert f"`{config_file.name}`" in readme, config_file.name
