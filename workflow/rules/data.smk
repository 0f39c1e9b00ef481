# Datasets: the embedded synthetic cohort, the ISIC 2018 download, and the prepared image store.


rule synthesise_cohort:
    output:
        cohort=directory("results/{root}/cohort"),
    log:
        "logs/{root}/cohort/synthesise.log",
    benchmark:
        "logs/{root}/cohort/synthesise.tsv"
    conda:
        "../../envs/core.yaml"
    params:
        synthetic=setting("dataset", "synthetic"),
        size=setting("dataset", "size"),
        test_fraction=setting("dataset", "test_fraction"),
    script:
        "../../scripts/synthesise_cohort.py"


# Compute nodes of many clusters have no internet: the download runs where Snakemake runs.
localrules:
    download_isic2018,


rule download_isic2018:
    output:
        cohort=directory(ISIC2018_COHORT),
    log:
        "logs/isic2018/download.log",
    benchmark:
        "logs/isic2018/download.tsv"
    retries: 2
    conda:
        "../../envs/core.yaml"
    params:
        # The cohort folder's parent: the archives are kept beside it, so a rerun resumes them.
        dest=lambda wildcards, output: Path(output.cohort).parent,
        base_url=setting("dataset", "isic2018", "base_url"),
    script:
        "../../scripts/download_isic2018.py"


checkpoint prepare:
    input:
        unpack(cohort_input),
    output:
        store="results/{root}/prepared/store.h5",
        manifest="results/{root}/prepared/manifest.csv",
        # In the report beside the scores: the images the metrics do not cover, and why.
        skipped=report(
            "results/{root}/prepared/skipped.csv",
            caption="../report/skipped.rst",
            category="Metrics",
            subcategory="Input images left out",
        ),
    log:
        "logs/{root}/prepared/prepare.log",
    benchmark:
        "logs/{root}/prepared/prepare.tsv"
    conda:
        "../../envs/core.yaml"
    params:
        source=setting("dataset", "source"),
        size=setting("dataset", "size"),
        test_fraction=setting("dataset", "test_fraction"),
        seed=setting("dataset", "seed"),
        # Cross-validation roots replace the hash split by their fold's.
        fold=fold_of_root,
        on_bad_image=setting("dataset", "on_bad_image"),
        min_side=setting("dataset", "min_side"),
        contents=cohort_contents,
        masks=setting("dataset", "folder", "masks"),
        labels=setting("dataset", "folder", "labels"),
        splits=cohort_splits,
        dev_fraction=setting("dataset", "dev_fraction"),
        dev_stratify=setting("dataset", "dev_stratify"),
        # The development root keeps only the development images, as its test split.
        held_out=held_out_split,
    script:
        "../../scripts/prepare.py"
