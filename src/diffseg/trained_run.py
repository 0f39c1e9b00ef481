"""A finished run as annotation uses it: its trained DDPM and the post-training settings it stands for.

`make annotate COHORT=… MODEL=results/<run>` (`snakemake annotate --config cohort=… model=…`) names a
run folder. Every run writes its configuration beside its results (`results/<run>/config.yaml`, rule
`record_config`); a benchmark run also writes the candidate its development split chose
(`selection/chosen.yaml`). Annotating with the run takes the method's sections of that configuration
(METHOD_SECTIONS: the network, the semantics compared, the steps, threshold, DenseCRF and the Otsu
settings of its darkness seed), with the
chosen candidate's override merged in, so a cohort is segmented exactly as the run's test images were,
with no YAML to copy. Without MODEL the run is the one the current configuration makes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from diffseg.evaluation.selection import read_choice
from diffseg.reports.annotation import model_image_size
from diffseg.roots import merged_config
from diffseg.runtime.errors import ConfigError

RUN_CONFIG = "config.yaml"
CHOSEN = Path("selection") / "chosen.yaml"
TRAINED_DDPM = Path("model") / "ema"
# The run's DiffSeg student (config student, workflow/rules/student.smk), when it trained one.
STUDENT = Path("student") / "diffseg" / "model.pt"
ANNOTATION_PATHS = ("auto", "student", "diffusion")
# What decides how an image is segmented once the DDPM is trained; the rest of an annotation's
# configuration (shard size, review flags, bad-image handling) is the annotation's own.
METHOD_SECTIONS = ("model", "semantics", "extraction", "difference", "threshold", "crf", "otsu")
# The commands that train a model, with their measured wall time on 2 CPU cores (docs/default_run.md;
# the train_folder run's document, config/README.md).
TRAIN_HINT = (
    "train one: `make run` (the embedded synthetic cohort, a demonstration only: about 6 min on 2 CPU "
    "cores), or on real dermoscopy `make run SNAKEMAKE_ARGS=\"--configfile config/train_folder.yaml\"` "
    "(ISIC 2017's 2 000 training images, or your folders: see config/README.md; 15 min on 2 cores), "
    "then `make annotate COHORT=… MODEL=results/<run>`"
)


@dataclass(frozen=True)
class TrainedRun:
    """A run folder: its configuration (its chosen candidate's override merged in) and trained DDPM."""

    folder: Path
    config: dict
    candidate: str | None = None

    @classmethod
    def from_folder(cls, folder: str | Path) -> TrainedRun:
        """The run at `folder` (results/<run>), as it recorded itself; a ConfigError says what is missing
        and how to make it."""
        folder = Path(folder)
        recorded = folder / RUN_CONFIG
        if not recorded.is_file():
            if not folder.is_dir():
                raise ConfigError(f"annotate.model: {folder} is not a run folder (results/<run>); {TRAIN_HINT}")
            raise ConfigError(
                f"annotate.model: {recorded} is missing: {folder} is not a finished run, or was made before "
                "runs recorded their configuration (run its command again: only that file is written)"
            )
        config = yaml.safe_load(recorded.read_text(encoding="utf-8"))
        if not isinstance(config, Mapping) or "dataset" not in config:
            raise ConfigError(f"annotate.model: {recorded} is not a run's configuration")
        return cls.with_choice(folder, dict(config))

    @classmethod
    def with_choice(cls, folder: str | Path, config: Mapping) -> TrainedRun:
        """The run of `config` in `folder`, with the candidate its development split chose when the
        configuration has candidates (a benchmark run)."""
        folder = Path(folder)
        candidates = config.get("benchmark", {}).get("candidates") or {}
        if not candidates:
            return cls(folder, dict(config))
        chosen = folder / CHOSEN
        if not chosen.is_file():
            raise ConfigError(
                f"{chosen} is missing: the run {folder} has candidate settings but has not chosen one yet "
                "(run its `benchmark` target first)"
            )
        candidate = read_choice(chosen)["candidate"]
        if candidate not in candidates:
            raise ConfigError(f"{chosen}: candidate {candidate!r} is not among the run's benchmark.candidates")
        return cls(folder, merged_config(config, candidates[candidate]), candidate)

    @property
    def model(self) -> str:
        """The DDPM folder: the run's own, or the checkpoint it reused (model.checkpoint)."""
        return str(self.config["model"].get("checkpoint") or self.folder / TRAINED_DDPM)

    def require_model(self) -> str:
        """`model`, once it holds a trained DDPM; otherwise a ConfigError with the command that trains one."""
        if not (Path(self.model) / "config.json").is_file():
            raise ConfigError(f"no trained model in {self.model}: {TRAIN_HINT}")
        return self.model

    @property
    def student(self) -> str | None:
        """The run's DiffSeg student, when it trained one."""
        path = self.folder / STUDENT
        return str(path) if path.is_file() else None

    def uses_student(self, path: str = "auto") -> bool:
        """Whether an annotation asking for `path` (annotate.path) segments with the student: `auto`
        does when the run has one; `student` requires it (a ConfigError says how to train one)."""
        if path not in ANNOTATION_PATHS:
            raise ConfigError(f"annotate.path must be one of {ANNOTATION_PATHS}, got {path!r}")
        if path == "student" and self.student is None:
            raise ConfigError(
                f"annotate.path is 'student' but the run {self.folder} has no {STUDENT}: run it with "
                "student.enabled (config/README.md, `student`), or use annotate.path 'diffusion'"
            )
        return path != "diffusion" and self.student is not None

    def annotation_model(self, path: str = "auto") -> str:
        """What segments a cohort annotated on `path` (annotate.path): the student's weights, or the
        DDPM folder, which must hold a trained model."""
        return self.student if self.uses_student(path) else self.require_model()

    def image_size(self, path: str = "auto") -> int:
        """The square size a cohort annotated on `path` is prepared at: the student's, the run's
        dataset.size (its pseudo-labels were made and it trained at that size), or the DDPM's own."""
        if self.uses_student(path):
            size = self.config["dataset"].get("size")
            if not isinstance(size, int) or size < 1:
                raise ConfigError(f"{self.folder / RUN_CONFIG}: dataset.size should be the student's positive "
                                  f"image size, found {size!r}")
            return size
        return model_image_size(self.require_model())

    def annotation_config(self, config: Mapping) -> dict:
        """`config` (the annotation's own) with the method's sections replaced, whole, by this run's (a
        section a run recorded before it existed stays the annotation's)."""
        annotation = merged_config(config, {})
        recorded = {section: self.config[section] for section in METHOD_SECTIONS if section in self.config}
        annotation.update(merged_config({}, recorded))
        return annotation

    def describe(self, path: str = "diffusion") -> str:
        """One line for the annotation's page and log: which run, model and settings segmented it, by
        the annotation path `path` (annotate.path)."""
        settings = f"its chosen candidate `{self.candidate}`" if self.candidate else "its configuration's settings"
        if self.uses_student(path):
            return (f"the DiffSeg student of the run {self.folder} ({self.student}, trained on the masks of {settings}; "
                    "its diversity is that of its masks under four flips at three levels)")
        return f"the run {self.folder} (model {self.model}, {settings})"


def command_line_request(config: dict) -> dict:
    """`config` with the front door's short keys moved into the annotate section: `cohort=<folder>` is
    annotate.cohort and a `model=<run folder>` given as a path (not the model section) annotate.model.
    The model section then takes its defaults: an annotation reads its model from the run."""
    request = dict(config)
    annotate = dict(request.get("annotate") or {})
    if "cohort" in request:
        annotate["cohort"] = request.pop("cohort")
    if isinstance(request.get("model"), str):
        annotate["model"] = request.pop("model")
    if annotate:
        request["annotate"] = annotate
    return request


def where_results_are(summary_page: str | Path) -> str:
    """The lines that tell a user where an annotated cohort's results are, from its summary page."""
    folder = Path(summary_page).parent
    return "\n".join([
        f"Annotated cohort: {folder}/",
        f"  review page (flagged images first): {summary_page}",
        f"  fused masks at original size:       {folder}/crf/masks/shard-*/<id>_segmentation.png",
        f"  table (area, uncertainty, review):  {folder}/annotations.csv",
    ])
