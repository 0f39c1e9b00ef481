"""DiffSeg: weakly supervised skin-lesion segmentation from diffusion difference.

The package holds every algorithm of the pipeline as plain functions and small classes, so each
stage can be tested and reused without Snakemake; the workflow's scripts only move data in and out.
"""

__version__ = "0.1.0"
