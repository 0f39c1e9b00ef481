"""The component rule: which one connected component of a mask is the lesion.

Dermoscopy centres the lesion, while the dark corners of the scope's field of view and hairs touch
the border, so a mask is cut down to the component nearest the image centre (or the largest). The
thresholded difference maps and the Otsu baseline use the same rule.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def keep_one_component(mask: np.ndarray, component: str) -> np.ndarray:
    """The connected component (8-connectivity) nearest the image centre, or the largest.

    "Nearest" is the distance from the centre to the component's closest pixel, so a component
    covering the centre is at distance 0; ties go to the larger component.
    """
    labels, count = ndimage.label(mask, structure=np.ones((3, 3)))
    if count <= 1:
        return labels > 0
    index = np.arange(1, count + 1)
    sizes = ndimage.sum_labels(np.ones(mask.shape), labels, index)
    if component == "largest":
        return labels == index[np.argmax(sizes)]
    rows, cols = np.indices(mask.shape)
    centre_distance = np.hypot(rows - (mask.shape[0] - 1) / 2, cols - (mask.shape[1] - 1) / 2)
    nearest = ndimage.minimum(centre_distance, labels, index)
    return labels == index[np.lexsort((-sizes, nearest))[0]]
