# Baselines (training-free Otsu, alone and fused by DenseCRF; supervised U-Net), metrics at original resolution, Table 1.

# Table 1 and its breakdowns by lesion size and mask coverage: tabulate_scores writes them,
# draw_table1 draws them.
TABLE1_FILES = {
    "table": "results/{root}/evaluation/table1.csv",
    "markdown": "results/{root}/evaluation/table1.md",
    "size_bins": "results/{root}/evaluation/size_bins.csv",
    "size_bins_markdown": "results/{root}/evaluation/size_bins.md",
    "mask_coverage": "results/{root}/evaluation/mask_coverage.csv",
    "mask_coverage_markdown": "results/{root}/evaluation/mask_coverage.md",
    # Table 1 and the size bins again on each subset of metrics.subsets (empty without any).
    "subsets": "results/{root}/evaluation/subsets.md",
}


rule segment_otsu:
    input:
        store=prepared("store.h5"),
        manifest=prepared("manifest.csv"),
    output:
        probabilities="results/{root}/otsu/shard-{shard}.h5",
    log:
        "logs/{root}/otsu/shard-{shard}.log",
    benchmark:
        "logs/{root}/otsu/shard-{shard}.tsv"
    conda:
        "../../envs/core.yaml"
    params:
        shard_size=setting("extraction", "shard_size"),
        otsu=setting("otsu"),
    script:
        "../../scripts/segment_otsu.py"


# The fair training-free control: Otsu's mask as the seed of the same DenseCRF that fuses DiffSeg's
# vote (colour model, kernels, iterations: this root's crf settings, so a candidate's root fuses with
# the candidate's). What DiffSeg + DenseCRF gains over this row is the diffusion maps', not DenseCRF's.
rule fuse_otsu_crf:
    input:
        store=prepared("store.h5"),
        otsu=from_stage("otsu", "results/{root}/otsu/shard-{shard}.h5"),
    output:
        fused="results/{root}/otsu_crf/shard-{shard}.h5",
    log:
        "logs/{root}/otsu_crf/shard-{shard}.log",
    benchmark:
        "logs/{root}/otsu_crf/shard-{shard}.tsv"
    conda:
        "../../envs/crf.yaml"
    params:
        crf=setting("crf"),
    script:
        "../../scripts/fuse_otsu_crf.py"


rule train_unet:
    input:
        store=prepared("store.h5"),
    output:
        model="results/{root}/unet/model.pt",
        loss="results/{root}/unet/loss.csv",
    log:
        "logs/{root}/unet/train.log",
    benchmark:
        "logs/{root}/unet/train.tsv"
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
        model=from_stage("unet_model", "results/{root}/unet/model.pt"),
    output:
        probabilities="results/{root}/unet/shard-{shard}.h5",
    log:
        "logs/{root}/unet/shard-{shard}.log",
    benchmark:
        "logs/{root}/unet/shard-{shard}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 2
    resources:
        gpu=1,
    params:
        shard_size=setting("extraction", "shard_size"),
    script:
        "../../scripts/predict_unet.py"


# The label-efficiency curve (diffseg.evaluation.label_efficiency): one U-Net per unet.label_budgets, trained on a
# seeded subset of that many training masks.
use rule train_unet as train_unet_budget with:
    output:
        model="results/{root}/unet/masks-{budget}/model.pt",
        loss="results/{root}/unet/masks-{budget}/loss.csv",
    log:
        "logs/{root}/unet/masks-{budget}/train.log",
    benchmark:
        "logs/{root}/unet/masks-{budget}/train.tsv"
    params:
        unet=setting("unet"),
        budget="{budget}",


use rule predict_unet as predict_unet_budget with:
    input:
        store=prepared("store.h5"),
        manifest=prepared("manifest.csv"),
        model=from_stage("unet_model", "results/{root}/unet/masks-{budget}/model.pt"),
    output:
        probabilities=UNET_BUDGET_SHARD,
    log:
        "logs/{root}/unet/masks-{budget}/shard-{shard}.log",
    benchmark:
        "logs/{root}/unet/masks-{budget}/shard-{shard}.tsv"


