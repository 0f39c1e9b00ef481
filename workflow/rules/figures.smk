# The paper's figures and the metric tables for the HTML report, drawn from a finished run's results
# (no retraining). The image panels show the example images of the first evaluation shard.

FIGURES = [
    "noise_difference.png",
    "steps.png",
    "regions.png",
    "crf.png",
    "table1.png",
    "metric_tables.html",
    "dice_per_step.png",
    "ged_histogram.png",
    "diversity_vs_dice.png",
]
# A reused checkpoint (model.checkpoint) was trained elsewhere: this run has no loss curve to draw.
if not config["model"]["checkpoint"]:
    FIGURES.append("training_loss.png")
EXAMPLE_SHARD = "0000"


rule figures:
    input:
        expand("results/{dataset}/figures/{figure}", dataset=DATASET, figure=FIGURES),


rule figure_noise_difference:
    input:
        store="results/{dataset}/prepared/store.h5",
        diffs=f"results/{{dataset}}/diffs/shard-{EXAMPLE_SHARD}.h5",
        masks=f"results/{{dataset}}/masks/shard-{EXAMPLE_SHARD}.h5",
    output:
        figure=report(
            "results/{dataset}/figures/noise_difference.png",
            caption="../report/noise_difference.rst",
            category="Segmentation",
        ),
    log:
        "logs/{dataset}/figures/noise_difference.log",
    benchmark:
        "benchmarks/{dataset}/figures/noise_difference.tsv"
    conda:
        "../../envs/report.yaml"
    params:
        examples=4,
    script:
        "../../scripts/figure_noise_difference.py"


rule figure_steps:
    input:
        store="results/{dataset}/prepared/store.h5",
        masks=f"results/{{dataset}}/masks/shard-{EXAMPLE_SHARD}.h5",
    output:
        figure=report(
            "results/{dataset}/figures/steps.png",
            caption="../report/steps.rst",
            category="Segmentation",
        ),
    log:
        "logs/{dataset}/figures/steps.log",
    benchmark:
        "benchmarks/{dataset}/figures/steps.tsv"
    conda:
        "../../envs/report.yaml"
    params:
        examples=2,
    script:
        "../../scripts/figure_steps.py"


rule figure_regions:
    input:
        store="results/{dataset}/prepared/store.h5",
        regions=f"results/{{dataset}}/regions/shard-{EXAMPLE_SHARD}.h5",
    output:
        figure=report(
            "results/{dataset}/figures/regions.png",
            caption="../report/regions.rst",
            category="Uncertainty",
        ),
    log:
        "logs/{dataset}/figures/regions.log",
    benchmark:
        "benchmarks/{dataset}/figures/regions.tsv"
    conda:
        "../../envs/report.yaml"
    params:
        examples=4,
    script:
        "../../scripts/figure_regions.py"


rule figure_crf:
    input:
        store="results/{dataset}/prepared/store.h5",
        regions=f"results/{{dataset}}/regions/shard-{EXAMPLE_SHARD}.h5",
        fused=f"results/{{dataset}}/crf/shard-{EXAMPLE_SHARD}.h5",
    output:
        figure=report(
            "results/{dataset}/figures/crf.png",
            caption="../report/crf.rst",
            category="Segmentation",
        ),
    log:
        "logs/{dataset}/figures/crf.log",
    benchmark:
        "benchmarks/{dataset}/figures/crf.tsv"
    conda:
        "../../envs/report.yaml"
    params:
        examples=4,
    script:
        "../../scripts/figure_crf.py"


rule figure_table1:
    input:
        table="results/{dataset}/evaluation/table1.csv",
        markdown="results/{dataset}/evaluation/table1.md",
        ged_summary="results/{dataset}/uncertainty/ged_summary.csv",
    output:
        figure=report(
            "results/{dataset}/figures/table1.png",
            caption="../report/table1.rst",
            category="Metrics",
        ),
        tables=report(
            "results/{dataset}/figures/metric_tables.html",
            caption="../report/metric_tables.rst",
            category="Metrics",
        ),
    log:
        "logs/{dataset}/figures/table1.log",
    benchmark:
        "benchmarks/{dataset}/figures/table1.tsv"
    conda:
        "../../envs/report.yaml"
    script:
        "../../scripts/figure_table1.py"


rule figure_dice_per_step:
    input:
        per_step="results/{dataset}/evaluation/per_step.csv",
        table="results/{dataset}/evaluation/table1.csv",
    output:
        figure=report(
            "results/{dataset}/figures/dice_per_step.png",
            caption="../report/dice_per_step.rst",
            category="Metrics",
        ),
    log:
        "logs/{dataset}/figures/dice_per_step.log",
    benchmark:
        "benchmarks/{dataset}/figures/dice_per_step.tsv"
    conda:
        "../../envs/report.yaml"
    script:
        "../../scripts/figure_dice_per_step.py"


rule figure_ged:
    input:
        ged="results/{dataset}/uncertainty/ged.csv",
        scores="results/{dataset}/evaluation/scores.csv",
    output:
        histogram=report(
            "results/{dataset}/figures/ged_histogram.png",
            caption="../report/ged_histogram.rst",
            category="Uncertainty",
        ),
        scatter=report(
            "results/{dataset}/figures/diversity_vs_dice.png",
            caption="../report/diversity_vs_dice.rst",
            category="Uncertainty",
        ),
    log:
        "logs/{dataset}/figures/ged.log",
    benchmark:
        "benchmarks/{dataset}/figures/ged.tsv"
    conda:
        "../../envs/report.yaml"
    script:
        "../../scripts/figure_ged.py"


rule figure_loss:
    input:
        loss="results/{dataset}/model/loss.csv",
    output:
        figure=report(
            "results/{dataset}/figures/training_loss.png",
            caption="../report/training_loss.rst",
            category="Training",
        ),
    log:
        "logs/{dataset}/figures/training_loss.log",
    benchmark:
        "benchmarks/{dataset}/figures/training_loss.tsv"
    conda:
        "../../envs/report.yaml"
    script:
        "../../scripts/figure_loss.py"
