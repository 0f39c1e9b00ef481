# Batch annotation of an unlabelled cohort with a trained run: `make annotate COHORT=path/to/images
# MODEL=results/<run>` (`snakemake annotate --config cohort=… model=…`). Results go to
# results/annotate/<name>/; the shards run the evaluation's own rules and resume shard by shard.


rule annotate:
    input:
        annotation_summary,


checkpoint annotate_prepare:
    input:
        # ancient: a copied or remounted cohort is not prepared again; contents reruns on a change.
        images=lambda wildcards: ancient(annotation_cohort_folder()),
        # The student on its path (annotate.path), else the DDPM: the store is made at its size.
        model=annotation_model,
    output:
        store="results/annotate/{cohort}/prepared/store.h5",
        manifest="results/annotate/{cohort}/prepared/manifest.csv",
        skipped="results/annotate/{cohort}/prepared/skipped.csv",
    log:
        "logs/annotate/{cohort}/prepared/prepare.log",
    benchmark:
        "logs/annotate/{cohort}/prepared/prepare.tsv"
    conda:
        "../../envs/core.yaml"
    params:
        # Another folder under the same name is another cohort: the store is rebuilt for it.
        cohort=annotation_cohort_folder,
        contents=annotation_cohort_contents,
        size=annotation_image_size,
        on_bad_image=annotation_setting("dataset", "on_bad_image"),
        min_side=annotation_setting("dataset", "min_side"),
    script:
        "../../scripts/annotate_prepare.py"


# The evaluation's per-shard rules (diffusion.smk, uncertainty.smk) on the cohort's store, with the
# settings of the run that segments it (annotation_setting: its model, semantics, extraction,
# difference, threshold and crf; `with: params` replaces the values it names, here all of them).
use rule extract_noise as annotate_extract with:
    input:
        store="results/annotate/{cohort}/prepared/store.h5",
        model=trained_model,
    output:
        diffs="results/annotate/{cohort}/diffs/shard-{shard}.h5",
    log:
        "logs/annotate/{cohort}/diffs/shard-{shard}.log",
    benchmark:
        "logs/annotate/{cohort}/diffs/shard-{shard}.tsv"
    params:
        split="predict",
        shard_size=annotation_setting("annotate", "shard_size"),
        extraction=annotation_setting("extraction"),
        semantics=annotation_setting("semantics"),
        reduce=annotation_setting("difference", "reduce"),
        preset=annotation_setting("model", "preset"),


use rule threshold_steps as annotate_threshold with:
    input:
        diffs="results/annotate/{cohort}/diffs/shard-{shard}.h5",
    output:
        masks="results/annotate/{cohort}/steps/shard-{shard}.h5",
        examples=directory("results/annotate/{cohort}/steps/examples/shard-{shard}"),
    log:
        "logs/annotate/{cohort}/steps/shard-{shard}.log",
    benchmark:
        "logs/annotate/{cohort}/steps/shard-{shard}.tsv"
    params:
        threshold=annotation_setting("threshold"),
        reduce=annotation_setting("difference", "reduce"),
        examples=annotation_setting("extraction", "examples"),


use rule find_regions as annotate_regions with:
    input:
        store="results/annotate/{cohort}/prepared/store.h5",
        masks="results/annotate/{cohort}/steps/shard-{shard}.h5",
    output:
        regions="results/annotate/{cohort}/regions/shard-{shard}.h5",
        overlays=directory("results/annotate/{cohort}/regions/overlays/shard-{shard}"),
    log:
        "logs/annotate/{cohort}/regions/shard-{shard}.log",
    benchmark:
        "logs/annotate/{cohort}/regions/shard-{shard}.tsv"
    params:
        examples=annotation_setting("extraction", "examples"),


