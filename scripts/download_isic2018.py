# Snakemake glue: download, verify and extract ISIC 2018 Task 1 into a folder cohort.
from diffseg.data.isic2018 import fetch_isic2018
from diffseg.runtime.logs import redirect_to

with redirect_to(snakemake.log[0]) as log:
    cohort = fetch_isic2018(snakemake.params.dest, base_url=snakemake.params.base_url)
    log.info("ISIC 2018 cohort: %s", cohort["split"].value_counts().to_dict())
