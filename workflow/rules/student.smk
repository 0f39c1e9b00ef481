# Self-training (config `student`; diffseg.evaluation.pseudo_labels and .student): the run's DiffSeg +
# DenseCRF masks of images the evaluation never scores (its training split's lesion images, never their masks, and the
# unlabelled cohorts of student.cohorts) train the U-Net of the `unet` section; the same U-Net trained
# on the fair control's masks of the same images is its control. Both segment every test, cross-dataset
# and development image in one pass (rows of Table 1; the development split's in its summary).
#
# Pseudo-labels are made under results/<run>/pseudo/<cohort>/ by the evaluation's own per-shard rules,
# with the settings of the root the run reports (its chosen candidate's, select_candidate).


wildcard_constraints:
    teacher="|".join(TEACHERS),


checkpoint prepare_pseudo:
    input:
        unpack(pseudo_cohort_input),
    output:
        store=f"{PSEUDO}/prepared/store.h5",
        manifest=f"{PSEUDO}/prepared/manifest.csv",
        skipped=f"{PSEUDO}/prepared/skipped.csv",
    log:
        f"logs/{DATASET}/pseudo/{{cohort}}/prepare.log",
    benchmark:
        f"logs/{DATASET}/pseudo/{{cohort}}/prepare.tsv"
    conda:
        "../../envs/core.yaml"
    params:
        size=setting("dataset", "size"),
        max_images=setting("student", "max_images"),
        seed=setting("student", "seed"),
        on_bad_image=setting("dataset", "on_bad_image"),
        min_side=setting("dataset", "min_side"),
        contents=pseudo_cohort_contents,
    script:
        "../../scripts/prepare_pseudo.py"


use rule extract_noise as pseudo_extract with:
    input:
        store=f"{PSEUDO}/prepared/store.h5",
        # The DDPM that segments the run's test images: a reused checkpoint (model.checkpoint) or its own.
        model=lambda wildcards: config["model"]["checkpoint"]
        or TRAINED_DDPM.format(root=DATASET),
    output:
        diffs=f"{PSEUDO}/diffs/shard-{{shard}}.h5",
    log:
        f"logs/{DATASET}/pseudo/{{cohort}}/diffs/shard-{{shard}}.log",
    benchmark:
        f"logs/{DATASET}/pseudo/{{cohort}}/diffs/shard-{{shard}}.tsv"
    params:
        shard_size=reported_setting("extraction", "shard_size"),
        extraction=reported_setting("extraction"),
        semantics=reported_setting("semantics"),
        reduce=reported_setting("difference", "reduce"),
        preset=reported_setting("model", "preset"),


use rule threshold_steps as pseudo_threshold with:
    input:
        diffs=f"{PSEUDO}/diffs/shard-{{shard}}.h5",
    output:
        masks=f"{PSEUDO}/steps/shard-{{shard}}.h5",
        examples=directory(f"{PSEUDO}/steps/examples/shard-{{shard}}"),
    log:
        f"logs/{DATASET}/pseudo/{{cohort}}/steps/shard-{{shard}}.log",
    benchmark:
        f"logs/{DATASET}/pseudo/{{cohort}}/steps/shard-{{shard}}.tsv"
    params:
        threshold=reported_setting("threshold"),
        reduce=reported_setting("difference", "reduce"),
        examples=0,


use rule find_regions as pseudo_regions with:
    input:
        store=f"{PSEUDO}/prepared/store.h5",
        masks=f"{PSEUDO}/steps/shard-{{shard}}.h5",
    output:
        regions=f"{PSEUDO}/regions/shard-{{shard}}.h5",
        overlays=directory(f"{PSEUDO}/regions/overlays/shard-{{shard}}"),
    log:
        f"logs/{DATASET}/pseudo/{{cohort}}/regions/shard-{{shard}}.log",
    benchmark:
        f"logs/{DATASET}/pseudo/{{cohort}}/regions/shard-{{shard}}.tsv"
    params:
        examples=0,


use rule compute_ged as pseudo_ged with:
    input:
        store=f"{PSEUDO}/prepared/store.h5",
        masks=f"{PSEUDO}/steps/shard-{{shard}}.h5",
    output:
        table=f"{PSEUDO}/uncertainty/ged/shard-{{shard}}.csv",
    log:
        f"logs/{DATASET}/pseudo/{{cohort}}/uncertainty/shard-{{shard}}.log",
    benchmark:
        f"logs/{DATASET}/pseudo/{{cohort}}/uncertainty/shard-{{shard}}.tsv"


use rule fuse_crf as pseudo_crf with:
    input:
        store=f"{PSEUDO}/prepared/store.h5",
        masks=f"{PSEUDO}/steps/shard-{{shard}}.h5",
        regions=f"{PSEUDO}/regions/shard-{{shard}}.h5",
    output:
        fused=f"{PSEUDO}/crf/shard-{{shard}}.h5",
        masks=directory(f"{PSEUDO}/crf/masks/shard-{{shard}}"),
    log:
        f"logs/{DATASET}/pseudo/{{cohort}}/crf/shard-{{shard}}.log",
    benchmark:
        f"logs/{DATASET}/pseudo/{{cohort}}/crf/shard-{{shard}}.tsv"
    params:
        crf=reported_setting("crf"),
        otsu=reported_setting("otsu"),


