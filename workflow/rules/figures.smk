# The paper's figures and the metric tables for the HTML report, drawn from a finished run's results
# (no retraining). The image panels show the example images of the first evaluation shard; the
# review-first page and the overview figure show images chosen from every shard by their scores.

FIGURES = [
    "review_first.html",
    "overview.png",
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
if TRAINS_DDPM:
    FIGURES.append("training_loss.png")
# The report's menu lists its categories in alphabetical order (Snakemake 9's html_reporter sorts
# them with localeCompare): this name comes before Metrics, Segmentation, Training and Uncertainty.
REVIEW_CATEGORY = "Images to review first"
EXAMPLE_SHARD = "0000"


rule figures:
    input:
        expand("results/{root}/figures/{figure}", root=DATASET, figure=FIGURES),


rule draw_review_first:
    input:
        store="results/{root}/prepared/store.h5",
        scores="results/{root}/evaluation/scores.csv",
        ged="results/{root}/uncertainty/ged.csv",
        size_bins="results/{root}/evaluation/size_bins.csv",
        regions=per_shard("results/{root}/regions/shard-{shard}.h5"),
        fused=per_shard("results/{root}/crf/shard-{shard}.h5"),
    output:
        page=report(
            "results/{root}/figures/review_first.html",
            caption="../report/review_first.rst",
            category=REVIEW_CATEGORY,
        ),
    log:
        "logs/{root}/figures/review_first.log",
    benchmark:
        "logs/{root}/figures/review_first.tsv"
    conda:
        "../../envs/report.yaml"
    params:
        # The annotation's flagging rule, so a run and an annotation flag alike.
        review_quantile=setting("annotate", "review_quantile"),
        review_cutoff=setting("annotate", "review_cutoff"),
    script:
        "../../scripts/draw_review_first.py"


rule draw_overview:
    input:
        store="results/{root}/prepared/store.h5",
        scores="results/{root}/evaluation/scores.csv",
        regions=per_shard("results/{root}/regions/shard-{shard}.h5"),
        fused=per_shard("results/{root}/crf/shard-{shard}.h5"),
    output:
        figure=report(
            "results/{root}/figures/overview.png",
            caption="../report/overview.rst",
            category="Segmentation",
        ),
    log:
        "logs/{root}/figures/overview.log",
    benchmark:
        "logs/{root}/figures/overview.tsv"
    conda:
        "../../envs/report.yaml"
    params:
        examples=4,
    script:
        "../../scripts/draw_overview.py"


rule draw_noise_difference:
    input:
        store="results/{root}/prepared/store.h5",
        diffs=f"results/{{root}}/diffs/shard-{EXAMPLE_SHARD}.h5",
        masks=f"results/{{root}}/steps/shard-{EXAMPLE_SHARD}.h5",
    output:
        figure=report(
            "results/{root}/figures/noise_difference.png",
            caption="../report/noise_difference.rst",
            category="Segmentation",
        ),
    log:
        "logs/{root}/figures/noise_difference.log",
    benchmark:
        "logs/{root}/figures/noise_difference.tsv"
    conda:
        "../../envs/report.yaml"
    params:
        examples=4,
    script:
        "../../scripts/draw_noise_difference.py"


rule draw_steps:
    input:
        store="results/{root}/prepared/store.h5",
        masks=f"results/{{root}}/steps/shard-{EXAMPLE_SHARD}.h5",
    output:
        figure=report(
            "results/{root}/figures/steps.png",
            caption="../report/steps.rst",
            category="Segmentation",
        ),
    log:
        "logs/{root}/figures/steps.log",
    benchmark:
        "logs/{root}/figures/steps.tsv"
    conda:
        "../../envs/report.yaml"
    params:
        examples=2,
    script:
        "../../scripts/draw_steps.py"


rule draw_regions:
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
        "logs/{root}/figures/regions.tsv"
    conda:
        "../../envs/report.yaml"
    params:
        examples=4,
    script:
        "../../scripts/draw_regions.py"


rule draw_crf:
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
        "logs/{root}/figures/crf.tsv"
    conda:
        "../../envs/report.yaml"
    params:
        examples=4,
    script:
        "../../scripts/draw_crf.py"


rule draw_table1:
    input:
        **TABLE1_FILES,
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
        "logs/{root}/figures/table1.tsv"
    conda:
        "../../envs/report.yaml"
    script:
        "../../scripts/draw_table1.py"


rule draw_dice_per_step:
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
        "logs/{root}/figures/dice_per_step.tsv"
    conda:
        "../../envs/report.yaml"
    script:
        "../../scripts/draw_dice_per_step.py"


rule draw_ged:
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
        "logs/{root}/figures/ged.tsv"
    conda:
        "../../envs/report.yaml"
    script:
        "../../scripts/draw_ged.py"


rule draw_loss:
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
        "logs/{root}/figures/training_loss.tsv"
    conda:
        "../../envs/report.yaml"
    script:
        "../../scripts/draw_loss.py"
