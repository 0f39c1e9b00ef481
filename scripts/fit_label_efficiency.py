# Snakemake glue: the label-efficiency curve of the test split and the mask-free rows' places on it.
import pandas as pd

from diffseg.evaluation.label_efficiency import PLACED, label_efficiency, worth_table
from diffseg.reports.benchmark import split_counts
from diffseg.runtime.atomic import write_csv
from diffseg.runtime.logs import redirect_to

with redirect_to(snakemake.log[0]) as log:
    settings = snakemake.params.metrics
    full_masks = split_counts(pd.read_csv(snakemake.input.manifest))["train"]
    curve, worths = label_efficiency(
        pd.read_csv(snakemake.input.scores),
        full_masks,
        settings["bootstrap"],
        settings["seed"],
        PLACED,
        snakemake.params.group,
    )
    write_csv(curve, snakemake.output.curve)
    write_csv(worth_table(worths), snakemake.output.worth)
    placements = "\n".join(f"{method}: {worth.text()}" for method, worth in worths.items()) or "none placed"
    log.info("label-efficiency curve:\n%s\n%s", curve, placements)
