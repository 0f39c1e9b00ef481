# Snakemake glue: the student of one teacher (DiffSeg + DenseCRF, or the fair control), trained on that
# teacher's fused masks of every pseudo-label cohort, its most uncertain ones left out and zoomed views
# of its most confident ones added (diffseg.evaluation.pseudo_labels, diffseg.evaluation.student).
import numpy as np
import pandas as pd
import torch

from diffseg.data.store import ImageStore
from diffseg.evaluation.pseudo_labels import (
    StudentSettings,
    read_pseudo_labels,
    select_pseudo_labels,
    zoomed_views,
)
from diffseg.evaluation.unet_baseline import UNetSettings, train_unet
from diffseg.runtime.atomic import write_csv
from diffseg.runtime.device import pick_device
from diffseg.runtime.logs import redirect_to

with redirect_to(snakemake.log[0]) as log:
    torch.set_num_threads(snakemake.threads)
    settings = StudentSettings.from_section(snakemake.params.student)
    network = UNetSettings(**{key: value for key, value in snakemake.params.unet.items() if key != "label_budgets"})
    tables, images, masks, copies = [], [], [], []
    for cohort in snakemake.params.cohorts:
        copies += pd.read_csv(snakemake.input[f"copies_{cohort}"], dtype={"id": str})["id"].tolist()
        with ImageStore(snakemake.input[f"store_{cohort}"]) as store:
            ged = snakemake.input.get(f"ged_{cohort}")
            table, cohort_images, cohort_masks = read_pseudo_labels(
                store, snakemake.input[f"fused_{cohort}"], None if ged is None else list(ged), cohort
            )
        tables.append(table)
        images.append(cohort_images)
        masks.append(cohort_masks)
    # The uncertain cutoff is drawn over every cohort together: one rule for all pseudo-labels.
    table = select_pseudo_labels(pd.concat(tables, ignore_index=True), settings, copies)
    images, masks = np.concatenate(images), np.concatenate(masks)
    kept, zoomed = table["kept"].to_numpy(), table["zoomed"].to_numpy()
    view_images, view_masks = zoomed_views(images[zoomed], masks[zoomed], settings.zoom_views, settings.seed)
    log.info(
        "%s student: %d of %d pseudo-labels kept (%s), %d zoomed views",
        snakemake.wildcards.teacher, kept.sum(), len(table),
        table.loc[~table["kept"], "reason"].value_counts().to_dict(), len(view_images),
    )
    train_unet(
        np.concatenate([images[kept], view_images]),
        np.concatenate([masks[kept], view_masks]),
        snakemake.output.model,
        network,
        device=pick_device(),
        loss_csv=snakemake.output.loss,
    )
    write_csv(table, snakemake.output.pseudo_labels)
