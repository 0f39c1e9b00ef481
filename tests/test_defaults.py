"""One default per setting: the library's defaults are the schema's.

workflow/schemas/config.schema.yaml is the one source of truth for defaults. A settings dataclass
or a keyword argument of the package that stands for a schema setting must default to the schema's
value, or a notebook user calling the library gets another method than the pipeline runs.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect

import pytest
from snakemake.utils import validate

from conftest import REPO

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"

# The schema sections whose settings each module's keywords and settings fields stand for; a name
# found in several sections is the first one's.
SECTIONS = {
    "diffseg.reports.annotation": ("annotate",),
    "diffseg.data.cohort": ("dataset",),
    "diffseg.method.crf": ("crf",),
    "diffseg.method.extraction": ("extraction", "difference"),
    "diffseg.data.folds": ("validation",),
    "diffseg.data.healthy": ("healthy",),
    "diffseg.data.isic2018": ("dataset.isic2018",),
    "diffseg.evaluation.metrics": ("metrics",),
    "diffseg.method.model": ("model",),
    "diffseg.evaluation.otsu_baseline": ("otsu",),
    "diffseg.method.semantic_training": ("semantics", "train"),
    "diffseg.data.store": ("dataset",),
    "diffseg.data.synthetic": ("dataset.synthetic", "dataset"),
    "diffseg.evaluation.table": ("metrics",),
    "diffseg.method.threshold": ("threshold",),
    "diffseg.method.training": ("train",),
    "diffseg.evaluation.unet_baseline": ("unet",),
    "diffseg.reports.validation": ("metrics",),
}
# Settings the library spells otherwise than the schema: module -> {library name: "section.key"}.
RENAMED = {
    "diffseg.reports.annotation": {"cutoff": "annotate.review_cutoff", "quantile": "annotate.review_quantile"},
    "diffseg.method.extraction": {
        "base_seed": "extraction.seed",
        "semantic_a": "semantics.a",
        "semantic_b": "semantics.b",
    },
    "diffseg.evaluation.metrics": {"n_resamples": "metrics.bootstrap"},
    "diffseg.data.synthetic": {"size": "dataset.synthetic.image_size"},
    "diffseg.evaluation.table": {"n_resamples": "metrics.bootstrap"},
    "diffseg.reports.validation": {"n_resamples": "metrics.bootstrap"},
}
# Keywords named like a schema key of their module's sections that are another setting, and why.
OTHER_SETTINGS = {
    ("diffseg.method.model", "load_model", "preset"): "None skips the architecture check; it chooses no preset",
    ("diffseg.evaluation.unet_baseline", "predict_unet", "batch_size"): "the inference batch; unet.batch_size trains",
}


@functools.cache
def schema_defaults() -> dict:
    """An empty configuration filled with the schema's defaults."""
    config: dict = {}
    validate(config, str(SCHEMA), set_default=True)
    return config


def schema_setting(dotted: str):
    """The schema default at `section.key` (sections may nest: `dataset.synthetic.seed`)."""
    value = schema_defaults()
    for part in dotted.split("."):
        value = value[part]
    return value


def schema_path(module: str, name: str) -> str | None:
    """Where the schema holds the setting that keyword `name` of `module` stands for, if anywhere."""
    if name in RENAMED.get(module, {}):
        return RENAMED[module][name]
    for section in SECTIONS[module]:
        if name in schema_setting(section):
            return f"{section}.{name}"
    return None


def own_callables(module: str):
    """(name, function or class) defined in `module` itself, not imported into it."""
    loaded = importlib.import_module(module)
    for name, value in vars(loaded).items():
        if (inspect.isfunction(value) or inspect.isclass(value)) and value.__module__ == module:
            yield name, value


def library_defaults():
    """(module, callable, keyword, default) of every keyword with a default in the mapped modules."""
    for module in SECTIONS:
        for name, value in own_callables(module):
            try:
                parameters = inspect.signature(value).parameters.values()
            except (TypeError, ValueError):  # a class without an inspectable constructor
                continue
            for parameter in parameters:
                if parameter.default is not inspect.Parameter.empty:
                    yield module, name, parameter.name, parameter.default


def checked_defaults() -> list[tuple[str, str, str, object, str]]:
    """(module, callable, keyword, library default, schema path) of every keyword that is a setting."""
    return [
        (module, name, keyword, default, path)
        for module, name, keyword, default in library_defaults()
        if (module, name, keyword) not in OTHER_SETTINGS and (path := schema_path(module, keyword))
    ]


