"""Table 1 again on named subsets of the test images (diffseg.evaluation.subsets): ISIC 2017 val's 98
images seen during development and its 52 never used for any choice, each with its own tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_table import DICE, per_image_frame

from diffseg.evaluation.subsets import SUBSETS_HEADING, subset_scores, subsets_markdown, subsets_section
from diffseg.evaluation.table import table1
from diffseg.runtime.errors import ConfigError

SUBSETS = {"in_sample": {"1": "seen during development", "0": "never used for any choice"}}


def scores(seen=(1, 1, 1, 0, 0, 0)) -> pd.DataFrame:
    frame = per_image_frame({**DICE, "otsu_crf": [0.70, 0.80, 0.60, 0.90, 0.95, 0.85]})
    image = frame["id"].str[3:].astype(int)
    return frame.assign(in_sample=np.asarray(seen)[image], truth_fraction=0.1 + 0.15 * image)


def ged() -> pd.DataFrame:
    return pd.DataFrame({"id": [f"img{i}" for i in range(6)], "diversity": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]})


def test_each_subset_gets_its_own_table1_and_size_bins():
    text = subsets_markdown(scores(), SUBSETS, ged(), n_resamples=200)
    seen, unseen = text.split("#### never used for any choice")
    assert seen.startswith("#### seen during development (`in_sample` = 1, 3 images)")
    assert unseen.startswith(" (`in_sample` = 0, 3 images)")
    # The unseen images' Table 1 is the one table1 gives on them alone: the fair control's Dice there.
    alone = table1(scores().query("in_sample == 0"), n_resamples=200).set_index("key")
    assert f"| Training-free (Otsu) + DenseCRF | 3 | {alone.loc['otsu_crf', 'dice_mean']:.3f}" in unseen
    assert f"{alone.loc['otsu_crf', 'dice_mean']:.3f}" == "0.900"
    assert unseen.count("| DiffSeg + DenseCRF |") == 2  # its Table 1 row and its size-bin row
    assert "Dice by the true lesion's share of the frame" in seen and "rho = " in seen


def test_without_subsets_there_is_no_section_and_an_empty_subset_says_so():
    assert subsets_markdown(scores(), {}, ged()) == "" and subsets_section("") == {}
    text = subsets_markdown(scores(seen=(0,) * 6), SUBSETS, ged(), n_resamples=200)
    assert "`in_sample` = 1, 0 images)\n\nNo test image has this value." in text
    assert list(subsets_section(text)) == [SUBSETS_HEADING]


def test_a_column_read_back_as_float_still_matches_its_integer_values():
    frame = scores().astype({"in_sample": float})
    assert subset_scores(frame, "in_sample", "1")["id"].nunique() == 3


def test_a_subset_column_the_scores_lack_is_named():
    with pytest.raises(ConfigError, match="'in_sample'.*add it to dataset.folder.splits.keep"):
        subsets_markdown(scores().drop(columns="in_sample"), SUBSETS, ged())
