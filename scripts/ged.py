# Snakemake glue: GED of the per-step masks against the annotation, and their diversity alone.
from diffseg.ged import ged_shard
from diffseg.logs import redirect_to
from diffseg.store import ImageStore

with redirect_to(snakemake.log[0]):
    with ImageStore(snakemake.input.store) as store:
        ged_shard(store, snakemake.input.masks, snakemake.output.table)
