# Snakemake glue: the label-efficiency curve of the test split and DiffSeg + DenseCRF's place on it.
import pandas as pd

from diffseg.evaluation.label_efficiency import label_efficiency, worth_table
from diffseg.evaluation.table import REFERENCE
from diffseg.reports.benchmark import split_counts
from diffseg.runtime.atomic import write_csv
from diffseg.runtime.logs import redirect_to

with redirect_to(snakemake.log[0]) as log:
    settings = snakemake.params.metrics
    full_masks = split_counts(pd.read_csv(snakemake.input.manifest))["train"]
    curve, worth = label_efficiency(
        pd.read_csv(snakemake.input.scores),
        full_masks,
        settings["bootstrap"],
        settings["seed"],
        REFERENCE,
        snakemake.params.group,
    )
    write_csv(curve, snakemake.output.curve)
    write_csv(worth_table(worth), snakemake.output.worth)
    log.info("label-efficiency curve:\n%s\nDiffSeg + DenseCRF: %s", curve, worth.text() if worth else "not placed")
