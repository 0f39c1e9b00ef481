# Snakemake glue: decode every image once into the HDF5 store at model resolution.
from pathlib import Path

from diffseg.atomic import write_csv
from diffseg.cohort import assign_splits, scan_folder
from diffseg.folds import fold_splits
from diffseg.logs import redirect_to
from diffseg.store import write_store

with redirect_to(snakemake.log[0]) as log:
    params = snakemake.params
    if "cohort" in snakemake.input.keys():
        root = Path(snakemake.input.cohort)
        cohort = scan_folder(root / "images", root / "masks", root / "labels.csv")
    else:
        cohort = scan_folder(snakemake.input.images, params.masks, params.labels)
    if params.fold is None:
        cohort = assign_splits(cohort, params.test_fraction, params.seed)
    else:
        cohort = fold_splits(cohort, params.fold["index"], params.fold["folds"], params.fold["seed"])
    manifest, skipped = write_store(
        snakemake.output.store,
        cohort,
        params.size,
        params.source,
        on_bad_image=params.on_bad_image,
        min_side=params.min_side,
    )
    paths = cohort[["id", "image_path", "mask_path", *(["fold"] if "fold" in cohort else [])]]
    write_csv(manifest.merge(paths, on="id", how="left"), snakemake.output.manifest)
    write_csv(skipped, snakemake.output.skipped)
    log.info("prepared %d images (%d skipped): %s", len(manifest), len(skipped), manifest["split"].value_counts().to_dict())
