# The per-step masks as a multi-annotator sample: regions, GED and DenseCRF fusion.


rule regions:
    input:
        store=prepared("store.h5"),
        masks="results/{root}/masks/shard-{shard}.h5",
    output:
        regions="results/{root}/regions/shard-{shard}.h5",
        overlays=directory("results/{root}/regions/overlays/shard-{shard}"),
    log:
        "logs/{root}/regions/shard-{shard}.log",
    benchmark:
        "benchmarks/{root}/regions/shard-{shard}.tsv"
    conda:
        "../../envs/core.yaml"
    params:
        examples=setting("extraction", "examples"),
    script:
        "../../scripts/regions.py"


rule ged:
    input:
        store=prepared("store.h5"),
        masks="results/{root}/masks/shard-{shard}.h5",
    output:
        table="results/{root}/uncertainty/ged/shard-{shard}.csv",
    log:
        "logs/{root}/ged/shard-{shard}.log",
    benchmark:
        "benchmarks/{root}/ged/shard-{shard}.tsv"
    conda:
        "../../envs/core.yaml"
    script:
        "../../scripts/ged.py"


rule ged_summary:
    input:
        per_shard("results/{root}/uncertainty/ged/shard-{shard}.csv"),
    output:
        per_image="results/{root}/uncertainty/ged.csv",
        summary="results/{root}/uncertainty/ged_summary.csv",
    log:
        "logs/{root}/ged_summary.log",
    benchmark:
        "benchmarks/{root}/ged_summary.tsv"
    conda:
        "../../envs/core.yaml"
    params:
        metrics=setting("metrics"),
    script:
        "../../scripts/ged_summary.py"


rule crf_fuse:
    input:
        store=prepared("store.h5"),
        masks="results/{root}/masks/shard-{shard}.h5",
        regions="results/{root}/regions/shard-{shard}.h5",
    output:
        fused="results/{root}/crf/shard-{shard}.h5",
        masks=directory("results/{root}/crf/masks/shard-{shard}"),
    log:
        "logs/{root}/crf_fuse/shard-{shard}.log",
    benchmark:
        "benchmarks/{root}/crf_fuse/shard-{shard}.tsv"
    conda:
        "../../envs/crf.yaml"
    params:
        crf=setting("crf"),
    script:
        "../../scripts/crf_fuse.py"
