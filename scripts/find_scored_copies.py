# Snakemake glue: the images of a pseudo-label cohort that are copies of an image some table scores
# (the run's development and test images, the cross-dataset cohorts' test images), which no student
# may learn from, whatever their file names.
import numpy as np

from diffseg.data.store import ImageStore
from diffseg.evaluation.pseudo_labels import scored_copies
from diffseg.runtime.atomic import write_csv
from diffseg.runtime.logs import redirect_to

with redirect_to(snakemake.log[0]) as log:
    scored_ids, scored_images = [], []
    for path in [snakemake.input.main, *snakemake.input.cross]:
        with ImageStore(path) as store:
            # The main store also holds the training split, which may teach; cross stores hold only test images.
            positions = np.flatnonzero(np.asarray(store.split).astype(str) != "train")
            scored_ids += [store.ids[p] for p in positions]
            scored_images.append(store.images(positions))
    with ImageStore(snakemake.input.store) as store:
        ids = list(store.ids)
        copies = scored_copies(ids, store.images(np.arange(len(ids))), scored_ids, np.concatenate(scored_images))
    write_csv(copies, snakemake.output.copies)
    log.info("%d of %d images are copies of the %d scored images: %s", len(copies), len(ids), len(scored_ids),
             copies.to_dict("records"))
