"""Results roots: the folders the rules run in, the configuration of each, and which one owns a stage.

Every rule writes under `results/{root}/`; the root names one evaluation of the pipeline:

| root | what runs there |
|---|---|
| `<dataset>` | the main run: trains the models and scores its test split |
| `<dataset>/validate/<variant>/fold-<k>` | fold k of the cross-validation, under an ablation variant |
| `<dataset>/dev` | the development split, scored with the main run's models (settings are chosen here) |
| `<dataset>/cross/<cohort>` | another cohort's test split, scored with the main run's models |
| `<dataset>/candidate/<c>[/dev, /cross/<cohort>]` | one of the three above with a candidate's post-training settings |

A variant or a candidate is one override of the configuration, sharing every stage it leaves alone:
each stage below lists the settings its outputs depend on (its own and those of the stages it reads),
and a variant computes a stage itself only when no earlier variant (the default first) gives those
settings the same values. A variant that changes only the threshold therefore reuses each fold's
DDPM. tests/test_stage_settings.py checks that each stage lists every setting its rules read.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace

from diffseg.data.splits import DEV_SPLIT
from diffseg.evaluation.pseudo_labels import TEACHERS
from diffseg.evaluation.selection import CANDIDATE_SETTINGS, refused_overrides
from diffseg.runtime.errors import ConfigError

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
    # The fair control: Otsu's masks fused by the root's DenseCRF.
    "otsu_crf": (*_PREPARE, "otsu", "crf", "extraction.shard_size"),
}
# What a held-out root (development, cross-dataset) takes from the main run: its trained models.
TRAINED_STAGES = ("model", "unet_model")
# Names of variants, candidates and cohorts: one path component each.
NAME_PATTERN = r"[A-Za-z0-9_.-]+"


def depends_on(*settings: str, stage: str | None = None, pattern: str | None = None):
    """Marks an input or params function of the rules under a results root with what its value
    depends on: the dotted `settings` of the root's configuration it reads, and the file `pattern`
    it asks for (in the root that computes `stage`, when given). A shared stage must list in
    STAGE_SETTINGS every setting its rules depend on; tests/test_stage_settings.py checks it."""

    def mark(function):
        function.settings, function.stage, function.pattern = settings, stage, pattern
        return function

    return mark


def key_ordered(value):
    """`value` with every mapping's keys in sorted order (lists keep theirs), as a rule's params.

    Snakemake's params trigger compares a job's params with those recorded when it last ran, key
    order included: the same settings read in another order (a config file written with sorted keys,
    a run's recorded configuration, keys moved in config.yaml) would rerun every stage after them."""
    if isinstance(value, Mapping):
        return {key: key_ordered(value[key]) for key in sorted(value, key=str)}
    if isinstance(value, list):
        return [key_ordered(item) for item in value]
    return value


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


@dataclass(frozen=True)
class Root:
    """One results root (see the module's table); `str(root)` is its path under results/."""

    dataset: str
    variant: str | None = None
    fold: int | None = None
    candidate: str | None = None
    development: bool = False
    cohort: str | None = None  # the benchmark.cross cohort of a cross-dataset root

    @classmethod
    def parse(cls, text: str, dataset: str) -> Root:
        """The root whose path is `text`; a ValueError names what does not fit."""
        parts = text.split("/")
        if parts[0] != dataset:
            raise ValueError(f"{text}: a results root starts with the dataset name {dataset!r}")
        rest = parts[1:]
        if rest[:1] == ["validate"]:
            if len(rest) != 3 or not rest[2].startswith("fold-") or not rest[2][5:].isdigit():
                raise ValueError(f"{text}: expected {dataset}/validate/<variant>/fold-<k>")
            return cls(dataset, variant=rest[1], fold=int(rest[2][5:]))
        candidate = None
        if rest[:1] == ["candidate"]:
            if len(rest) < 2:
                raise ValueError(f"{text}: expected {dataset}/candidate/<candidate>[/dev | /cross/<cohort>]")
            candidate, rest = rest[1], rest[2:]
        if rest == ["dev"]:
            return cls(dataset, candidate=candidate, development=True)
        if len(rest) == 2 and rest[0] == "cross":
            return cls(dataset, candidate=candidate, cohort=rest[1])
        if rest:
            raise ValueError(f"{text}: not a results root of {dataset!r}")
        return cls(dataset, candidate=candidate)

    def __str__(self) -> str:
        if self.variant is not None:
            return f"{self.dataset}/validate/{self.variant}/fold-{self.fold}"
        parts = [self.dataset]
        if self.candidate is not None:
            parts += ["candidate", self.candidate]
        if self.development:
            parts.append("dev")
        elif self.cohort is not None:
            parts += ["cross", self.cohort]
        return "/".join(parts)

    @property
    def base(self) -> Root:
        """The root a candidate's root stands in for (itself for other roots)."""
        return replace(self, candidate=None)

    def with_candidate(self, candidate: str | None) -> Root:
        """This root (the main run's, development or cross-dataset) with `candidate`'s settings; the
        root itself for None or "default" (the configuration's own settings)."""
        return replace(self, candidate=None if candidate in (None, "default") else candidate)

    @property
    def held_out_split(self) -> str | None:
        """The split of its cohort a held-out root scores with the main run's models: the development
        split, or a cross-dataset cohort's test split; None for the other roots."""
        if self.development:
            return DEV_SPLIT
        return "test" if self.cohort is not None else None


def wildcard_pattern(dataset: str) -> str:
    """The regular expression of every results root of `dataset`, for Snakemake's `{root}` wildcard."""
    name = NAME_PATTERN
    return re.escape(dataset) + rf"(/validate/{name}/fold-\d+|(/candidate/{name})?(/dev|/cross/{name})?)"


Validator = Callable[[dict, str, str], dict]


def _unchecked(config: dict, key: str, what: str) -> dict:
    return config


class ResultsRoots:
    """The results roots of one configuration: the configuration of each, and which root computes a
    stage for it. `validate(merged_config, key, what)` checks each override's merged configuration
    against the schema (the workflow passes Snakemake's validation; an error names `key`)."""

    def __init__(self, config: Mapping, validate: Validator = _unchecked):
        self.config = config
        self.dataset = config["dataset"]["name"]
        ablations = config["validation"]["ablations"]
        self.variants = ["default", *ablations]
        self.variant_configs = {
            name: validate(merged_config(config, override), f"validation.ablations.{name}", "a valid override")
            for name, override in ablations.items()
        }
        for name, variant_config in self.variant_configs.items():
            # Every root prepares the main run's cohort (made or downloaded once, in results/<dataset>).
            if settings_at(variant_config, COHORT_SETTINGS) != settings_at(config, COHORT_SETTINGS):
                raise ConfigError(
                    f"validation.ablations.{name} changes the cohort ({', '.join(COHORT_SETTINGS)}): "
                    "every variant is cross-validated on the same images"
                )
        self.cross_configs = {name: validate(self._cross_config(folder), f"benchmark.cross.{name}",
                                             "a valid dataset.folder")
                              for name, folder in config["benchmark"]["cross"].items()}
        self.candidates = config["benchmark"]["candidates"]
        self._check_candidates()
        self.candidate_configs = {
            name: validate(merged_config(config, override), f"benchmark.candidates.{name}", "a valid override")
            for name, override in self.candidates.items()
        }
        # Which variant (candidate) computes each stage for each variant (candidate).
        self.variant_owners = self._owners(self.variant_configs)
        self.candidate_owners = self._owners(self.candidate_configs)
        self.main = Root(self.dataset)
        self.development = Root(self.dataset, development=True)

    def _cross_config(self, folder: Mapping) -> dict:
        """A cross-dataset cohort's configuration: the main one with the cohort's own dataset.folder."""
        cross_config = merged_config(self.config, {})
        cross_config["dataset"] |= {"source": "folder", "folder": folder, "dev_fraction": 0}
        return cross_config

    def _check_candidates(self) -> None:
        for name, override in self.candidates.items():
            refused = refused_overrides(override)
            if refused:
                raise ConfigError(
                    f"benchmark.candidates.{name} overrides {', '.join(refused)}: a candidate may change "
                    f"only {', '.join(CANDIDATE_SETTINGS)}, since it reuses the run's trained models"
                )
        if self.candidates and not self.config["dataset"]["dev_fraction"]:
            raise ConfigError(
                "benchmark.candidates are chosen on the development split: set dataset.dev_fraction above 0"
            )

    def _owners(self, configs: Mapping[str, Mapping]) -> dict[str, dict[str, str]]:
        return {stage: stage_owners({"default": self.config, **configs}, stage) for stage in STAGE_SETTINGS}

    def parse(self, text: str) -> Root:
        """The root at path `text` (under results/)."""
        return Root.parse(text, self.dataset)

    def config_of(self, root: Root) -> Mapping:
        """The configuration of `root`: the main one, an ablation variant's, a cross-dataset cohort's,
        or one of those with a candidate's settings; an unknown name is a ConfigError naming the root."""
        if root.candidate is not None:
            if root.candidate not in self.candidates:
                raise ConfigError(f"{root}: no candidate {root.candidate!r} in benchmark.candidates")
            return self._candidate_config(root.base, root.candidate)
        if root.cohort is not None:
            if root.cohort not in self.cross_configs:
                raise ConfigError(f"{root}: no cohort {root.cohort!r} in benchmark.cross")
            return self.cross_configs[root.cohort]
        if root.variant not in (None, "default") and root.variant not in self.variant_configs:
            raise ConfigError(f"{root}: no ablation {root.variant!r} in validation.ablations")
        if root.fold is not None and not 1 <= root.fold <= self.config["validation"]["folds"]:
            raise ConfigError(f"{root}: fold {root.fold} is not among 1…{self.config['validation']['folds']}")
        return self.variant_configs.get(root.variant, self.config)

    @functools.cache  # noqa: B019 (one instance per workflow: read often, merged once)
    def _candidate_config(self, base: Root, candidate: str) -> dict:
        return merged_config(self.config_of(base), self.candidates[candidate])

    def setting(self, root: Root | None, keys: Iterable[str]):
        """The value at `keys` in the configuration of `root` (the main configuration for None)."""
        value = self.config if root is None else self.config_of(root)
        for key in keys:
            value = value[key]
        return value

    def stage_root(self, root: Root, stage: str) -> Root:
        """The root that computes `stage` for `root`. An ablation variant shares every stage whose
        settings it has in common with an earlier variant of the same fold, the default first. A
        held-out root computes everything but the main run's trained models itself. A candidate's root
        computes only the stages whose settings no earlier candidate (the configuration's own first)
        shares with it; the others come from the root it stands in for, or that candidate's."""
        self.config_of(root)  # an unknown variant, candidate or cohort is named
        if root.candidate is not None:
            owner = self.candidate_owners[stage][root.candidate]
            return self.stage_root(root.base, stage).with_candidate(owner)
        if root.held_out_split:
            return self.main if stage in TRAINED_STAGES else root
        if root.variant is None:
            return root
        return Root(self.dataset, variant=self.variant_owners[stage][root.variant], fold=root.fold)

    def fold_of(self, root: Root) -> dict | None:
        """The fold a cross-validation root tests on ({index, folds, seed}, as diffseg.data.folds reads
        it); None for the other roots."""
        if root.fold is None:
            return None
        validation = self.setting(root, ["validation"])
        return {"index": root.fold - 1, "folds": validation["folds"], "seed": validation["seed"]}

    def chooses_on_development(self, root: Root) -> bool:
        """Whether `root`'s best step is chosen on a development root: the main run's and the
        cross-dataset roots do (when the cohort has development images), the others do not."""
        return root.variant is None and not root.development

    def development_root(self, root: Root) -> Root:
        """The development root that chooses the settings of `root` (a candidate's roots choose on the
        candidate's development root)."""
        return self.development.with_candidate(root.candidate)

    def candidate_root(self, candidate: str | None) -> Root:
        """The main run's root with `candidate`'s settings (the benchmark's test root)."""
        return self.main.with_candidate(candidate)

    def cross_root(self, cohort: str, base: Root | None = None) -> Root:
        """`base`'s (the main run's) evaluation of cross-dataset `cohort`."""
        return replace(base or self.main, cohort=cohort, development=False)

    def fold_root(self, variant: str, fold: int) -> Root:
        return Root(self.dataset, variant=variant, fold=fold)

    def benchmark_inputs(self, tested: Root, development: Root | None, trains_ddpm: bool, students: bool = False) -> dict:
        """What the benchmark document reads: the `tested` root's test and cross-dataset tables
        (Table 1, per-image scores, Dice by lesion size, failed masks), the `development` root's scores
        and Dice per step when the run has one, the candidates' selection when it has candidates, and
        the DDPM's training curve when the run trained it (not with a reused model.checkpoint), and with
        `students` (student.enabled) each student's pseudo-labels and the students' development summary."""
        test = f"results/{tested}"
        cross = [f"results/{self.cross_root(cohort, tested)}" for cohort in self.cross_configs]
        main = f"results/{self.main}"
        inputs = {
            "table1": f"{test}/evaluation/table1.csv",
            "table1_md": f"{test}/evaluation/table1.md",
            "scores": f"{test}/evaluation/scores.csv",
            "size_bins_md": f"{test}/evaluation/size_bins.md",
            "mask_coverage_md": f"{test}/evaluation/mask_coverage.md",
            "subsets_md": f"{test}/evaluation/subsets.md",
            "scoring": f"{test}/evaluation/ledger_entry.yaml",
            "cross_tables": [f"{path}/evaluation/table1.md" for path in cross],
            "cross_scores": [f"{path}/evaluation/scores.csv" for path in cross],
            "cross_size_bins": [f"{path}/evaluation/size_bins.md" for path in cross],
            "cross_mask_coverage": [f"{path}/evaluation/mask_coverage.md" for path in cross],
            "cross_subsets": [f"{path}/evaluation/subsets.md" for path in cross],
            "cross_scoring": [f"{path}/evaluation/ledger_entry.yaml" for path in cross],
        }
        if development:
            inputs["dev_scores"] = f"results/{development}/evaluation/scores.csv"
            inputs["dev_per_step"] = f"results/{development}/evaluation/per_step.csv"
        if self.candidates:
            inputs["selection"] = f"{main}/selection/candidates.md"
            inputs["chosen"] = f"{main}/selection/chosen.yaml"
        if students:
            inputs["pseudo_labels"] = [f"{main}/student/{teacher}/pseudo_labels.csv" for teacher in TEACHERS]
            if development:
                inputs["student_dev"] = f"results/{development}/student/summary.md"
        if trains_ddpm:
            inputs["loss"] = f"{main}/model/loss.csv"
            inputs["loss_figure"] = f"{main}/figures/training_loss.png"
        return inputs
