# The benchmark (`snakemake benchmark`, docs/benchmark.md): a dataset's official splits, settings chosen
# on a development split carved from the training images (benchmark.candidates, each scored in
# results/<name>/candidate/<candidate>/dev; the chosen one's root reports the test split), the
# label-efficiency curve, other cohorts segmented by the run's models (benchmark.cross, results roots
# in common.smk), one document.

BENCHMARK = f"results/{DATASET}"


rule benchmark:
    input:
        f"{BENCHMARK}/benchmark.md",
        # The cross-dataset cohorts' prepared stores, asked for here so that their prepare checkpoint
        # jobs are in the DAG from the start: Snakemake counts a checkpoint as done only when its job
        # is, so the per-shard tables of a cohort first reached under a candidate chosen in this run
        # (their store prepared by an earlier run) would otherwise stay unresolved (<TBD>) and run
        # with the store as their input.
        [
            f"results/{DATASET}/cross/{cohort}/prepared/manifest.csv"
            for cohort in CROSS_CONFIGS
        ],


# The candidate with the best development Dice of DiffSeg + DenseCRF (diffseg.evaluation.selection): the test
# evaluation asks for its root once this has run.
checkpoint select_candidate:
    input:
        dev_scores=[
            f"{BENCHMARK}/candidate/{candidate}/dev/evaluation/scores.csv"
            for candidate in CANDIDATES
        ],
    output:
        chosen=f"{BENCHMARK}/selection/chosen.yaml",
        table=f"{BENCHMARK}/selection/candidates.csv",
        markdown=f"{BENCHMARK}/selection/candidates.md",
    log:
        f"logs/{DATASET}/select_candidate.log",
    benchmark:
        f"benchmarks/{DATASET}/select_candidate.tsv"
    conda:
        "../../envs/core.yaml"
    params:
        candidates=CANDIDATES,
        metrics=config["metrics"],
    script:
        "../../scripts/select_candidate.py"


rule label_efficiency:
    input:
        scores=benchmark_file("evaluation/scores.csv"),
        manifest=f"{BENCHMARK}/prepared/manifest.csv",
    output:
        curve=f"{BENCHMARK}/evaluation/label_efficiency.csv",
        worth=f"{BENCHMARK}/evaluation/label_efficiency_worth.csv",
    log:
        f"logs/{DATASET}/label_efficiency.log",
    benchmark:
        f"benchmarks/{DATASET}/label_efficiency.tsv"
    conda:
        "../../envs/core.yaml"
    params:
        metrics=config["metrics"],
        group=config["dataset"]["folder"]["splits"]["group"],
    script:
        "../../scripts/label_efficiency.py"


rule figure_label_efficiency:
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
        f"benchmarks/{DATASET}/figures/label_efficiency.tsv"
    conda:
        "../../envs/report.yaml"
    script:
        "../../scripts/figure_label_efficiency.py"


rule benchmark_document:
    input:
        unpack(benchmark_inputs),
        manifest=f"{BENCHMARK}/prepared/manifest.csv",
        curve=f"{BENCHMARK}/evaluation/label_efficiency.csv",
        worth=f"{BENCHMARK}/evaluation/label_efficiency_worth.csv",
        figure=f"{BENCHMARK}/figures/label_efficiency.png",
    output:
        document=f"{BENCHMARK}/benchmark.md",
    log:
        f"logs/{DATASET}/benchmark_document.log",
    conda:
        "../../envs/core.yaml"
    params:
        provenance={**provenance("benchmark"), "name": DATASET},
        workflow_dir=workflow.basedir,
        logs=f"logs/{DATASET}",
        # Every job's wall time, CPU time and memory (the rules' `benchmark:` files).
        benchmarks=f"benchmarks/{DATASET}",
        # Which candidate's extraction each candidate reads (those with one step set share one), by
        # the name of the rule that extracts.
        borrowed={rules.extract_noise.rule.name: CANDIDATE_OWNERS["diffs"]},
        split_by=config["dataset"]["folder"]["splits"]["keep"],
        # Each cross-dataset cohort's splits: its kept columns, which its test table is split by, and
        # its group column (images of one lesion), by which its statistics resample.
        cross={
            cohort: cross["dataset"]["folder"]["splits"]
            for cohort, cross in CROSS_CONFIGS.items()
        },
        dev_fraction=config["dataset"]["dev_fraction"],
        # What the DDPM's two semantics learn from, for the protocol.
        healthy=config["healthy"],
        lesion_zooms=config["lesion_views"]["zooms"],
        lesion_share=config["train"]["lesion_share"],
        group=config["dataset"]["folder"]["splits"]["group"],
        metrics=config["metrics"],
    script:
        "../../scripts/benchmark_document.py"
