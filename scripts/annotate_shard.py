# Snakemake glue: per image of a shard, its lesion area, GED diversity and overlay.
import pandas as pd

from diffseg.reports.annotation import annotate_shard
from diffseg.runtime.atomic import write_csv
from diffseg.runtime.logs import redirect_to

with redirect_to(snakemake.log[0]):
    table = annotate_shard(
        pd.read_csv(snakemake.input.manifest, dtype={"id": str}),
        snakemake.input.masks,
        snakemake.input.regions,
        snakemake.input.fused,
        snakemake.input.fused_masks,
        snakemake.output.overlays,
        snakemake.params.root,
    )
    write_csv(table, snakemake.output.table)
