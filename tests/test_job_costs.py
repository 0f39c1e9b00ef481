"""What each stage of a run cost, from the benchmark TSVs Snakemake writes beside each job's log."""

from __future__ import annotations

import pandas as pd

from diffseg.reports.job_costs import benchmark_records, phase_of, stage_costs, stage_costs_markdown, stage_of

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def write_tsv(path, seconds, cpu, rss, earlier=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [HEADER] + [f"{s}\t0:00:00\t{r}\t0\t0\t0\t0\t0\t0\t{c}\n" for s, c, r in (earlier or [])]
    path.write_text("".join(lines) + f"{seconds}\t0:00:00\t{rss}\t0\t0\t0\t0\t0\t0\t{cpu}\n")


def test_jobs_are_read_by_stage_and_phase_and_summed(tmp_path):
    root = tmp_path / "logs" / "bench"
    write_tsv(root / "model" / "train.tsv", 1200, 2300, 1600, earlier=[(50, 60, 900)])  # rerun: the last line
    write_tsv(root / "unet" / "masks-10" / "train.tsv", 100, 150, 500)
    write_tsv(root / "unet" / "masks-300" / "train.tsv", 200, 350, 550)
    for shard in range(2):
        write_tsv(root / "candidate" / "late" / "diffs" / f"shard-000{shard}.tsv", 300, 500, 1000)
        write_tsv(root / "candidate" / "late" / "dev" / "diffs" / f"shard-000{shard}.tsv", 90, 100, 950)
        write_tsv(root / "candidate" / "early" / "dev" / "diffs" / f"shard-000{shard}.tsv", 80, 90, 940)
        write_tsv(root / "candidate" / "early" / "diffs" / f"shard-000{shard}.tsv", 250, 400, 990)
        write_tsv(root / "candidate" / "late" / "cross" / "ham" / "evaluation" / "scores" / f"shard-000{shard}.tsv",
                  5, 4, 170)
    write_tsv(root / "cross" / "ham" / "prepared" / "prepare.tsv", 7, 6, 150)
    write_tsv(root / "figures" / "label_efficiency.tsv", 3, 2, 180)
    (root / "model" / "train.log").write_text("a log beside its TSV is not a job\n")
    jobs = benchmark_records(root)
    assert len(jobs) == 15
    assert jobs.set_index("path").loc["model/train", "s"] == 1200
    assert set(jobs["stage"]) == {"model/train", "unet/train (label budgets)", "diffs", "evaluation/scores",
                                  "prepared/prepare", "figures/label_efficiency"}
    costs = stage_costs(jobs, chosen="late").set_index(["phase", "stage"])
    assert costs.loc[("training and test", "unet/train (label budgets)"), ["jobs", "s", "cpu_time", "max_rss"]].tolist() \
        == [2, 300, 500, 550]
    assert costs.loc[("training and test", "diffs"), "s"] == 600
    # Both candidates' development extraction; the earlier choice's test images apart.
    assert costs.loc[("development split", "diffs"), ["jobs", "s"]].tolist() == [4, 340]
    assert costs.loc[("candidate not chosen", "diffs"), "s"] == 500
    assert costs.loc[("cross-dataset", "evaluation/scores"), "jobs"] == 2
    assert ("cross-dataset", "prepared/prepare") in costs.index
    phases = list(dict.fromkeys(costs.index.get_level_values("phase")))
    assert phases == ["training and test", "development split", "cross-dataset", "candidate not chosen", "figures"]
    markdown = stage_costs_markdown(stage_costs(jobs, chosen="late"))
    assert "| training and test | model/train | 1 | 20 min 00 s | 38 min 20 s | 1600 |" in markdown
    assert "| training and test | **all stages** | 5 | 35 min 00 s |" in markdown
    assert "| cross-dataset | 2 other stages | 3 | 0 min 17 s |" in markdown


def test_a_stage_is_named_by_its_results_folder():
    assert stage_of("diffs/shard-0003") == "diffs"
    assert stage_of("candidate/a/dev/diffs/shard-0003") == "diffs"
    assert stage_of("candidate/a/cross/ham/uncertainty/ged/shard-0000") == "uncertainty/ged"
    assert stage_of("cross/ham/unet/masks-30/shard-0001") == "unet (label budgets)"
    assert stage_of("dev/model/train") == "model/train"
    assert stage_of("selection/select") == "selection/select"
    assert stage_of("run") == "run"


def test_phases_follow_the_results_layout():
    assert phase_of("prepared/prepare", "a") == "training and test"
    assert phase_of("dev/prepared/prepare", "a") == "development split"
    assert phase_of("cross/ham/prepared/prepare", "a") == "cross-dataset"
    assert phase_of("candidate/a/crf/shard-0000", "a") == "training and test"
    assert phase_of("candidate/b/crf/shard-0000", "a") == "candidate not chosen"
    assert phase_of("candidate/b/dev/crf/shard-0000", "a") == "development split"
    assert phase_of("candidate/a/cross/ham/uncertainty/ged/shard-0000", "a") == "cross-dataset"
    assert phase_of("figures/training_loss", None) == "figures"
    # The chosen candidate reads the extraction of an earlier one with its step set, not its other stages.
    borrowed = {"diffs": "b"}
    assert phase_of("candidate/b/diffs/shard-0000", "a", borrowed) == "training and test"
    assert phase_of("candidate/b/cross/ham/diffs/shard-0000", "a", borrowed) == "cross-dataset"
    assert phase_of("candidate/b/crf/shard-0000", "a", borrowed) == "candidate not chosen"
    assert phase_of("candidate/c/diffs/shard-0000", "a", borrowed) == "candidate not chosen"


def test_no_benchmark_files_give_no_jobs(tmp_path):
    assert benchmark_records(tmp_path / "absent").empty
    assert isinstance(benchmark_records(tmp_path), pd.DataFrame)