use rule segment_otsu as pseudo_otsu with:
    input:
        store=f"{PSEUDO}/prepared/store.h5",
        manifest=f"{PSEUDO}/prepared/manifest.csv",
    output:
        probabilities=f"{PSEUDO}/otsu/shard-{{shard}}.h5",
    log:
        f"logs/{DATASET}/pseudo/{{cohort}}/otsu/shard-{{shard}}.log",
    benchmark:
        f"logs/{DATASET}/pseudo/{{cohort}}/otsu/shard-{{shard}}.tsv"
    params:
        shard_size=reported_setting("extraction", "shard_size"),
        otsu=reported_setting("otsu"),


use rule fuse_otsu_crf as pseudo_otsu_crf with:
    input:
        store=f"{PSEUDO}/prepared/store.h5",
        otsu=f"{PSEUDO}/otsu/shard-{{shard}}.h5",
    output:
        fused=f"{PSEUDO}/otsu_crf/shard-{{shard}}.h5",
    log:
        f"logs/{DATASET}/pseudo/{{cohort}}/otsu_crf/shard-{{shard}}.log",
    benchmark:
        f"logs/{DATASET}/pseudo/{{cohort}}/otsu_crf/shard-{{shard}}.tsv"
    params:
        crf=reported_setting("crf"),


rule find_scored_copies:
    input:
        store=f"{PSEUDO}/prepared/store.h5",
        main=f"results/{DATASET}/prepared/store.h5",
        cross=[
            f"results/{ROOTS.cross_root(cohort)}/prepared/store.h5"
            for cohort in ROOTS.cross_configs
        ],
    output:
        copies=f"{PSEUDO}/scored_copies.csv",
    log:
        f"logs/{DATASET}/pseudo/{{cohort}}/scored_copies.log",
    benchmark:
        f"logs/{DATASET}/pseudo/{{cohort}}/scored_copies.tsv"
    conda:
        "../../envs/core.yaml"
    script:
        "../../scripts/find_scored_copies.py"


rule train_student:
    input:
        unpack(pseudo_label_files),
    output:
        model=f"{STUDENT}/model.pt",
        loss=f"{STUDENT}/loss.csv",
        # Every pseudo-label, its teacher's uncertainty, and whether (or why not) it trained the student.
        pseudo_labels=f"{STUDENT}/pseudo_labels.csv",
    log:
        f"logs/{DATASET}/student/{{teacher}}/train.log",
    benchmark:
        f"logs/{DATASET}/student/{{teacher}}/train.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 2
    resources:
        gpu=1,
    params:
        cohorts=PSEUDO_COHORTS,
        student=setting("student"),
        unet=setting("unet"),
    script:
        "../../scripts/train_student.py"


rule predict_student:
    input:
        store=prepared("store.h5"),
        model=f"results/{DATASET}/student/{{teacher}}/model.pt",
    output:
        probabilities="results/{root}/student/{teacher}/shard-{shard}.h5",
    log:
        "logs/{root}/student/{teacher}/shard-{shard}.log",
    benchmark:
        "logs/{root}/student/{teacher}/shard-{shard}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 2
    resources:
        gpu=1,
    params:
        shard_size=setting("extraction", "shard_size"),
    script:
        "../../scripts/predict_student.py"


rule score_student:
    input:
        **{
            teacher: f"results/{{root}}/student/{teacher}/shard-{{shard}}.h5"
            for teacher in TEACHERS
        },
        store=prepared("store.h5"),
        manifest=prepared("manifest.csv"),
    output:
        scores="results/{root}/student/scores/shard-{shard}.csv",
    log:
        "logs/{root}/student/scores/shard-{shard}.log",
    benchmark:
        "logs/{root}/student/scores/shard-{shard}.tsv"
    conda:
        "../../envs/core.yaml"
    params:
        keep=setting("dataset", "folder", "splits", "keep"),
        group=setting("dataset", "folder", "splits", "group"),
    script:
        "../../scripts/score_student.py"


# The students on one root's images: Dice with CI, and how their uncertainty tracks their error (on
# the development split, whose table cannot hold them: the students follow the choice made there).
rule summarise_students:
    input:
        per_shard("results/{root}/student/scores/shard-{shard}.csv"),
    output:
        table="results/{root}/student/summary.csv",
        markdown="results/{root}/student/summary.md",
    log:
        "logs/{root}/student/summary.log",
    benchmark:
        "logs/{root}/student/summary.tsv"
    conda:
        "../../envs/core.yaml"
    params:
        metrics=setting("metrics"),
        group=setting("dataset", "folder", "splits", "group"),
    script:
        "../../scripts/summarise_students.py"
