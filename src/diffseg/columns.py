"""The one check every reader of per-image scores starts with: are the columns it needs there?"""

from __future__ import annotations

import pandas as pd


def require_columns(per_image: pd.DataFrame, needed, what: str = "per-image scores") -> None:
    """Raise ValueError naming the columns of `needed` that `per_image` (`what` it holds) lacks."""
    missing = [column for column in needed if column not in per_image.columns]
    if missing:
        raise ValueError(f"{what} lack column(s) {', '.join(sorted(missing))}")
