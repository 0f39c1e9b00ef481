# Snakemake glue: one scoring of a test split, appended to the ledger (metrics.ledger) when there is one.
import pandas as pd
import yaml

from diffseg.evaluation.ledger import append_scoring, scoring_entry, split_name
from diffseg.runtime.atomic import write_text
from diffseg.runtime.logs import redirect_to
from diffseg.runtime.provenance import code_version

with redirect_to(snakemake.log[0]) as log:
    params = snakemake.params
    entry = scoring_entry(pd.read_csv(snakemake.input.table), split=split_name(params.dataset),
                          run=params.root["path"], candidate=params.root["candidate"], commit=code_version())
    before = append_scoring(params.ledger, entry) if params.ledger else None
    log.info("%s scored %s time(s) before; ledger %s", entry["split"], before, params.ledger)
    record = {"entry": entry, "scored_before": before, "ledger": params.ledger}
    write_text(snakemake.output.entry, yaml.safe_dump(record, sort_keys=False, allow_unicode=True))
