# Snakemake glue: docs/validation.md from the cross-validated tables (and the ablation table).
import datetime
from pathlib import Path

import pandas as pd

from diffseg.atomic import write_text
from diffseg.logs import redirect_to
from diffseg.validation import git_commit, validation_document

with redirect_to(snakemake.log[0]):
    params = snakemake.params
    provenance = {
        **params.provenance,
        "commit": git_commit(params.workflow_dir),
        "date": datetime.date.today().isoformat(),
    }
    ablation = snakemake.input.get("ablation")
    document = validation_document(
        Path(snakemake.input.table1).read_text(encoding="utf-8"),
        pd.read_csv(snakemake.input.per_fold),
        provenance,
        Path(ablation).read_text(encoding="utf-8") if ablation else None,
    )
    write_text(snakemake.output.document, document)
