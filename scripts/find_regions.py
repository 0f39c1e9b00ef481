# Snakemake glue: mean mask, consistent and ambiguous regions of the per-step masks, a few overlays.
from diffseg.data.store import ImageStore
from diffseg.method.regions import regions_shard, write_region_overlays
from diffseg.runtime.logs import redirect_to

with redirect_to(snakemake.log[0]):
    regions_shard(snakemake.input.masks, snakemake.output.regions)
    with ImageStore(snakemake.input.store) as store:
        write_region_overlays(snakemake.output.regions, store.image, snakemake.output.overlays, snakemake.params.examples)
