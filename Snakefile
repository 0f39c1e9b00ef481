# DiffSeg: skin-lesion segmentation from diffusion difference.
# This file is the table of contents; every stage lives in workflow/rules/<stage>.smk.


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/diffusion.smk"
include: "workflow/rules/uncertainty.smk"
include: "workflow/rules/evaluation.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/annotate.smk"


rule all:
    default_target: True
    input:
        final_outputs,