use rule fuse_crf as annotate_crf with:
    input:
        store="results/annotate/{cohort}/prepared/store.h5",
        masks="results/annotate/{cohort}/steps/shard-{shard}.h5",
        regions="results/annotate/{cohort}/regions/shard-{shard}.h5",
    output:
        fused="results/annotate/{cohort}/crf/shard-{shard}.h5",
        masks=directory("results/annotate/{cohort}/crf/masks/shard-{shard}"),
    log:
        "logs/annotate/{cohort}/crf/shard-{shard}.log",
    benchmark:
        "logs/annotate/{cohort}/crf/shard-{shard}.tsv"
    params:
        crf=annotation_setting("crf"),
        otsu=annotation_setting("otsu"),


# The student path (annotate.path; diffseg.evaluation.student): the run's DiffSeg student segments
# each shard in one U-Net pass per flip, and writes its sample of masks and its mean probability where
# the diffusion path writes its per-step masks and DenseCRF posterior, so the regions, the table, the
# review flags and the page are the same rules' for both paths.
rule annotate_student:
    input:
        store="results/annotate/{cohort}/prepared/store.h5",
        model=lambda wildcards: annotation_run().student,
    output:
        masks="results/annotate/{cohort}/student/steps/shard-{shard}.h5",
        fused="results/annotate/{cohort}/student/crf/shard-{shard}.h5",
        masks_png=directory("results/annotate/{cohort}/student/crf/masks/shard-{shard}"),
    log:
        "logs/annotate/{cohort}/student/shard-{shard}.log",
    benchmark:
        "logs/annotate/{cohort}/student/shard-{shard}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 2
    resources:
        gpu=1,
    params:
        shard_size=annotation_setting("annotate", "shard_size"),
    script:
        "../../scripts/annotate_student.py"


use rule annotate_regions as annotate_student_regions with:
    input:
        store="results/annotate/{cohort}/prepared/store.h5",
        masks="results/annotate/{cohort}/student/steps/shard-{shard}.h5",
    output:
        regions="results/annotate/{cohort}/student/regions/shard-{shard}.h5",
        overlays=directory(
            "results/annotate/{cohort}/student/regions/overlays/shard-{shard}"
        ),
    log:
        "logs/annotate/{cohort}/student/regions/shard-{shard}.log",
    benchmark:
        "logs/annotate/{cohort}/student/regions/shard-{shard}.tsv"


rule annotate_shard:
    input:
        unpack(annotation_maps),
        manifest="results/annotate/{cohort}/prepared/manifest.csv",
    output:
        table="results/annotate/{cohort}/annotation/shard-{shard}.csv",
        overlays=directory(
            "results/annotate/{cohort}/annotation/overlays/shard-{shard}"
        ),
    log:
        "logs/annotate/{cohort}/annotation/shard-{shard}.log",
    benchmark:
        "logs/annotate/{cohort}/annotation/shard-{shard}.tsv"
    conda:
        "../../envs/core.yaml"
    params:
        # The table's mask and overlay paths are relative to the cohort's folder, as the page is.
        root=lambda wildcards: f"results/annotate/{wildcards.cohort}",
    script:
        "../../scripts/annotate_shard.py"


rule annotate_summary:
    input:
        tables=annotation_tables,
        skipped="results/annotate/{cohort}/prepared/skipped.csv",
    output:
        table="results/annotate/{cohort}/annotations.csv",
        summary="results/annotate/{cohort}/summary.html",
    log:
        "logs/annotate/{cohort}/summary.log",
    benchmark:
        "logs/annotate/{cohort}/summary.tsv"
    conda:
        "../../envs/core.yaml"
    params:
        name="{cohort}",
        cohort=annotation_cohort_folder,
        # Which run, model and settings segmented the cohort, for the page's header.
        run=lambda wildcards: annotation_run().describe(config["annotate"]["path"]),
        review_quantile=annotation_setting("annotate", "review_quantile"),
        review_cutoff=annotation_setting("annotate", "review_cutoff"),
    script:
        "../../scripts/annotate_summary.py"
