"""STAGE_SETTINGS (diffseg.roots) is in step with the rules that compute each shared stage.

An ablation variant reuses a stage of an earlier variant when the stage's settings are equal: a setting
one of its rules reads that the stage does not list would let two variants that differ in it share one
output. The rules come from the workflow as Snakemake parses it (tests/workflow_rules.py). Under a results
root, rules read the root's configuration through functions that `depends_on` marks
(workflow/rules/common.smk) with the settings they read and the stage whose files they ask for. The
settings a mark names are taken as declared: what is checked of a marked function's code is only that it
reads no setting of the main config.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
from snakemake.io import strip_wildcard_constraints
from workflow_rules import workflow_rules

from diffseg.roots import STAGE_SETTINGS

RULES = workflow_rules()
WORKFLOW = next(iter(RULES.values())).workflow
ROOT_RULES = {name: rule for name, rule in RULES.items() if "root" in rule.wildcard_names}


def unwrapped(item):
    """An input or params item; the function itself where Snakemake wraps one (given to unpack())."""
    function = getattr(getattr(item, "_file", item), "callable", None)
    return function if inspect.isfunction(function) else item


def inputs(rule) -> list:
    return [unwrapped(item) for item in rule.input]


def params(rule) -> list:
    return [unwrapped(value) for value in rule.params]


def producer(pattern: str) -> str:
    """The root rule that writes files of `pattern`."""
    names = [name for name, rule in ROOT_RULES.items()
             if pattern in {strip_wildcard_constraints(str(path)) for path in rule.output}]
    assert len(names) == 1, f"{pattern}: written by {names or 'no rule'}"
    return names[0]


def stage_requests() -> dict[str, set[str]]:
    """For each stage, the file patterns rules ask of the root that computes it."""
    requests: dict[str, set[str]] = {}
    for rule in RULES.values():
        for item in inputs(rule):
            if getattr(item, "stage", None):
                requests.setdefault(item.stage, set()).add(item.pattern)
    return requests


def stage_rules(stage: str) -> set[str]:
    """The rules that compute `stage`: those writing the files asked of it, and those upstream of them in
    the same root."""
    found, todo = set(), [producer(pattern) for pattern in stage_requests()[stage]]
    while todo:
        name = todo.pop()
        if name not in found:
            found.add(name)
            for item in inputs(ROOT_RULES[name]):
                pattern = str(getattr(item, "pattern", None) or item)
                if getattr(item, "stage", None) in (None, stage) and "{root}" in pattern:
                    todo.append(producer(pattern))
    return found


def depends_on(stage: str) -> dict[str, set[str]]:
    """Every setting the rules of `stage` depend on, with the rules that read it: their own, and all
    those of the stages they read."""
    settings: dict[str, set[str]] = {}
    for name in stage_rules(stage):
        for item in [*inputs(ROOT_RULES[name]), *params(ROOT_RULES[name])]:
            if callable(item):
                assert hasattr(item, "settings"), f"{name}: {item.__qualname__} is not marked with depends_on"
                upstream = STAGE_SETTINGS[item.stage] if item.stage not in (None, stage) else ()
                read = [*item.settings, *upstream]
            else:
                assert isinstance(item, str), f"{name}: the constant {item!r} is not a setting of the root"
                read = []
            for setting in read:
                settings.setdefault(setting, set()).add(name)
    return settings


def covers(listed: tuple[str, ...], setting: str) -> bool:
    """Whether the dotted prefixes `listed` include `setting` (`dataset` covers `dataset.size`)."""
    return any(setting == prefix or setting.startswith(prefix + ".") for prefix in listed)


def test_every_listed_stage_is_asked_for_and_the_other_way_round():
    assert set(stage_requests()) == set(STAGE_SETTINGS)


@pytest.mark.parametrize("stage", STAGE_SETTINGS)
def test_a_stage_lists_every_setting_its_rules_read(stage):
    assert stage_rules(stage)
    missing = {setting: sorted(rules) for setting, rules in depends_on(stage).items()
               if not covers(STAGE_SETTINGS[stage], setting)}
    assert not missing, f"STAGE_SETTINGS[{stage!r}] lacks the settings its rules read: {missing}"


def code_objects(code) -> list:
    """`code` and the code of the functions and comprehensions inside it."""
    return [code, *(inner for const in code.co_consts if inspect.iscode(const) for inner in code_objects(const))]


def names_in(function) -> set[str]:
    """The global and attribute names `function` uses."""
    return {name for code in code_objects(function.__code__) for name in code.co_names}


def reached_functions(function) -> list:
    """`function` and the workflow's functions it can call: those it names and those its closure holds."""
    found, todo = [], [function]
    while todo:
        current = todo.pop()
        if not any(current is seen for seen in found):
            found.append(current)
            named = map(WORKFLOW.globals.get, names_in(current))
            held = (cell.cell_contents for cell in current.__closure__ or ())
            todo.extend(value for value in [*named, *held] if inspect.isfunction(value))
    return found


def rule_text(rule) -> str:
    """The rule's declaration in its .smk file, up to the next statement at the top level."""
    # A rule made by `use rule ... with:` names its file by a source-file object, not by its path.
    snakefile = rule.snakefile if isinstance(rule.snakefile, str) else rule.snakefile.get_path_or_uri(secret_free=True)
    lines = Path(snakefile).read_text().splitlines()
    first = WORKFLOW.linemaps[snakefile][rule.lineno] - 1
    end = next((i for i in range(first + 1, len(lines)) if re.match(r"\S", lines[i])), len(lines))
    return "\n".join(lines[first:end])


@pytest.mark.parametrize("name", ROOT_RULES)
def test_rules_under_a_results_root_read_the_roots_config_not_the_main_one(name):
    rule = ROOT_RULES[name]
    assert not re.search(r"\bconfig\s*[\[.]", rule_text(rule)), f"{name} reads the main config"
    for item in [*inputs(rule), *params(rule)]:
        if callable(item):
            readers = [function.__qualname__ for function in reached_functions(item) if "config" in names_in(function)]
            assert not readers, f"{name}: {item.__qualname__} reads the main config ({readers}), not the root's"
