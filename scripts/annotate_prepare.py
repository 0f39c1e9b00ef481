# Snakemake glue: decode a cohort to annotate into a store at the resolution of what segments it, split `predict`.
from diffseg.data.store import write_store
from diffseg.reports.annotation import predict_cohort
from diffseg.runtime.atomic import write_csv
from diffseg.runtime.logs import redirect_to

with redirect_to(snakemake.log[0]) as log:
    cohort = predict_cohort(snakemake.input.images)
    params = snakemake.params
    size = params.size
    manifest, skipped = write_store(
        snakemake.output.store, cohort, size, "annotate", on_bad_image=params.on_bad_image, min_side=params.min_side
    )
    write_csv(manifest.merge(cohort[["id", "image_path"]], on="id", how="left"), snakemake.output.manifest)
    write_csv(skipped, snakemake.output.skipped)
    log.info("prepared %d images to annotate at %d px (%d skipped)", len(manifest), size, len(skipped))
