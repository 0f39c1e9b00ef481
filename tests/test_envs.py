"""Every rule names a conda env, and each env pins the same versions as the pip install."""

from __future__ import annotations

import re

import yaml

from conftest import REPO


def pins(lines) -> dict[str, str]:
    """`name==version` lines as a dict (comments and unpinned lines ignored)."""
    found = {}
    for line in lines:
        match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)==([^\s;#]+).*", line)
        if match:
            found[match.group(1).lower()] = match.group(2)
    return found


def test_conda_env_pins_match_requirements():
    required = pins((REPO / "requirements.txt").read_text().splitlines())
    envs = sorted((REPO / "envs").glob("*.yaml"))
    assert envs
    for env_file in envs:
        env = yaml.safe_load(env_file.read_text())
        pip_lists = [item["pip"] for item in env["dependencies"] if isinstance(item, dict) and "pip" in item]
        env_pins = pins(pip_lists[0]) if pip_lists else {}
        assert env_pins, f"{env_file.name} pins no pip packages"
        for name, version in env_pins.items():
            assert required.get(name) == version, f"{env_file.name}: {name}=={version}, requirements.txt has {required.get(name)}"


def test_every_rule_names_a_conda_env():
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        text = smk.read_text()
        rules = re.findall(r"^(?:rule|checkpoint) (\w+):", text, flags=re.M)
        blocks = re.split(r"^(?:rule|checkpoint) \w+:", text, flags=re.M)[1:]
        for name, block in zip(rules, blocks, strict=True):
            if "script:" in block or "shell:" in block:
                assert "conda:" in block, f"{smk.name}: rule {name} has no conda env"
