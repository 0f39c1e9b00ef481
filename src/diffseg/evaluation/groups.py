"""Images that are not independent: several photographs of one lesion (HAM10000's `lesion_id`).

A bootstrap or a paired test that counts each image once treats a lesion photographed four times as
four pieces of evidence; the statistics of diffseg.evaluation.metrics take one label per image instead, and
resample or pair whole groups.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from diffseg.evaluation.columns import require_columns


def group_labels(per_image: pd.DataFrame, group: str | None, ids=None) -> np.ndarray | None:
    """The `group` column's label (e.g. `lesion_id`) of each image of `ids` (default: each row of
    `per_image`), for the statistics that treat a group's images as one unit; None without a group.
    An image with no label is its own group."""
    if not group:
        return None
    require_columns(per_image, ("id", group))
    labels = per_image[group].astype(object).where(per_image[group].notna(), "image:" + per_image["id"].astype(str))
    if ids is None:
        return labels.astype(str).to_numpy()
    return labels.groupby(per_image["id"]).first().reindex(ids).astype(str).to_numpy()
