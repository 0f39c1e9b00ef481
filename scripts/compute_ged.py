# Snakemake glue: GED of the per-step masks against the annotation, and their diversity alone.
from diffseg.data.store import ImageStore
from diffseg.method.ged import ged_shard
from diffseg.runtime.logs import redirect_to

with redirect_to(snakemake.log[0]):
    with ImageStore(snakemake.input.store) as store:
        ged_shard(store, snakemake.input.masks, snakemake.output.table)
