# The benchmark (`snakemake benchmark`, docs/benchmark.md): a dataset's official splits, settings chosen
# on a development split carved from the training images, the label-efficiency curve, other cohorts
# segmented by the run's models (benchmark.cross, results roots in common.smk), one document.

BENCHMARK = f"results/{DATASET}"


rule benchmark:
    input:
        f"{BENCHMARK}/benchmark.md",


rule label_efficiency:
    input:
        scores=f"{BENCHMARK}/evaluation/scores.csv",
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
    script:
        "../../scripts/label_efficiency.py"


rule figure_label_efficiency:
    input:
        curve=f"{BENCHMARK}/evaluation/label_efficiency.csv",
        worth=f"{BENCHMARK}/evaluation/label_efficiency_worth.csv",
        table=f"{BENCHMARK}/evaluation/table1.csv",
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
        unpack(benchmark_extras),
        table1=f"{BENCHMARK}/evaluation/table1.csv",
        table1_md=f"{BENCHMARK}/evaluation/table1.md",
        scores=f"{BENCHMARK}/evaluation/scores.csv",
        manifest=f"{BENCHMARK}/prepared/manifest.csv",
        curve=f"{BENCHMARK}/evaluation/label_efficiency.csv",
        worth=f"{BENCHMARK}/evaluation/label_efficiency_worth.csv",
        figure=f"{BENCHMARK}/figures/label_efficiency.png",
        cross_tables=[
            f"{BENCHMARK}/cross/{cohort}/evaluation/table1.md"
            for cohort in CROSS_CONFIGS
        ],
        cross_scores=[
            f"{BENCHMARK}/cross/{cohort}/evaluation/scores.csv"
            for cohort in CROSS_CONFIGS
        ],
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
        split_by=config["dataset"]["folder"]["splits"]["keep"],
        # The kept columns of each cross-dataset cohort, which its test table is split by.
        cross={
            cohort: cross["dataset"]["folder"]["splits"]["keep"]
            for cohort, cross in CROSS_CONFIGS.items()
        },
        dev_fraction=config["dataset"]["dev_fraction"],
        group=config["dataset"]["folder"]["splits"]["group"],
        metrics=config["metrics"],
    script:
        "../../scripts/benchmark_document.py"
