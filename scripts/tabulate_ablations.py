# Snakemake glue: every ablation's pooled per-image scores side by side with the default's.
import pandas as pd

from diffseg.reports.validation import ablation_markdown, ablation_table, pooled_scores
from diffseg.runtime.atomic import write_csv, write_text
from diffseg.runtime.logs import redirect_to

with redirect_to(snakemake.log[0]) as log:
    settings = snakemake.params.metrics
    folds, paths = snakemake.params.folds, iter(snakemake.input.scores)
    # The inputs come variant by variant, each with its folds in order.
    variants = {
        name: pooled_scores({fold: pd.read_csv(next(paths)) for fold in folds}) for name in snakemake.params.variants
    }
    table = ablation_table(variants, snakemake.params.overrides, settings["bootstrap"], settings["seed"])
    write_csv(table, snakemake.output.table)
    markdown = ablation_markdown(table)
    write_text(snakemake.output.markdown, markdown)
    log.info("\n%s", markdown)
