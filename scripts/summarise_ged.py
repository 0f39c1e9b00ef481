# Snakemake glue: per-image GED of all shards, and the cohort summary with bootstrap CIs.
import pandas as pd

from diffseg.evaluation.table import column_summary
from diffseg.method.ged import GED_MEASURES
from diffseg.runtime.atomic import write_csv
from diffseg.runtime.logs import redirect_to

with redirect_to(snakemake.log[0]):
    settings = snakemake.params.metrics
    per_image = pd.concat([pd.read_csv(path) for path in snakemake.input], ignore_index=True)
    write_csv(per_image, snakemake.output.per_image)
    summary = column_summary(per_image, GED_MEASURES, n_resamples=settings["bootstrap"], seed=settings["seed"])
    write_csv(summary, snakemake.output.summary)
