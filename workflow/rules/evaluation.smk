# Baselines (training-free Otsu, supervised U-Net), metrics at original resolution, Table 1.


rule baseline_otsu:
    input:
        store=prepared("store.h5"),
        manifest=prepared("manifest.csv"),
    output:
        probabilities="results/{dataset}/otsu/shard-{shard}.h5",
    log:
        "logs/{dataset}/baseline_otsu/shard-{shard}.log",
    benchmark:
        "benchmarks/{dataset}/baseline_otsu/shard-{shard}.tsv"
    conda:
        "../../envs/core.yaml"
    params:
        shard_size=setting("extraction", "shard_size"),
        otsu=setting("otsu"),
    script:
        "../../scripts/baseline_otsu.py"


rule train_unet:
    input:
        store=prepared("store.h5"),
    output:
        model="results/{dataset}/unet/model.pt",
        loss="results/{dataset}/unet/loss.csv",
    log:
        "logs/{dataset}/train_unet.log",
    benchmark:
        "benchmarks/{dataset}/train_unet.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 2
    resources:
        gpu=1,
    params:
        unet=setting("unet"),
    script:
        "../../scripts/train_unet.py"


rule predict_unet:
    input:
        store=prepared("store.h5"),
        manifest=prepared("manifest.csv"),
        model="results/{dataset}/unet/model.pt",
    output:
        probabilities="results/{dataset}/unet/shard-{shard}.h5",
    log:
        "logs/{dataset}/predict_unet/shard-{shard}.log",
    benchmark:
        "benchmarks/{dataset}/predict_unet/shard-{shard}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 2
    resources:
        gpu=1,
    params:
        shard_size=setting("extraction", "shard_size"),
    script:
        "../../scripts/predict_unet.py"


rule metrics:
    input:
        store=prepared("store.h5"),
        masks="results/{dataset}/masks/shard-{shard}.h5",
        regions="results/{dataset}/regions/shard-{shard}.h5",
        fused="results/{dataset}/crf/shard-{shard}.h5",
        unet=from_stage("unet", "results/{dataset}/unet/shard-{shard}.h5"),
        otsu=from_stage("otsu", "results/{dataset}/otsu/shard-{shard}.h5"),
    output:
        scores="results/{dataset}/evaluation/scores/shard-{shard}.csv",
    log:
        "logs/{dataset}/metrics/shard-{shard}.log",
    benchmark:
        "benchmarks/{dataset}/metrics/shard-{shard}.tsv"
    conda:
        "../../envs/core.yaml"
    script:
        "../../scripts/metrics.py"


rule table1:
    input:
        scores=per_shard("results/{dataset}/evaluation/scores/shard-{shard}.csv"),
        ged="results/{dataset}/uncertainty/ged.csv",
    output:
        per_image="results/{dataset}/evaluation/scores.csv",
        per_step="results/{dataset}/evaluation/per_step.csv",
        table="results/{dataset}/evaluation/table1.csv",
        markdown="results/{dataset}/evaluation/table1.md",
    log:
        "logs/{dataset}/table1.log",
    benchmark:
        "benchmarks/{dataset}/table1.tsv"
    conda:
        "../../envs/core.yaml"
    params:
        metrics=setting("metrics"),
    script:
        "../../scripts/table1.py"
