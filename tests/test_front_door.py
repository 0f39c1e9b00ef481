"""`make annotate COHORT=… MODEL=results/<run>`: a run folder read back as its model and settings.

The end-to-end checks are in tests/test_benchmark.py (a benchmark run's chosen settings, against the
explicit override) and tests/test_annotate.py (the annotate target itself); here the run folder's
reading, the command line's short keys and the messages a user sees when a model is missing.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from diffseg.runtime.errors import ConfigError
from diffseg.trained_run import (
    METHOD_SECTIONS,
    TRAIN_HINT,
    TrainedRun,
    command_line_request,
    where_results_are,
)

from conftest import REPO, run_snakemake


def _run_folder(tmp_path, candidates=None, chosen=None):
    """A finished run's folder as a run leaves it: its configuration, a model, maybe a choice."""
    folder = tmp_path / "results" / "bench"
    (folder / "model" / "ema").mkdir(parents=True)
    (folder / "model" / "ema" / "config.json").write_text('{"sample_size": 32}')
    config = {"dataset": {"name": "bench", "size": 48}, "model": {"preset": "tiny", "checkpoint": None},
              "semantics": {"a": "healthy", "b": "lesion"}, "extraction": {"steps": [60, 150], "draws": 2},
              "difference": {"reduce": "abs_mean"}, "threshold": {"method": "otsu", "component": "all"},
              "crf": {"bilateral_sxy": 80, "colour_weight": 0}, "otsu": {"smooth_sigma": 0.03},
              "annotate": {"shard_size": 64},
              "benchmark": {"candidates": candidates or {}}}
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    if chosen:
        (folder / "selection").mkdir()
        (folder / "selection" / "chosen.yaml").write_text(yaml.safe_dump({"candidate": chosen, "override": {}}))
    return folder


def test_a_run_folder_gives_its_model_and_its_configurations_method_sections(tmp_path):
    run = TrainedRun.from_folder(_run_folder(tmp_path))
    assert run.model == str(tmp_path / "results" / "bench" / "model" / "ema") == run.require_model()
    assert run.candidate is None
    mine = {"extraction": {"steps": [1], "draws": 9, "shard_size": 8}, "annotate": {"shard_size": 5},
            "dataset": {"on_bad_image": "skip"}, "crf": {"colour_weight": 0.5}}
    annotation = run.annotation_config(mine)
    assert {section: annotation[section] for section in METHOD_SECTIONS} == {s: run.config[s] for s in METHOD_SECTIONS}
    # The annotation's own settings are its own (shard size, bad images); a run's extraction section
    # is taken whole, as its test images were segmented.
    assert annotation["annotate"] == {"shard_size": 5} and annotation["dataset"] == {"on_bad_image": "skip"}
    assert annotation["extraction"] == {"steps": [60, 150], "draws": 2}


def test_a_benchmark_run_folder_gives_the_candidate_its_development_split_chose(tmp_path):
    late = {"extraction": {"steps": [300, 400]}, "crf": {"colour_weight": 0.5}}
    run = TrainedRun.from_folder(_run_folder(tmp_path, {"paper": {}, "late": late}, chosen="late"))
    assert run.candidate == "late" and "chosen candidate `late`" in run.describe()
    assert run.config["extraction"] == {"steps": [300, 400], "draws": 2}
    assert run.config["crf"] == {"bilateral_sxy": 80, "colour_weight": 0.5}


def test_annotation_takes_the_runs_student_when_it_has_one_unless_told_otherwise(tmp_path):
    run = TrainedRun.from_folder(_run_folder(tmp_path))
    assert run.student is None and not run.uses_student("auto") and not run.uses_student("diffusion")
    with pytest.raises(ConfigError, match="has no student/diffseg/model.pt: run it with student.enabled"):
        run.uses_student("student")
    with pytest.raises(ConfigError, match="annotate.path must be one of"):
        run.uses_student("fast")
    assert "(model " in run.describe("auto")
    student = run.folder / "student" / "diffseg" / "model.pt"
    student.parent.mkdir(parents=True)
    student.write_bytes(b"weights")
    assert run.student == str(student) and run.uses_student("auto") and run.uses_student("student")
    assert not run.uses_student("diffusion") and "(model " in run.describe("diffusion")
    assert run.describe("auto").startswith(f"the DiffSeg student of the run {run.folder} ({student}")


