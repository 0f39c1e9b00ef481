"""The miniature pipeline through profiles/slurm on a real one-node SLURM cluster started on this machine.

The cluster (tests/slurm_cluster.py) has the partitions the profile names (`cpu`, `gpu`), one `gpu`
gres backed by /dev/null and no accounting database. What the test checks comes from SLURM's own
records: slurmctld's log of batch submissions, `scontrol show job` and the jobcomp/filetxt log.
`make test` installs Debian's slurm-wlm and munge first (as root, with apt-get); where SLURM is not
installed or will not start the test is skipped with the reason, except under CI, where it fails.
"""

from __future__ import annotations

import os
import re
import subprocess

import pandas as pd
import pytest
import yaml
from slurm_cluster import SlurmCluster, SlurmUnavailable
from workflow_rules import workflow_rules

from conftest import MINIATURE, REPO, snakemake_command

pytestmark = pytest.mark.pipeline

PROFILE = REPO / "profiles" / "slurm"
# What this test cluster needs on top of the profile: no accounting database, so status comes from
# squeue (slurmctld keeps finished jobs a day), and a short first status check so the run stays short.
CLUSTER_OVERRIDES = ("--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "1")
# The miniature's DAG (every stage, several shards) with shorter training: each SLURM job costs two
# Snakemake start-ups and the plugin's status polling, so the run length is set by the job count.
SLURM_MINIATURE = {**MINIATURE, "train": {**MINIATURE["train"], "steps": 10, "checkpoint_every": 5},
                   "unet": {**MINIATURE["unet"], "steps": 5}}


# The rules whose `resources:` declare gpu=1, their own or taken with `use rule`.
GPU_RULES = {name for name, rule in workflow_rules().items()
             if "gpu" in rule.resources and rule.resources["gpu"].value == 1}
# GPU rules too, but the miniature has no cohort to annotate, no label budgets for extra U-Nets and no
# students (tests/test_benchmark.py runs those).
GPU_RULES_IN_MINIATURE = GPU_RULES - {"annotate_extract", "train_unet_budget", "predict_unet_budget", "annotate_student",
                                      "pseudo_extract", "train_student", "predict_student"}


def unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"SLURM must run in CI, but: {reason}")
    pytest.skip(f"no SLURM test cluster: {reason}")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    slurm = SlurmCluster(tmp_path_factory.mktemp("slurm"))
    try:
        slurm.start()
    except SlurmUnavailable as error:
        unavailable(str(error))
    yield slurm
    slurm.stop()


@pytest.fixture(scope="module")
def slurm_run(cluster, tmp_path_factory):
    """The miniature pipeline run through the SLURM profile; its working directory."""
    workdir = tmp_path_factory.mktemp("slurm_pipeline")
    (workdir / "config.yaml").write_text(yaml.safe_dump(SLURM_MINIATURE))
    command = snakemake_command(workdir, "--profile", str(PROFILE), *CLUSTER_OVERRIDES)
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, env=cluster.env,
                            cwd=workdir)
    assert result.returncode == 0, result.stderr[-6000:] + kept_job_logs(workdir) + cluster.logs_tail()
    return workdir


def kept_job_logs(workdir, lines: int = 30) -> str:
    """The end of each SLURM job log the plugin kept (it deletes those of jobs that succeeded)."""
    logs = sorted((workdir / ".snakemake" / "slurm_logs").rglob("*.log"))
    return "".join(f"\n--- {log}\n" + "\n".join(log.read_text().splitlines()[-lines:]) for log in logs)


@pytest.fixture(scope="module")
def slurm_jobs(cluster, slurm_run) -> pd.DataFrame:
    """One row per job slurmctld ran, with the rule the plugin named in the job's comment."""
    jobs = pd.DataFrame(cluster.jobs())
    jobs["rule"] = [rule_of(comment) for comment in jobs["Comment"].fillna("")]
    return jobs


def rule_of(comment: str) -> str:
    """The plugin comments each job `rule_<rule>` or `rule_<rule>_wildcards_<wildcards>`."""
    match = re.fullmatch(r"rule_(.+?)(?:_wildcards_.*)?", comment.strip())
    assert match, f"job comment {comment!r} does not name a rule"
    return match.group(1)


