# Snakemake glue: the folds' per-image scores pooled into the cross-validated Table 1, Dice per fold,
# Dice by lesion size and the empty and frame-covering masks.
import pandas as pd

from diffseg.evaluation.breakdown import write_breakdown
from diffseg.evaluation.table import table1, table1_markdown, uncertainty_correlation
from diffseg.reports.validation import per_fold_dice, pooled_scores
from diffseg.runtime.atomic import write_csv, write_text
from diffseg.runtime.logs import redirect_to

with redirect_to(snakemake.log[0]) as log:
    settings = snakemake.params.metrics
    folds = snakemake.params.folds
    pooled = pooled_scores({fold: pd.read_csv(path) for fold, path in zip(folds, snakemake.input.scores, strict=True)})
    ged = pd.concat([pd.read_csv(path) for path in snakemake.input.ged], ignore_index=True)
    table = table1(pooled, n_resamples=settings["bootstrap"], seed=settings["seed"])
    write_csv(pooled, snakemake.output.per_image)
    write_csv(table, snakemake.output.table)
    write_csv(per_fold_dice(pooled), snakemake.output.per_fold)
    write_breakdown(pooled, snakemake.output, settings["bootstrap"], settings["seed"])
    markdown = table1_markdown(table, uncertainty_correlation(pooled, ged))
    write_text(snakemake.output.markdown, markdown)
    log.info("\n%s", markdown)