def test_the_student_path_prepares_at_the_students_size_and_needs_no_ddpm(tmp_path):
    run = TrainedRun.from_folder(_run_folder(tmp_path))
    assert run.annotation_model("auto") == run.model and run.image_size("auto") == 32  # the DDPM's sample_size
    student = run.folder / "student" / "diffseg" / "model.pt"
    student.parent.mkdir(parents=True)
    student.write_bytes(b"weights")
    shutil.rmtree(run.folder / "model")
    assert run.annotation_model("auto") == str(student) and run.image_size("auto") == 48  # the run's dataset.size
    with pytest.raises(ConfigError, match="no trained model in"):
        run.image_size("diffusion")


@pytest.mark.parametrize("break_it, message", [
    (lambda folder: (folder / "config.yaml").unlink(), "config.yaml is missing: .* is not a finished run"),
    (lambda folder: (folder / "selection" / "chosen.yaml").unlink(), "has not chosen one yet"),
    (lambda folder: (folder / "selection" / "chosen.yaml").write_text("candidate: gone\n"), "'gone' is not among"),
    (lambda folder: (folder / "config.yaml").write_text("- a list\n"), "is not a run's configuration"),
])
def test_an_unfinished_or_foreign_run_folder_is_refused_naming_the_file(tmp_path, break_it, message):
    folder = _run_folder(tmp_path, {"paper": {}}, chosen="paper")
    break_it(folder)
    with pytest.raises(ConfigError, match=message):
        TrainedRun.from_folder(folder)


def test_a_missing_model_says_which_command_trains_one(tmp_path):
    with pytest.raises(ConfigError, match="not a run folder .*make run"):
        TrainedRun.from_folder(tmp_path / "results" / "nowhere")
    folder = _run_folder(tmp_path)
    (folder / "model" / "ema" / "config.json").unlink()
    with pytest.raises(ConfigError, match="no trained model in .*train one: `make run`"):
        TrainedRun.from_folder(folder).require_model()
    assert "config/train_folder.yaml" in TRAIN_HINT and "min on 2" in TRAIN_HINT


def test_the_command_lines_short_keys_are_the_annotate_section():
    given = {"cohort": "clinic/images", "model": "results/bench", "annotate": {"name": "x"}, "dataset": {}}
    assert command_line_request(given) == {"annotate": {"name": "x", "cohort": "clinic/images",
                                                        "model": "results/bench"}, "dataset": {}}
    # The model section itself is left alone.
    assert command_line_request({"model": {"preset": "tiny"}}) == {"model": {"preset": "tiny"}}


def test_the_results_lines_name_the_page_the_masks_and_the_table():
    lines = where_results_are("results/annotate/clinic/summary.html")
    assert "results/annotate/clinic/summary.html" in lines
    assert "results/annotate/clinic/crf/masks/shard-*/<id>_segmentation.png" in lines
    assert "results/annotate/clinic/annotations.csv" in lines


def test_annotate_without_a_trained_model_stops_in_one_line_naming_the_training_command(tmp_path):
    (tmp_path / "clinic").mkdir()
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"dataset": {"name": "mini"}}))
    result = run_snakemake(tmp_path, "annotate", "-n", "--config", f"cohort={tmp_path / 'clinic'}")
    assert result.returncode != 0
    assert "no trained model in results/mini/model/ema: train one: `make run`" in result.stdout + result.stderr
    result = run_snakemake(tmp_path, "annotate", "-n", "--config", f"cohort={tmp_path / 'clinic'}",
                           "model=results/elsewhere")
    assert "annotate.model: results/elsewhere is not a run folder" in result.stdout + result.stderr


def test_make_annotate_without_a_cohort_prints_its_usage():
    result = subprocess.run(["make", "-s", "-C", str(REPO), "annotate"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode != 0 and "usage: make annotate COHORT=path/to/images [MODEL=results/<run>]" in result.stderr


def test_every_setting_an_annotation_rule_reads_is_the_annotations_not_the_main_runs():
    """The annotation's rules reuse the evaluation's (`use rule … with:`): each of their setting params
    must be replaced by the annotation's (annotation_setting), or it would segment with this
    configuration's settings instead of the run's."""
    from test_stage_settings import params
    from workflow_rules import workflow_rules

    annotation_rules = {name: rule for name, rule in workflow_rules().items() if name.startswith("annotate_")}
    assert {"annotate_extract", "annotate_threshold", "annotate_regions", "annotate_crf"} <= set(annotation_rules)
    for name, rule in annotation_rules.items():
        for value in params(rule):
            if callable(value) and value.__qualname__.startswith("setting."):
                raise AssertionError(f"{name} reads a setting of the main run, not the annotation's")
        assert any(callable(value) and value.__qualname__.startswith("annotation_setting.") for value in params(rule)) \
            or name in ("annotate_shard",), name
