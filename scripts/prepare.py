# Snakemake glue: decode every image once into the HDF5 store at model resolution.
from pathlib import Path

from diffseg.data.cohort import COHORT_COLUMNS, assign_splits, scan_folder
from diffseg.data.folds import fold_splits
from diffseg.data.splits import carve_dev_split, held_out_cohort, official_splits
from diffseg.data.store import write_store
from diffseg.runtime.atomic import write_csv
from diffseg.runtime.logs import redirect_to

with redirect_to(snakemake.log[0]) as log:
    params = snakemake.params
    if "cohort" in snakemake.input.keys():
        root = Path(snakemake.input.cohort)
        cohort = scan_folder(root / "images", root / "masks", root / "labels.csv")
    else:
        cohort = scan_folder(snakemake.input.images, params.masks, params.labels)
        if params.splits["csv"]:
            cohort = official_splits(cohort, **params.splits)
    if params.fold is None:
        cohort = assign_splits(cohort, params.test_fraction, params.seed)
        cohort = carve_dev_split(
            cohort, params.dev_fraction, params.seed, params.splits["group"], params.dev_stratify
        )
    else:
        cohort = fold_splits(cohort, params.fold["index"], params.fold["folds"], params.fold["seed"])
    if params.held_out:
        cohort = held_out_cohort(cohort, params.held_out)
    manifest, skipped = write_store(
        snakemake.output.store,
        cohort,
        params.size,
        params.source,
        on_bad_image=params.on_bad_image,
        min_side=params.min_side,
    )
    # The manifest keeps the cohort's other columns: paths, the fold, the splits CSV's kept columns.
    extra = [column for column in cohort.columns if column not in COHORT_COLUMNS]
    paths = cohort[["id", "image_path", "mask_path", *extra]]
    write_csv(manifest.merge(paths, on="id", how="left"), snakemake.output.manifest)
    write_csv(skipped, snakemake.output.skipped)
    log.info("prepared %d images (%d skipped): %s", len(manifest), len(skipped), manifest["split"].value_counts().to_dict())
