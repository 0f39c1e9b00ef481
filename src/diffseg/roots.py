"""Ablation variants: one configuration override each, sharing every stage they leave alone.

The `ablate` target reruns the cross-validation once per variant of `validation.ablations`. A
variant that changes only the threshold must not retrain a DDPM per fold: each stage below lists
the settings its outputs depend on (its own and those of the stages it reads), and a variant
computes a stage itself only when no earlier variant (the default first) gives those settings the
same values. tests/test_stage_settings.py checks that each stage lists every setting its rules
read.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping

# What the cohort is: a variant may not change it, every variant is cross-validated on the same images.
COHORT_SETTINGS = ("dataset.source", "dataset.folder.images", "dataset.synthetic", "dataset.isic2018")
# Dotted setting prefixes each shared stage depends on, upstream stages included.
_PREPARE = ("dataset", "validation.folds", "validation.seed")
_MODEL = (*_PREPARE, "healthy", "lesion_views", "model", "train", "semantics")
STAGE_SETTINGS: dict[str, tuple[str, ...]] = {
    "prepare": _PREPARE,
    "model": _MODEL,
    # Shards are cut by extraction.shard_size: every per-shard stage depends on it.
    "diffs": (*_MODEL, "extraction", "difference"),
    # The U-Nets (all training masks and each label budget), then their predictions per shard.
    "unet_model": (*_PREPARE, "unet"),
    "unet": (*_PREPARE, "unet", "extraction.shard_size"),
    "otsu": (*_PREPARE, "otsu", "extraction.shard_size"),
}


def merged_config(base: Mapping, override: Mapping) -> dict:
    """A deep copy of `base` with `override` merged in: mappings merge key by key, anything else
    (lists included: a step set is replaced, not extended) replaces the base value."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merged_config(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def settings_at(config: Mapping, settings: Iterable[str]) -> list:
    """The values of `config` at each dotted setting (None where it is absent)."""
    values = []
    for setting in settings:
        value = config
        for key in setting.split("."):
            value = value.get(key) if isinstance(value, Mapping) else None
        values.append(value)
    return values


def stage_owners(configs: Mapping[str, Mapping], stage: str) -> dict[str, str]:
    """For each variant (default first), the first variant whose configuration gives `stage` the same
    settings: the one that computes it. Combining two ablations then recomputes only the stages
    neither of them already has (e.g. a pair of DDPMs with another step set reuses the pair)."""
    owners: dict[str, str] = {}
    seen: list[tuple[list, str]] = []
    for name, variant_config in configs.items():
        values = settings_at(variant_config, STAGE_SETTINGS[stage])
        owners[name] = next((owner for other, owner in seen if other == values), name)
        if owners[name] == name:
            seen.append((values, name))
    return owners
