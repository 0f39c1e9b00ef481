"""The ledger of test-split scorings: every time a test split is scored, one line is appended.

A test split is worth what its history says: each look at its scores that informs a later choice
(a design change, a new candidate) makes it less of a test. The ledger is a CSV committed with the
project (`metrics.ledger`, docs/ledger.csv in the configurations that score real test splits); the
pipeline appends a row each time a run's test split, or a cross-dataset cohort's, is scored, and each
document says how many times its split had been scored before. Rows of scorings made before the ledger
existed were reconstructed from the history of the documents (their `source` says where).

Columns: `date` (UTC), `commit` (the code that scored), `split` (which images: `<cohort>:<test split>`,
e.g. `isic2017:val`), `images`, `run` (the results root), `candidate`, `diffseg_crf_dice`,
`best_training_free_dice`, `source`.
"""

from __future__ import annotations

import datetime
import fcntl
import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
import yaml

from diffseg.evaluation.table import REFERENCE, TRAINING_FREE
from diffseg.runtime.errors import BadInputError

COLUMNS = ["date", "commit", "split", "images", "run", "candidate", "diffseg_crf_dice",
           "best_training_free_dice", "source"]


def split_name(dataset: Mapping) -> str:
    """The name of a cohort's test split: the folder of its splits CSV and the split's value(s) there
    (`isic2017:val`), else the dataset's name and `test`."""
    splits = dataset.get("folder", {}).get("splits", {})
    if dataset.get("source") == "folder" and splits.get("csv"):
        test = splits["test"] if isinstance(splits["test"], str) else "+".join(splits["test"])
        return f"{Path(splits['csv']).resolve().parent.name}:{test}"
    return f"{dataset['name']}:test"


def read_ledger(path: str | os.PathLike) -> pd.DataFrame:
    """The ledger's rows (none when the file does not exist yet); a BadInputError names a file that is
    not a ledger."""
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return pd.DataFrame(columns=COLUMNS)
    ledger = pd.read_csv(path, dtype={"commit": str, "candidate": str, "source": str})
    missing = [column for column in COLUMNS if column not in ledger]
    if missing:
        raise BadInputError(path, f"is not a scoring ledger: it lacks the columns {', '.join(missing)}")
    return ledger


def scoring_entry(table: pd.DataFrame, *, split: str, run: str, candidate: str | None, commit: str,
                  now: datetime.datetime | None = None) -> dict:
    """The ledger row of one scoring, from its Table 1 (`diffseg.evaluation.table.table1`)."""
    dice = table.set_index("key")["dice_mean"]
    free = [dice[key] for key in TRAINING_FREE if key in dice]
    return {
        "date": (now or datetime.datetime.now(datetime.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": commit,
        "split": split,
        "images": int(table["n"].max()),
        "run": run,
        "candidate": candidate or "default",
        "diffseg_crf_dice": round(float(dice[REFERENCE]), 4) if REFERENCE in dice else float("nan"),
        "best_training_free_dice": round(float(max(free)), 4) if free else float("nan"),
        "source": "pipeline",
    }


def append_scoring(path: str | os.PathLike, entry: Mapping) -> int:
    """Append `entry` to the ledger at `path` and return how many earlier rows score the same split.
    Runs that score at once (two cohorts of one benchmark) take turns under an exclusive lock."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        earlier = read_ledger(path)
        before = int((earlier["split"] == entry["split"]).sum())
        row = pd.DataFrame([entry], columns=COLUMNS)
        handle.seek(0, os.SEEK_END)
        row.to_csv(handle, header=handle.tell() == 0, index=False)
        handle.flush()
        os.fsync(handle.fileno())
    return before


def scoring_note(entry: Mapping, before: int, ledger: str) -> str:
    """The sentence a document gives about its test split's history."""
    times = "not been scored" if before == 0 else ("been scored once" if before == 1 else f"been scored {before} times")
    return (f"The test split `{entry['split']}` ({entry['images']} images) had {times} before "
            f"this scoring (ledger `{ledger}`, which this scoring joined on {entry['date'][:10]}).")


def recorded_note(record: Mapping) -> str:
    """The note of a scoring's record (the record_scoring rule's YAML); empty without a ledger."""
    if record.get("ledger") is None or record.get("scored_before") is None:
        return ""
    return scoring_note(record["entry"], int(record["scored_before"]), record["ledger"])


def read_recorded_note(path: str | os.PathLike) -> str:
    """`recorded_note` of the record YAML at `path`."""
    return recorded_note(yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {})
