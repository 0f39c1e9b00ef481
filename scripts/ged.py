# Snakemake glue: GED of the per-step masks against the annotation, and their diversity alone.
import pandas as pd

from diffseg.atomic import write_csv
from diffseg.ged import ged, ged_diversity, ged_euclidean_diversity
from diffseg.logs import redirect_to
from diffseg.maps import read_maps
from diffseg.store import ImageStore

with redirect_to(snakemake.log[0]):
    shard = read_maps(snakemake.input.masks, "masks")
    rows = []
    with ImageStore(snakemake.input.store) as store:
        per_image = zip(shard["index"], shard["ids"], shard["masks"].astype(bool), strict=True)
        for position, image_id, outputs in per_image:
            row = {
                "id": image_id,
                "diversity": ged_diversity(outputs),
                "diversity_euclidean": ged_euclidean_diversity(outputs),
            }
            if store.has_mask[position]:
                row["ged"] = ged(outputs, store.mask(position)[None].astype(bool))
            rows.append(row)
    columns = ["id", "ged", "diversity", "diversity_euclidean"]
    write_csv(pd.DataFrame(rows, columns=columns), snakemake.output.table)
