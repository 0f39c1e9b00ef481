# Snakemake glue: write the embedded synthetic cohort as a folder cohort.
from diffseg.data.synthetic import write_synthetic_cohort
from diffseg.runtime.logs import redirect_to

with redirect_to(snakemake.log[0]) as log:
    settings = snakemake.params.synthetic
    cohort = write_synthetic_cohort(
        snakemake.output.cohort,
        n_lesion=settings["n_lesion"],
        n_healthy=settings["n_healthy"],
        size=settings["image_size"],
        seed=settings["seed"],
        test_fraction=snakemake.params.test_fraction,
    )
    log.info("wrote %d synthetic images to %s", len(cohort), snakemake.output.cohort)
