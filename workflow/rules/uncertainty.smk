# The per-step masks as a multi-annotator sample: regions, GED and DenseCRF fusion.


rule find_regions:
    input:
        store=prepared("store.h5"),
        masks="results/{root}/steps/shard-{shard}.h5",
    output:
        regions="results/{root}/regions/shard-{shard}.h5",
        overlays=directory("results/{root}/regions/overlays/shard-{shard}"),
    log:
        "logs/{root}/regions/shard-{shard}.log",
    benchmark:
        "logs/{root}/regions/shard-{shard}.tsv"
    conda:
        "../../envs/core.yaml"
    params:
        examples=setting("extraction", "examples"),
    script:
        "../../scripts/find_regions.py"


rule compute_ged:
    input:
        store=prepared("store.h5"),
        masks="results/{root}/steps/shard-{shard}.h5",
    output:
        table="results/{root}/uncertainty/ged/shard-{shard}.csv",
    log:
        "logs/{root}/uncertainty/ged/shard-{shard}.log",
    benchmark:
        "logs/{root}/uncertainty/ged/shard-{shard}.tsv"
    conda:
        "../../envs/core.yaml"
    script:
        "../../scripts/compute_ged.py"


rule summarise_ged:
    input:
        per_shard("results/{root}/uncertainty/ged/shard-{shard}.csv"),
    output:
        per_image="results/{root}/uncertainty/ged.csv",
        summary="results/{root}/uncertainty/ged_summary.csv",
    log:
        "logs/{root}/uncertainty/summary.log",
    benchmark:
        "logs/{root}/uncertainty/summary.tsv"
    conda:
        "../../envs/core.yaml"
    params:
        metrics=setting("metrics"),
    script:
        "../../scripts/summarise_ged.py"


rule fuse_crf:
    input:
        store=prepared("store.h5"),
        masks="results/{root}/steps/shard-{shard}.h5",
        regions="results/{root}/regions/shard-{shard}.h5",
    output:
        fused="results/{root}/crf/shard-{shard}.h5",
        masks=directory("results/{root}/crf/masks/shard-{shard}"),
    log:
        "logs/{root}/crf/shard-{shard}.log",
    benchmark:
        "logs/{root}/crf/shard-{shard}.tsv"
    conda:
        "../../envs/crf.yaml"
    params:
        crf=setting("crf"),
        # The darkness mask that crf.darkness_weight mixes into the seed is the Otsu baseline's.
        otsu=setting("otsu"),
    script:
        "../../scripts/fuse_crf.py"
