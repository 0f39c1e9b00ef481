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
        expand("results/{root}/figures/{figure}", root=DATASET, figure=FIGURES),


rule figure_noise_difference:
    input:
        store="results/{root}/prepared/store.h5",
        diffs=f"results/{{root}}/diffs/shard-{EXAMPLE_SHARD}.h5",
        masks=f"results/{{root}}/masks/shard-{EXAMPLE_SHARD}.h5",
    output:
        figure=report(
            "results/{root}/figures/noise_difference.png",
            caption="../report/noise_difference.rst",
            category="Segmentation",
        ),
    log:
        "logs/{root}/figures/noise_difference.log",
    benchmark:
        "benchmarks/{root}/figures/noise_difference.tsv"
    conda:
        "../../envs/report.yaml"
    params:
        examples=4,
    script:
        "../../scripts/figure_noise_difference.py"


rule figure_steps:
    input:
        store="results/{root}/prepared/store.h5",
        masks=f"results/{{root}}/masks/shard-{EXAMPLE_SHARD}.h5",
    output:
        figure=report(
            "results/{root}/figures/steps.png",
            caption="../report/steps.rst",
            category="Segmentation",
        ),
    log:
        "logs/{root}/figures/steps.log",
    benchmark:
        "benchmarks/{root}/figures/steps.tsv"
    conda:
        "../../envs/report.yaml"
    params:
        examples=2,
    script:
        "../../scripts/figure_steps.py"


rule figure_regions:
    input:
        store="results/{root}/prepared/store.h5",
        regions=f"results/{{root}}/regions/shard-{EXAMPLE_SHARD}.h5",
    output:
        figure=report(
            "results/{root}/figures/regions.png",
            caption="../report/regions.rst",
            category="Uncertainty",
        ),
    log:
        "logs/{root}/figures/regions.log",
    benchmark:
        "benchmarks/{root}/figures/regions.tsv"
    conda:
        "../../envs/report.yaml"
    params:
        examples=4,
    script:
        "../../scripts/figure_regions.py"


rule figure_crf:
    input:
        store="results/{root}/prepared/store.h5",
        regions=f"results/{{root}}/regions/shard-{EXAMPLE_SHARD}.h5",
        fused=f"results/{{root}}/crf/shard-{EXAMPLE_SHARD}.h5",
    output:
        figure=report(
            "results/{root}/figures/crf.png",
            caption="../report/crf.rst",
            category="Segmentation",
        ),
    log:
        "logs/{root}/figures/crf.log",
    benchmark:
        "benchmarks/{root}/figures/crf.tsv"
    conda:
        "../../envs/report.yaml"
    params:
        examples=4,
    script:
        "../../scripts/figure_crf.py"


rule figure_table1:
    input:
        table="results/{root}/evaluation/table1.csv",
        markdown="results/{root}/evaluation/table1.md",
        size_bins="results/{root}/evaluation/size_bins.csv",
        size_bins_markdown="results/{root}/evaluation/size_bins.md",
        mask_coverage="results/{root}/evaluation/mask_coverage.csv",
        mask_coverage_markdown="results/{root}/evaluation/mask_coverage.md",
        ged_summary="results/{root}/uncertainty/ged_summary.csv",
    output:
        figure=report(
            "results/{root}/figures/table1.png",
            caption="../report/table1.rst",
            category="Metrics",
        ),
        tables=report(
            "results/{root}/figures/metric_tables.html",
            caption="../report/metric_tables.rst",
            category="Metrics",
        ),
    log:
        "logs/{root}/figures/table1.log",
    benchmark:
        "benchmarks/{root}/figures/table1.tsv"
    conda:
        "../../envs/report.yaml"
    script:
        "../../scripts/figure_table1.py"


rule figure_dice_per_step:
    input:
        per_step="results/{root}/evaluation/per_step.csv",
        table="results/{root}/evaluation/table1.csv",
    output:
        figure=report(
            "results/{root}/figures/dice_per_step.png",
            caption="../report/dice_per_step.rst",
            category="Metrics",
        ),
    log:
        "logs/{root}/figures/dice_per_step.log",
    benchmark:
        "benchmarks/{root}/figures/dice_per_step.tsv"
    conda:
        "../../envs/report.yaml"
    script:
        "../../scripts/figure_dice_per_step.py"


rule figure_ged:
    input:
        ged="results/{root}/uncertainty/ged.csv",
        scores="results/{root}/evaluation/scores.csv",
    output:
        histogram=report(
            "results/{root}/figures/ged_histogram.png",
            caption="../report/ged_histogram.rst",
            category="Uncertainty",
        ),
        scatter=report(
            "results/{root}/figures/diversity_vs_dice.png",
            caption="../report/diversity_vs_dice.rst",
            category="Uncertainty",
        ),
    log:
        "logs/{root}/figures/ged.log",
    benchmark:
        "benchmarks/{root}/figures/ged.tsv"
    conda:
        "../../envs/report.yaml"
    script:
        "../../scripts/figure_ged.py"


rule figure_loss:
    input:
        loss="results/{root}/model/loss.csv",
    output:
        figure=report(
            "results/{root}/figures/training_loss.png",
            caption="../report/training_loss.rst",
            category="Training",
        ),
    log:
        "logs/{root}/figures/training_loss.log",
    benchmark:
        "benchmarks/{root}/figures/training_loss.tsv"
    conda:
        "../../envs/report.yaml"
    script:
        "../../scripts/figure_loss.py"
