# DiffSeg: skin-lesion segmentation from diffusion difference.
# This file is the table of contents; every stage lives in workflow/rules/<stage>.smk.
import os
import sys

# The workflow's own package (src/diffseg), importable here and in every rule script, in the pip
# venv, a conda env or on a SLURM node alike (sbatch exports the environment), without installing
# it into each env.
PACKAGE_DIR = os.path.join(workflow.basedir, "src")
sys.path.insert(0, PACKAGE_DIR)
os.environ.update(
    PYTHONPATH=os.pathsep.join(
        filter(None, [PACKAGE_DIR, os.environ.get("PYTHONPATH")])
    )
)


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/diffusion.smk"
include: "workflow/rules/uncertainty.smk"
include: "workflow/rules/evaluation.smk"
include: "workflow/rules/student.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/annotate.smk"
include: "workflow/rules/validation.smk"
include: "workflow/rules/benchmark.smk"


rule all:
    default_target: True
    input:
        final_outputs,


# A job killed mid-write leaves a hidden temporary beside its output; remove those of earlier runs
# (only when no other run holds locks here, see diffseg.runtime.run_start).
onstart:
    from diffseg.runtime.run_start import sweep_killed_writes

    sweep_killed_writes(
        "results",
        ".snakemake/locks",
        getattr(workflow.persistence, "_lockfile", {}).values(),
    )


# Where an annotation's results are, said last so that a user need not look for them.
onsuccess:
    from diffseg.trained_run import where_results_are

    for page in ANNOTATION_PAGES:
        print(where_results_are(page))