def test_profile_sends_every_gpu_rule_to_the_gpu_partition():
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    assert {"train_ddpm", "extract_noise", "train_unet", "predict_unet", "annotate_extract"} <= GPU_RULES
    for rule in GPU_RULES:
        resources = profile["set-resources"].get(rule, {})
        assert resources.get("slurm_partition") == "gpu", rule
        # The plugin asks --cpus-per-task whenever cpus_per_task is set: 0 leaves it to cpus_per_gpu.
        assert resources.get("cpus_per_task") == 0 and "cpus_per_gpu" in resources, rule


def test_pipeline_finished_with_table1(slurm_run):
    table = pd.read_csv(slurm_run / "results" / "mini" / "evaluation" / "table1.csv")
    assert "diffseg_crf" in set(table["key"])
    assert (slurm_run / "results" / "mini" / "evaluation" / "table1.md").is_file()


def test_every_job_went_through_sbatch(cluster, slurm_jobs, slurm_run):
    submitted = cluster.submitted_batch_job_ids()
    assert set(slurm_jobs["JobId"]) <= submitted, "slurmctld did not log a batch submission for every job"
    assert (slurm_jobs["BatchFlag"] == "1").all()
    # One Snakemake run submitted them all: the plugin names every job after the run's id.
    assert slurm_jobs["JobName"].nunique() == 1
    rules = set(slurm_jobs["rule"])
    assert {"prepare", "train_ddpm", "extract_noise", "threshold_steps", "fuse_crf", "tabulate_scores"} <= rules
    shards = list((slurm_run / "results" / "mini" / "diffs").glob("shard-*.h5"))
    assert len(shards) >= 2
    assert (slurm_jobs["rule"] == "extract_noise").sum() == len(shards), "one extraction job per shard"


def test_every_job_completed_in_slurms_completion_log(cluster, slurm_jobs):
    records = pd.DataFrame(cluster.completion_records())
    assert sorted(records["JobId"]) == sorted(slurm_jobs["JobId"])
    assert (records["JobState"] == "COMPLETED").all(), records[["JobId", "JobState"]]


def test_gpu_rules_asked_for_the_gpu_and_cpu_rules_did_not(slurm_jobs):
    gpu = slurm_jobs[slurm_jobs["rule"].isin(GPU_RULES)]
    cpu = slurm_jobs[~slurm_jobs["rule"].isin(GPU_RULES)]
    assert set(gpu["rule"]) == GPU_RULES_IN_MINIATURE
    assert (gpu["TresPerJob"] == "gres:gpu:1").all(), gpu[["rule", "TresPerJob"]]
    assert (gpu["CpusPerTres"] == "gres:gpu:2").all(), gpu[["rule", "CpusPerTres"]]
    assert (gpu["Partition"] == "gpu").all()
    assert "TresPerJob" not in cpu or cpu["TresPerJob"].isna().all(), cpu[["rule", "TresPerJob"]]
    assert (cpu["JOB_GRES"].str.strip() == "(null)").all()
    assert (cpu["Partition"] == "cpu").all()


def test_jobs_got_the_profiles_memory_and_time(slurm_jobs):
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    train = slurm_jobs[slurm_jobs["rule"] == "train_ddpm"].iloc[0]
    threshold = slurm_jobs[slurm_jobs["rule"] == "threshold_steps"].iloc[0]
    # `<n> * attempt` in the profile: first attempts get n.
    assert train["MinMemoryNode"] == f"{first_attempt(profile['set-resources']['train_ddpm']['mem_mb'])}M"
    assert threshold["MinMemoryNode"] == f"{first_attempt(profile['default-resources']['mem_mb'])}M"
    assert threshold["TimeLimit"] == minutes(first_attempt(profile["default-resources"]["runtime"]))


def first_attempt(expression: str) -> int:
    return int(eval(expression, {"attempt": 1}))  # the profile's own expression, as Snakemake evaluates it


def minutes(total: int) -> str:
    """A time limit as scontrol prints it: [days-]hh:mm:ss."""
    days, rest = divmod(total, 24 * 60)
    text = f"{rest // 60:02d}:{rest % 60:02d}:00"
    return f"{days}-{text}" if days else text
