# Snakemake glue: results/<name>/benchmark.md (docs/benchmark.md) from the run's tables and figures.
from pathlib import Path

import pandas as pd

from diffseg.atomic import write_text
from diffseg.benchmark import CrossDataset, Selection, benchmark_document
from diffseg.documents import run_facts
from diffseg.label_efficiency import read_worth
from diffseg.logs import redirect_to
from diffseg.provenance import job_records, provenance_markdown
from diffseg.selection import read_choice


def optional_csv(name):
    return pd.read_csv(snakemake.input[name]) if name in snakemake.input.keys() else None


with redirect_to(snakemake.log[0]):
    params = snakemake.params
    selection = (
        Selection(Path(snakemake.input.selection).read_text(encoding="utf-8"), read_choice(snakemake.input.chosen))
        if "selection" in snakemake.input.keys() else None
    )
    cross = [
        CrossDataset(cohort, Path(table).read_text(encoding="utf-8"), pd.read_csv(scores), split_by)
        for (cohort, split_by), table, scores in zip(
            params.cross.items(), snakemake.input.cross_tables, snakemake.input.cross_scores, strict=True
        )
    ]
    jobs = job_records(params.logs, skip=["validate"])
    document = benchmark_document(
        run_facts(params.provenance, params.workflow_dir, jobs),
        Path(snakemake.input.table1_md).read_text(encoding="utf-8"),
        pd.read_csv(snakemake.input.table1),
        pd.read_csv(snakemake.input.scores),
        pd.read_csv(snakemake.input.manifest),
        provenance_markdown(jobs),
        dev_scores=optional_csv("dev_scores"),
        dev_per_step=optional_csv("dev_per_step"),
        selection=selection,
        curve=pd.read_csv(snakemake.input.curve),
        worth=read_worth(snakemake.input.worth),
        loss=optional_csv("loss"),
        split_by=params.split_by,
        cross=cross,
        dev_fraction=params.dev_fraction,
        group=params.group,
        n_resamples=params.metrics["bootstrap"],
        seed=params.metrics["seed"],
    )
    write_text(snakemake.output.document, document)
