# Cross-validation on a cohort with masks (`snakemake validate`) and its ablations (`snakemake ablate`).
# Each (variant, fold) is a results root, results/<dataset>/validate/<variant>/fold-<k>, in which the
# ordinary rules run; common.smk gives every root its configuration and shares unchanged stages.


VALIDATION = f"results/{DATASET}/validate"
FOLD_NUMBERS = list(range(1, config["validation"]["folds"] + 1))


rule validate:
    input:
        f"{VALIDATION}/validation.md",


rule ablate:
    input:
        f"{VALIDATION}/validation.md",
        f"{VALIDATION}/ablation.md",


rule tabulate_validation:
    input:
        scores=fold_files("default", "evaluation/scores.csv"),
        ged=fold_files("default", "uncertainty/ged.csv"),
    output:
        per_image=f"{VALIDATION}/scores.csv",
        table=f"{VALIDATION}/table1.csv",
        markdown=f"{VALIDATION}/table1.md",
        per_fold=f"{VALIDATION}/per_fold.csv",
        size_bins=f"{VALIDATION}/size_bins.csv",
        size_bins_markdown=f"{VALIDATION}/size_bins.md",
        mask_coverage=f"{VALIDATION}/mask_coverage.csv",
        mask_coverage_markdown=f"{VALIDATION}/mask_coverage.md",
    log:
        f"logs/{DATASET}/validate/table1.log",
    benchmark:
        f"logs/{DATASET}/validate/table1.tsv"
    conda:
        "../../envs/core.yaml"
    params:
        folds=FOLD_NUMBERS,
        metrics=setting("metrics"),
    script:
        "../../scripts/tabulate_validation.py"


rule tabulate_ablations:
    input:
        scores=[
            path
            for variant in ROOTS.variants
            for path in fold_files(variant, "evaluation/scores.csv")
        ],
    output:
        table=f"{VALIDATION}/ablation_table.csv",
        markdown=f"{VALIDATION}/ablation_table.md",
    log:
        f"logs/{DATASET}/validate/ablation_table.log",
    benchmark:
        f"logs/{DATASET}/validate/ablation_table.tsv"
    conda:
        "../../envs/core.yaml"
    params:
        folds=FOLD_NUMBERS,
        variants=ROOTS.variants,
        overrides=setting("validation", "ablations"),
        metrics=setting("metrics"),
    script:
        "../../scripts/tabulate_ablations.py"


rule write_validation_document:
    input:
        table1=f"{VALIDATION}/table1.md",
        per_fold=f"{VALIDATION}/per_fold.csv",
        size_bins=f"{VALIDATION}/size_bins.md",
        mask_coverage=f"{VALIDATION}/mask_coverage.md",
    output:
        document=f"{VALIDATION}/validation.md",
    log:
        f"logs/{DATASET}/validate/validation.log",
    conda:
        "../../envs/core.yaml"
    params:
        provenance=provenance("validate"),
        workflow_dir=workflow.basedir,
        # Every fold's job logs: each names the commit that computed it (diffseg.runtime.provenance).
        logs=f"logs/{DATASET}/validate",
    script:
        "../../scripts/write_validation_document.py"


use rule write_validation_document as write_ablation_document with:
    input:
        table1=f"{VALIDATION}/table1.md",
        per_fold=f"{VALIDATION}/per_fold.csv",
        size_bins=f"{VALIDATION}/size_bins.md",
        mask_coverage=f"{VALIDATION}/mask_coverage.md",
        ablation=f"{VALIDATION}/ablation_table.md",
    output:
        document=f"{VALIDATION}/ablation.md",
    log:
        f"logs/{DATASET}/validate/ablation.log",
    params:
        provenance=provenance("ablate"),
        workflow_dir=workflow.basedir,
        logs=f"logs/{DATASET}/validate",
