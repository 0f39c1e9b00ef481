# The DDPM under two semantics, the noise differences per step, and one segmentation per step.


rule train_ddpm:
    input:
        store=prepared("store.h5"),
        manifest=prepared("manifest.csv"),
    output:
        model=directory("results/{root}/model/ema"),
        loss="results/{root}/model/loss.csv",
    log:
        "logs/{root}/model/train.log",
    benchmark:
        "logs/{root}/model/train.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 2
    resources:
        gpu=1,
    params:
        # Checkpoints live outside the declared outputs, so a killed run resumes from them.
        workdir="results/{root}/model/training",
        preset=setting("model", "preset"),
        size=setting("dataset", "size"),
        train=setting("train"),
        healthy=setting("healthy"),
        lesion_zooms=setting("lesion_views", "zooms"),
        semantics=setting("semantics"),
    script:
        "../../scripts/train_ddpm.py"


rule extract_noise:
    input:
        store=prepared("store.h5"),
        model=trained_model,
    output:
        diffs="results/{root}/diffs/shard-{shard}.h5",
    log:
        "logs/{root}/diffs/shard-{shard}.log",
    benchmark:
        "logs/{root}/diffs/shard-{shard}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 2
    resources:
        gpu=1,
    params:
        shard_size=setting("extraction", "shard_size"),
        extraction=setting("extraction"),
        semantics=setting("semantics"),
        reduce=setting("difference", "reduce"),
        preset=setting("model", "preset"),
    script:
        "../../scripts/extract_noise.py"


rule join_diffs:
    input:
        per_shard("results/{root}/diffs/shard-{shard}.h5", stage="diffs"),
    output:
        "results/{root}/diffs/joined.h5",
    log:
        "logs/{root}/diffs/join.log",
    benchmark:
        "logs/{root}/diffs/join.tsv"
    conda:
        "../../envs/core.yaml"
    script:
        "../../scripts/join_diffs.py"


rule threshold_steps:
    input:
        diffs=from_stage("diffs", "results/{root}/diffs/shard-{shard}.h5"),
    output:
        masks="results/{root}/steps/shard-{shard}.h5",
        examples=directory("results/{root}/steps/examples/shard-{shard}"),
    log:
        "logs/{root}/steps/shard-{shard}.log",
    benchmark:
        "logs/{root}/steps/shard-{shard}.tsv"
    conda:
        "../../envs/core.yaml"
    params:
        threshold=setting("threshold"),
        reduce=setting("difference", "reduce"),
        examples=setting("extraction", "examples"),
    script:
        "../../scripts/threshold_steps.py"
