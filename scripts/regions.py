# Snakemake glue: mean mask, consistent and ambiguous regions of the per-step masks.
from diffseg.logs import redirect_to
from diffseg.regions import regions_shard

with redirect_to(snakemake.log[0]):
    regions_shard(snakemake.input.masks, snakemake.output.regions)
