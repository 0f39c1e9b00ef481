# Snakemake glue: decode a cohort to pseudo-label (the run's training split, or a folder of images) into
# a store at the run's resolution, at most student.max_images of it; its images are the split every
# per-shard rule segments ("test"), and no mask is stored.
import pandas as pd

from diffseg.data.cohort import scan_folder
from diffseg.data.store import write_store
from diffseg.evaluation.pseudo_labels import pseudo_label_cohort
from diffseg.runtime.atomic import write_csv
from diffseg.runtime.logs import redirect_to

with redirect_to(snakemake.log[0]) as log:
    params = snakemake.params
    if "manifest" in snakemake.input.keys():
        manifest = pd.read_csv(snakemake.input.manifest, dtype={"id": str})
        training = manifest[(manifest["split"] == "train") & (manifest["label"] == 1)]
        cohort = training[["id", "image_path"]]
    else:
        cohort = scan_folder(snakemake.input.images)
    cohort = pseudo_label_cohort(cohort, params.max_images, params.seed)
    stored, skipped = write_store(
        snakemake.output.store, cohort, params.size, "pseudo", on_bad_image=params.on_bad_image, min_side=params.min_side
    )
    write_csv(stored.merge(cohort[["id", "image_path"]], on="id", how="left"), snakemake.output.manifest)
    write_csv(skipped, snakemake.output.skipped)
    log.info("prepared %d images to pseudo-label at %d px (%d skipped)", len(stored), params.size, len(skipped))
