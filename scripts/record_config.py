# Snakemake glue: write the run's configuration beside its results (diffseg.trained_run reads it).
import yaml

from diffseg.runtime.atomic import write_text
from diffseg.runtime.logs import redirect_to

with redirect_to(snakemake.log[0]) as log:
    write_text(snakemake.output[0], yaml.safe_dump(dict(snakemake.params.config), sort_keys=False))
    log.info("wrote the run's configuration to %s", snakemake.output[0])
