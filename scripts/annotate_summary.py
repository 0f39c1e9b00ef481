# Snakemake glue: every shard's rows in one CSV, flagged and sorted by uncertainty, and the page to review.
import pandas as pd

from diffseg.reports.annotation import combine_annotations, summary_html
from diffseg.runtime.atomic import write_csv, write_text
from diffseg.runtime.logs import redirect_to

with redirect_to(snakemake.log[0]) as log:
    params = snakemake.params
    tables = [pd.read_csv(path, dtype={"id": str}) for path in snakemake.input.tables]
    table, cutoff = combine_annotations(tables, params.review_quantile, params.review_cutoff)
    if params.review_cutoff is None:
        rule = f"annotate.review_quantile: the {params.review_quantile:g} quantile of this cohort"
    else:
        rule = "annotate.review_cutoff"
    skipped = pd.read_csv(snakemake.input.skipped, dtype={"id": str})
    notes = [f"Cohort {params.cohort}, segmented by {params.run}."]
    if len(skipped):
        notes.append(f"{len(skipped)} unreadable images left out: see prepared/skipped.csv.")
    write_csv(table, snakemake.output.table)
    write_text(
        snakemake.output.summary,
        summary_html(table, f"DiffSeg annotation: {params.name}", cutoff, rule, notes),
    )
    log.info(
        "%d images annotated, %d flagged for review (diversity > %.3f, an empty or a frame-covering mask)",
        len(table),
        table["review"].sum(),
        cutoff,
    )
