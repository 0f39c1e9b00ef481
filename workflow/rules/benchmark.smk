# The benchmark (`snakemake benchmark`, docs/benchmark.md): a dataset's official splits, settings chosen
# on a development split carved from the training images (benchmark.candidates, each scored in
# results/<name>/candidate/<candidate>/dev; the chosen one's root reports the test split), the
# label-efficiency curve, other cohorts segmented by the run's models (benchmark.cross, results roots
# in common.smk), one document.

BENCHMARK = f"results/{DATASET}"


rule benchmark:
    input:
        f"{BENCHMARK}/benchmark.md",
        RUN_CONFIG,
        # The cross-dataset cohorts' prepared stores, asked for here so that their prepare checkpoint
        # jobs are in the DAG from the start: Snakemake counts a checkpoint as done only when its job
        # is, so the per-shard tables of a cohort first reached under a candidate chosen in this run
        # (their store prepared by an earlier run) would otherwise stay unresolved (<TBD>) and run
        # with the store as their input.
        [
            f"results/{DATASET}/cross/{cohort}/prepared/manifest.csv"
            for cohort in ROOTS.cross_configs
        ],
        # The same for the students' pseudo-label cohorts (snakemake/snakemake#3862, a checkpoint
        # behind a checkpoint): a resumed benchmark would otherwise train a student with no input.
        [
            f"{PSEUDO}/prepared/manifest.csv".format(cohort=cohort)
            for cohort in PSEUDO_COHORTS
            if config["student"]["enabled"]
        ],


# The candidate with the best development Dice of DiffSeg + DenseCRF (diffseg.evaluation.selection): the test
# evaluation asks for its root once this has run.
checkpoint select_candidate:
    input:
        dev_scores=[
            f"{BENCHMARK}/candidate/{candidate}/dev/evaluation/scores.csv"
            for candidate in ROOTS.candidates
        ],
    output:
        chosen=f"{BENCHMARK}/selection/chosen.yaml",
        table=f"{BENCHMARK}/selection/candidates.csv",
        markdown=f"{BENCHMARK}/selection/candidates.md",
    log:
        f"logs/{DATASET}/selection/select.log",
    benchmark:
        f"logs/{DATASET}/selection/select.tsv"
    conda:
        "../../envs/core.yaml"
    params:
        candidates=ROOTS.candidates,
        metrics=setting("metrics"),
    script:
        "../../scripts/select_candidate.py"


rule fit_label_efficiency:
    input:
        scores=benchmark_file("evaluation/scores.csv"),
        manifest=f"{BENCHMARK}/prepared/manifest.csv",
    output:
        curve=f"{BENCHMARK}/evaluation/label_efficiency.csv",
        worth=f"{BENCHMARK}/evaluation/label_efficiency_worth.csv",
    log:
        f"logs/{DATASET}/evaluation/label_efficiency.log",
    benchmark:
        f"logs/{DATASET}/evaluation/label_efficiency.tsv"
    conda:
        "../../envs/core.yaml"
    params:
        metrics=setting("metrics"),
        group=setting("dataset", "folder", "splits", "group"),
    script:
        "../../scripts/fit_label_efficiency.py"


rule draw_label_efficiency:
    input:
        curve=f"{BENCHMARK}/evaluation/label_efficiency.csv",
        worth=f"{BENCHMARK}/evaluation/label_efficiency_worth.csv",
        table=benchmark_file("evaluation/table1.csv"),
    output:
        figure=report(
            f"{BENCHMARK}/figures/label_efficiency.png",
            caption="../report/label_efficiency.rst",
            category="Metrics",
        ),
    log:
        f"logs/{DATASET}/figures/label_efficiency.log",
    benchmark:
        f"logs/{DATASET}/figures/label_efficiency.tsv"
    conda:
        "../../envs/report.yaml"
    script:
        "../../scripts/draw_label_efficiency.py"


rule write_benchmark_document:
    input:
        unpack(benchmark_inputs),
        manifest=f"{BENCHMARK}/prepared/manifest.csv",
        curve=f"{BENCHMARK}/evaluation/label_efficiency.csv",
        worth=f"{BENCHMARK}/evaluation/label_efficiency_worth.csv",
        figure=f"{BENCHMARK}/figures/label_efficiency.png",
    output:
        document=f"{BENCHMARK}/benchmark.md",
    log:
        f"logs/{DATASET}/benchmark.log",
    conda:
        "../../envs/core.yaml"
    params:
        provenance={**provenance("benchmark"), "name": DATASET},
        workflow_dir=workflow.basedir,
        logs=f"logs/{DATASET}",
        # Every job's wall time, CPU time and memory (the rules' `benchmark:` files, beside their logs).
        benchmarks=f"logs/{DATASET}",
        # Which candidate's extraction (stage `diffs`) each candidate reads: those with one step set
        # share one.
        borrowed={"diffs": ROOTS.candidate_owners["diffs"]},
        split_by=setting("dataset", "folder", "splits", "keep"),
        # Each cross-dataset cohort's splits: its kept columns, which its test table is split by, and
        # its group column (images of one lesion), by which its statistics resample.
        cross={
            cohort: cross["dataset"]["folder"]["splits"]
            for cohort, cross in ROOTS.cross_configs.items()
        },
        dev_fraction=setting("dataset", "dev_fraction"),
        # What the DDPM's two semantics learn from, for the protocol.
        healthy=setting("healthy"),
        lesion_zooms=setting("lesion_views", "zooms"),
        lesion_share=setting("train", "lesion_share"),
        group=setting("dataset", "folder", "splits", "group"),
        subsets=setting("dataset", "folder", "splits", "subsets"),
        zoom_views=setting("student", "zoom_views"),
        metrics=setting("metrics"),
    script:
        "../../scripts/write_benchmark_document.py"
