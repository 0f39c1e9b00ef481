# Snakemake glue: one file that reads all shards' difference maps as virtual datasets.
from diffseg.method.extraction import join_shards
from diffseg.runtime.logs import redirect_to

with redirect_to(snakemake.log[0]):
    join_shards(list(snakemake.input), snakemake.output[0])
