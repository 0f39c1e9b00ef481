# Snakemake glue: the post-training settings chosen on the development split (diffseg.evaluation.selection).
import pandas as pd

from diffseg.evaluation.selection import selection_markdown, selection_table, write_choice
from diffseg.runtime.atomic import write_csv, write_text
from diffseg.runtime.logs import redirect_to

with redirect_to(snakemake.log[0]) as log:
    settings, candidates = snakemake.params.metrics, snakemake.params.candidates
    dev_scores = {
        name: pd.read_csv(path) for name, path in zip(candidates, snakemake.input.dev_scores, strict=True)
    }
    table = selection_table(dev_scores, settings["bootstrap"], settings["seed"])
    write_csv(table, snakemake.output.table)
    markdown = selection_markdown(table, candidates)
    write_text(snakemake.output.markdown, markdown)
    write_choice(snakemake.output.chosen, table, candidates)
    log.info("\n%s", markdown)
