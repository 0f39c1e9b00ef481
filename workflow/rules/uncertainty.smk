# The per-step masks as a multi-annotator sample: regions, GED and DenseCRF fusion.


rule regions:
    input:
        store=prepared("store.h5"),
        masks="results/{dataset}/masks/shard-{shard}.h5",
    output:
        regions="results/{dataset}/regions/shard-{shard}.h5",
        overlays=directory("results/{dataset}/regions/overlays/shard-{shard}"),
    log:
        "logs/{dataset}/regions/shard-{shard}.log",
    benchmark:
        "benchmarks/{dataset}/regions/shard-{shard}.tsv"
    conda:
        "../../envs/core.yaml"
    params:
        examples=setting("extraction", "examples"),
    script:
        "../../scripts/regions.py"


rule ged:
    input:
        store=prepared("store.h5"),
        masks="results/{dataset}/masks/shard-{shard}.h5",
    output:
        table="results/{dataset}/uncertainty/ged/shard-{shard}.csv",
    log:
        "logs/{dataset}/ged/shard-{shard}.log",
    benchmark:
        "benchmarks/{dataset}/ged/shard-{shard}.tsv"
    conda:
        "../../envs/core.yaml"
    script:
        "../../scripts/ged.py"


rule ged_summary:
    input:
        per_shard("results/{dataset}/uncertainty/ged/shard-{shard}.csv"),
    output:
        per_image="results/{dataset}/uncertainty/ged.csv",
        summary="results/{dataset}/uncertainty/ged_summary.csv",
    log:
        "logs/{dataset}/ged_summary.log",
    benchmark:
        "benchmarks/{dataset}/ged_summary.tsv"
    conda:
        "../../envs/core.yaml"
    params:
        metrics=setting("metrics"),
    script:
        "../../scripts/ged_summary.py"


rule crf_fuse:
    input:
        store=prepared("store.h5"),
        masks="results/{dataset}/masks/shard-{shard}.h5",
        regions="results/{dataset}/regions/shard-{shard}.h5",
    output:
        fused="results/{dataset}/crf/shard-{shard}.h5",
        masks=directory("results/{dataset}/crf/masks/shard-{shard}"),
    log:
        "logs/{dataset}/crf_fuse/shard-{shard}.log",
    benchmark:
        "benchmarks/{dataset}/crf_fuse/shard-{shard}.tsv"
    conda:
        "../../envs/crf.yaml"
    params:
        crf=setting("crf"),
    script:
        "../../scripts/crf_fuse.py"
