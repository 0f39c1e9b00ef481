# Snakemake glue: the run's own document (docs/default_run.md for the embedded default, via make docs).
from pathlib import Path

import pandas as pd

from diffseg.evaluation.breakdown import breakdown_sections
from diffseg.evaluation.ledger import read_recorded_note
from diffseg.evaluation.subsets import subsets_section
from diffseg.reports.documents import run_document, run_facts
from diffseg.runtime.atomic import write_text
from diffseg.runtime.logs import redirect_to
from diffseg.runtime.provenance import job_records, provenance_markdown

with redirect_to(snakemake.log[0]):
    params = snakemake.params
    # The run's own jobs: its root's logs, without the cross-validation roots below it.
    jobs = job_records(params.logs, skip=["validate"])
    document = run_document(
        Path(snakemake.input.table1).read_text(encoding="utf-8"),
        pd.read_csv(snakemake.input.ged_summary),
        run_facts(params.provenance, params.workflow_dir, jobs),
        provenance_markdown(jobs),
        breakdown_sections(snakemake.input.size_bins, snakemake.input.mask_coverage)
        | subsets_section(Path(snakemake.input.subsets).read_text(encoding="utf-8")),
        read_recorded_note(snakemake.input.scoring),
    )
    write_text(snakemake.output.document, document)