rule score_images:
    input:
        store=prepared("store.h5"),
        masks="results/{root}/steps/shard-{shard}.h5",
        regions="results/{root}/regions/shard-{shard}.h5",
        fused="results/{root}/crf/shard-{shard}.h5",
        unet=from_stage("unet", "results/{root}/unet/shard-{shard}.h5"),
        otsu=from_stage("otsu", "results/{root}/otsu/shard-{shard}.h5"),
        otsu_crf=from_stage("otsu_crf", "results/{root}/otsu_crf/shard-{shard}.h5"),
        unet_budgets=unet_budget_shards,
        # The columns of the cohort's CSV kept beside each image's scores (dataset.folder.splits.keep).
        manifest=prepared("manifest.csv"),
    output:
        scores="results/{root}/evaluation/scores/shard-{shard}.csv",
    log:
        "logs/{root}/evaluation/scores/shard-{shard}.log",
    benchmark:
        "logs/{root}/evaluation/scores/shard-{shard}.tsv"
    conda:
        "../../envs/core.yaml"
    params:
        label_budgets=setting("unet", "label_budgets"),
        keep=setting("dataset", "folder", "splits", "keep"),
        # Kept too, for the statistics that resample whole groups (a lesion's several images).
        group=setting("dataset", "folder", "splits", "group"),
    script:
        "../../scripts/score_images.py"


rule tabulate_scores:
    input:
        # The best single step is chosen on the development split when there is one.
        unpack(development_scores),
        scores=per_shard("results/{root}/evaluation/scores/shard-{shard}.csv"),
        ged="results/{root}/uncertainty/ged.csv",
        students=student_scores,
    output:
        **TABLE1_FILES,
        per_image="results/{root}/evaluation/scores.csv",
        per_step="results/{root}/evaluation/per_step.csv",
    log:
        "logs/{root}/evaluation/table1.log",
    benchmark:
        "logs/{root}/evaluation/table1.tsv"
    conda:
        "../../envs/core.yaml"
    params:
        metrics=setting("metrics"),
        subsets=setting("dataset", "folder", "splits", "subsets"),
        group=setting("dataset", "folder", "splits", "group"),
    script:
        "../../scripts/tabulate_scores.py"


# Each scoring of a test split joins the committed ledger (metrics.ledger; diffseg.evaluation.ledger),
# and the documents say how many times their split had been scored before. A rerun is one more scoring.
rule record_scoring:
    input:
        table="results/{root}/evaluation/table1.csv",
    output:
        entry="results/{root}/evaluation/ledger_entry.yaml",
    log:
        "logs/{root}/evaluation/ledger.log",
    conda:
        "../../envs/core.yaml"
    params:
        ledger=setting("metrics", "ledger"),
        dataset=setting("dataset"),
        root=root_name,
    script:
        "../../scripts/record_scoring.py"


# The configuration the run was made with (defaults filled in), which annotation reads back to segment
# a cohort with this run's model and settings (diffseg.trained_run). The annotate section is the next
# annotation's, not part of how the run was made; a changed setting rewrites the file (params).
rule record_config:
    output:
        RUN_CONFIG,
    log:
        f"logs/{DATASET}/config.log",
    conda:
        "../../envs/core.yaml"
    params:
        config={key: value for key, value in config.items() if key != "annotate"},
    script:
        "../../scripts/record_config.py"


# The main run's own document (`make docs` copies the embedded default's to docs/default_run.md):
# Table 1, Dice by lesion size, the empty and frame-covering masks, the GED summary and the commit of
# every job. It waits for every other result of the run, so its run time spans the whole run.
rule write_run_document:
    input:
        results=run_outputs,
        table1=f"results/{DATASET}/evaluation/table1.md",
        size_bins=f"results/{DATASET}/evaluation/size_bins.md",
        mask_coverage=f"results/{DATASET}/evaluation/mask_coverage.md",
        subsets=f"results/{DATASET}/evaluation/subsets.md",
        scoring=f"results/{DATASET}/evaluation/ledger_entry.yaml",
        ged_summary=f"results/{DATASET}/uncertainty/ged_summary.csv",
    output:
        document=f"results/{DATASET}/run.md",
    log:
        f"logs/{DATASET}/run.log",
    benchmark:
        f"logs/{DATASET}/run.tsv"
    conda:
        "../../envs/core.yaml"
    params:
        provenance={**provenance("all"), "name": DATASET},
        workflow_dir=workflow.basedir,
        logs=f"logs/{DATASET}",
    script:
        "../../scripts/write_run_document.py"
