# Snakemake glue: docs/validation.md from the cross-validated tables (and the ablation table).
from pathlib import Path

import pandas as pd

from diffseg.evaluation.breakdown import breakdown_sections
from diffseg.reports.documents import run_facts
from diffseg.reports.validation import validation_document
from diffseg.runtime.atomic import write_text
from diffseg.runtime.logs import redirect_to
from diffseg.runtime.provenance import job_records, provenance_markdown

with redirect_to(snakemake.log[0]):
    params = snakemake.params
    # Logs of every (variant, fold) root: logs/<name>/validate/<variant>/fold-<k>/…
    jobs = job_records(params.logs, root_depth=2)
    ablation = snakemake.input.get("ablation")
    document = validation_document(
        Path(snakemake.input.table1).read_text(encoding="utf-8"),
        pd.read_csv(snakemake.input.per_fold),
        run_facts(params.provenance, params.workflow_dir, jobs),
        Path(ablation).read_text(encoding="utf-8") if ablation else None,
        provenance_markdown(jobs),
        breakdown_sections(snakemake.input.size_bins, snakemake.input.mask_coverage),
    )
    write_text(snakemake.output.document, document)