@pytest.mark.parametrize(
    "module, name, keyword, default, path",
    checked_defaults(),
    ids=[f"{module}.{name}.{keyword}" for module, name, keyword, *_ in checked_defaults()],
)
def test_library_default_is_the_schema_default(module, name, keyword, default, path):
    assert default == schema_setting(path), (
        f"{module}.{name}({keyword}={default!r}) but the schema's {path} defaults to {schema_setting(path)!r}"
    )


def test_every_settings_dataclass_and_the_known_settings_are_checked():
    checked = {(module, name, keyword) for module, name, keyword, *_ in checked_defaults()}
    fields = {
        (module, name, field.name)
        for module in SECTIONS
        for name, value in own_callables(module)
        if dataclasses.is_dataclass(value) and not name.startswith("_")
        for field in dataclasses.fields(value)
        if field.default is not dataclasses.MISSING
    }
    assert fields - checked == set(), "settings fields the schema does not hold"
    assert {
        ("diffseg.method.training", "TrainSettings", "steps"),
        ("diffseg.evaluation.unet_baseline", "UNetSettings", "steps"),
        ("diffseg.method.threshold", "ThresholdSettings", "method"),
        ("diffseg.method.threshold", "tidy_mask", "fill_holes"),
        ("diffseg.method.crf", "crf_shard", "rounds"),
        ("diffseg.data.healthy", "healthy_training_set", "crop_fraction"),
        ("diffseg.method.extraction", "extract_shard", "batch_size"),
        ("diffseg.data.synthetic", "write_synthetic_cohort", "seed"),
        ("diffseg.data.isic2018", "fetch_isic2018", "base_url"),
    } <= checked


def test_every_exception_names_a_keyword_that_exists():
    defaults = {(module, name, keyword) for module, name, keyword, _ in library_defaults()}
    assert set(OTHER_SETTINGS) <= defaults
    for renamed in RENAMED.values():
        for path in renamed.values():
            schema_setting(path)  # a KeyError names a renamed setting the schema no longer has


# The benchmark whose development split chose the defaults, and the record of its choice (`make docs`).
CHOSEN_ON = REPO / "config" / "benchmark_isic2017.yaml"
CHOICE = REPO / "docs" / "benchmark" / "benchmark_isic2017" / "chosen.yaml"


def leaves(tree, prefix: str = "") -> dict:
    """The dotted settings of a nested mapping and their values."""
    if not isinstance(tree, dict):
        return {prefix[:-1]: tree}
    return {key: value for name, sub in tree.items() for key, value in leaves(sub, f"{prefix}{name}.").items()}


def post_training(config: dict) -> dict:
    """The post-training settings (what a benchmark candidate may change) of a filled configuration."""
    from diffseg.evaluation.selection import CANDIDATE_SETTINGS

    return {key: value for key, value in leaves(config).items()
            if any(key == s or key.startswith(s + ".") for s in CANDIDATE_SETTINGS)}


def test_post_training_defaults_are_the_settings_the_isic_benchmark_chose_on_its_development_split():
    """A user's own cohort gets the best settings measured on real dermoscopy, unless the schema says
    why not (x-defaults-not-chosen-on-benchmark)."""
    import yaml

    from diffseg.roots import merged_config

    choice = yaml.safe_load(CHOICE.read_text())
    benchmark = yaml.safe_load(CHOSEN_ON.read_text())
    assert benchmark["benchmark"]["candidates"][choice["candidate"]] == choice["override"]
    validate(benchmark, str(SCHEMA), set_default=True)
    chosen = post_training(merged_config(benchmark, choice["override"]))
    defaults = post_training(schema_defaults())
    explained = yaml.safe_load(SCHEMA.read_text())["x-defaults-not-chosen-on-benchmark"]
    differ = {key for key in chosen if chosen[key] != defaults[key]}
    assert differ == set(explained), {key: (defaults[key], chosen[key]) for key in differ - set(explained)}
    assert all(isinstance(why, str) and why for why in explained.values())


def test_the_paper_preset_is_the_paper_and_differs_from_the_defaults():
    import yaml

    paper = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    assert paper["extraction"]["steps"] == list(range(60, 151, 10))
    assert paper["threshold"]["component"] == "all" and paper["crf"] == {"bilateral_sxy": 80, "colour_weight": 0}
    defaults = schema_defaults()
    assert all(defaults[section] != {**defaults[section], **paper[section]} for section in paper)
