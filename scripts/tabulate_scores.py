# Snakemake glue: join the per-shard scores and write Table 1, Dice by lesion size and the empty and
# frame-covering masks (CSV and Markdown), and Table 1 again on each subset of dataset.folder.splits.subsets.
import pandas as pd

from diffseg.evaluation.breakdown import write_breakdown
from diffseg.evaluation.subsets import subsets_markdown
from diffseg.evaluation.table import (
    compared_methods,
    per_step_summary,
    student_correlation_notes,
    table1,
    table1_markdown,
    uncertainty_correlation,
)
from diffseg.runtime.atomic import write_csv, write_text
from diffseg.runtime.logs import redirect_to

with redirect_to(snakemake.log[0]) as log:
    settings = snakemake.params.metrics
    # The students' scores (student.smk), where the root has them, are rows like the others.
    paths = [*snakemake.input.scores, *snakemake.input.get("students", [])]
    per_image = pd.concat([pd.read_csv(path) for path in paths], ignore_index=True)
    dev = pd.read_csv(snakemake.input.dev_scores) if "dev_scores" in snakemake.input.keys() else None
    group = snakemake.params.group
    table = table1(per_image, n_resamples=settings["bootstrap"], seed=settings["seed"], dev_scores=dev, group=group)
    ged = pd.read_csv(snakemake.input.ged)
    correlation = uncertainty_correlation(per_image, ged)
    write_csv(per_image, snakemake.output.per_image)
    write_csv(per_step_summary(per_image, settings["bootstrap"], settings["seed"]), snakemake.output.per_step)
    write_csv(table, snakemake.output.table)
    # The same rows as Table 1: its best single step is the one chosen on the development split.
    rows = compared_methods(per_image, dev)
    write_breakdown(per_image, snakemake.output, settings["bootstrap"], settings["seed"], methods=rows, group=group)
    markdown = table1_markdown(table, correlation, student_correlation_notes(per_image))
    write_text(snakemake.output.markdown, markdown)
    subsets = subsets_markdown(per_image, snakemake.params.subsets, ged, settings["bootstrap"], settings["seed"], dev, group)
    write_text(snakemake.output.subsets, subsets)
    log.info("\n%s", markdown)
