"""The ledger of test-split scorings (diffseg.evaluation.ledger): each scoring appends one row, and a
document says how many earlier rows scored its split."""

from __future__ import annotations

import datetime

import pandas as pd
import pytest

from diffseg.evaluation.ledger import (
    COLUMNS,
    append_scoring,
    read_ledger,
    recorded_note,
    scoring_entry,
    split_name,
)
from diffseg.runtime.errors import BadInputError

NOW = datetime.datetime(2026, 12, 6, 20, 0, tzinfo=datetime.UTC)


def table(crf: float, otsu: float, control: float | None = None) -> pd.DataFrame:
    rows = [("otsu", otsu), ("unet", 0.9), ("diffseg_crf", crf)] + ([("otsu_crf", control)] if control else [])
    return pd.DataFrame({"key": [k for k, _ in rows], "dice_mean": [d for _, d in rows], "n": 150})


def test_the_split_is_named_by_its_cohort_folder_and_test_value():
    folder = {"source": "folder", "name": "run", "folder": {"splits": {"csv": "../shared/data/isic2017/manifest.csv",
                                                                       "test": "val"}}}
    assert split_name(folder) == "isic2017:val"
    assert split_name({**folder, "folder": {"splits": {"csv": "/x/ham10000/manifest.csv", "test": ["val", "t"]}}}) \
        == "ham10000:val+t"
    assert split_name({"source": "synthetic", "name": "synthetic", "folder": {"splits": {}}}) == "synthetic:test"


def test_an_entry_records_the_fused_dice_and_the_best_training_free_row():
    entry = scoring_entry(table(0.76, 0.70, control=0.78), split="isic2017:val", run="bench/candidate/c",
                          candidate="c", commit="abc1234", now=NOW)
    assert entry == {"date": "2026-12-06T20:00:00Z", "commit": "abc1234", "split": "isic2017:val", "images": 150,
                     "run": "bench/candidate/c", "candidate": "c", "diffseg_crf_dice": 0.76,
                     "best_training_free_dice": 0.78, "source": "pipeline"}
    assert scoring_entry(table(0.76, 0.70), split="s", run="r", candidate=None, commit="x")["candidate"] == "default"


def test_appending_counts_the_earlier_scorings_of_the_same_split_only(tmp_path):
    ledger = tmp_path / "docs" / "ledger.csv"
    entries = [scoring_entry(table(0.7, 0.6), split=split, run="r", candidate=None, commit="c", now=NOW)
               for split in ("isic2017:val", "ham10000:val", "isic2017:val")]
    assert [append_scoring(ledger, entry) for entry in entries] == [0, 0, 1]
    rows = read_ledger(ledger)
    assert list(rows.columns) == COLUMNS and rows["split"].tolist() == ["isic2017:val", "ham10000:val", "isic2017:val"]
    assert ledger.read_text().count("date,commit") == 1  # one header, however many rows


def test_a_document_s_note_counts_the_earlier_scorings():
    entry = scoring_entry(table(0.7, 0.6), split="isic2017:val", run="r", candidate=None, commit="c", now=NOW)
    note = recorded_note({"entry": entry, "scored_before": 6, "ledger": "docs/ledger.csv"})
    assert "`isic2017:val` (150 images) had been scored 6 times before" in note and "docs/ledger.csv" in note
    assert "had not been scored before" in recorded_note({"entry": entry, "scored_before": 0, "ledger": "l.csv"})
    assert "had been scored once before" in recorded_note({"entry": entry, "scored_before": 1, "ledger": "l.csv"})
    assert recorded_note({"entry": entry, "scored_before": None, "ledger": None}) == ""


def test_a_file_that_is_not_a_ledger_is_named(tmp_path):
    other = tmp_path / "scores.csv"
    other.write_text("id,dice\na,0.5\n")
    with pytest.raises(BadInputError, match="scores.csv.*not a scoring ledger.*lacks the columns date"):
        append_scoring(other, scoring_entry(table(0.7, 0.6), split="s", run="r", candidate=None, commit="c"))
    assert other.read_text() == "id,dice\na,0.5\n"  # nothing appended to it


def test_the_committed_ledger_reads_and_counts_the_known_scorings():
    from pathlib import Path

    ledger = read_ledger(Path(__file__).resolve().parents[1] / "docs" / "ledger.csv")
    assert set(ledger["split"]) >= {"isic2017:val", "ham10000:val"}
    # Before the ledger existed: the earlier look, four benchmark test tables, the ham10000 models'
    # two cross-dataset scorings and the train_folder run scored ISIC 2017 val.
    reconstructed = ledger[ledger["source"].str.startswith("reconstructed")]
    assert (reconstructed["split"] == "isic2017:val").sum() == 8
    assert ledger["diffseg_crf_dice"].between(0, 1).all()
