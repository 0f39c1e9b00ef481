"""The one check every reader of a table of scores starts with: are the columns it needs there?"""

from __future__ import annotations

import pandas as pd


def require_columns(table: pd.DataFrame, needed, what: str = "per-image scores") -> None:
    """Raise ValueError naming the columns of `needed` that `table` (`what` it holds) lacks."""
    missing = [column for column in needed if column not in table.columns]
    if missing:
        raise ValueError(f"{what} lack column(s) {', '.join(sorted(missing))}")
