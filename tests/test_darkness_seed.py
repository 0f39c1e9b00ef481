"""The darkness mask mixed into DenseCRF's seed where the vote is unsure (diffseg.method.darkness_seed):
on a lesion filling the frame whose vote marks only its centre, the fused mask recovers the lesion."""

from __future__ import annotations

import numpy as np
import pytest
from test_crf import ImagesAt, dice, disc, lesion_image

from diffseg.data.maps import read_maps, write_maps
from diffseg.evaluation.otsu_baseline import OtsuParams, otsu_segment
from diffseg.method.crf import CRFParams, crf_fuse, crf_shard
from diffseg.method.darkness_seed import DarknessSeed
from diffseg.runtime.errors import ConfigError


def otsu(image):
    return otsu_segment(image, OtsuParams())


def seed(weight=0.5, when_ambiguous=0.0):
    return DarknessSeed(weight=weight, when_ambiguous=when_ambiguous, mask=otsu)


def large_lesion():
    """A lesion over half the frame, whose vote marks a small centre and whose steps disagree widely."""
    image, truth = lesion_image(size=64, radius=26, seed=3)
    vote = disc(64, 8).astype(np.float32)
    ambiguous = disc(64, 30) & ~disc(64, 8)  # ~0.65 of the frame
    return image, truth, vote, ambiguous


def test_off_and_below_the_ambiguity_bar_the_seed_is_the_vote():
    image, _, vote, ambiguous = large_lesion()
    assert np.array_equal(DarknessSeed().seed(image, vote, ambiguous), vote)
    assert np.array_equal(seed(0.5, 0.9).seed(image, vote, ambiguous), vote)
    mixed = seed(0.5, 0.3).seed(image, vote, ambiguous)
    assert set(np.unique(mixed)) <= {0.0, 0.5, 1.0} and (mixed > vote).any()


def test_the_darkness_seed_recovers_a_lesion_the_vote_marks_only_at_its_centre(tmp_path):
    image, truth, vote, ambiguous = large_lesion()
    write_maps(tmp_path / "regions.h5", [10], ["big"], mean=vote[None].astype(np.float16),
               ambiguous=ambiguous[None].astype(np.uint8))
    params = CRFParams()
    crf_shard(ImagesAt([image]), None, tmp_path / "regions.h5", tmp_path / "vote.h5", params)
    crf_shard(ImagesAt([image]), None, tmp_path / "regions.h5", tmp_path / "dark.h5", params,
              darkness=seed(0.5, 0.3))
    alone, mixed = (read_maps(tmp_path / name, "labels")["labels"][0].astype(bool) for name in ("vote.h5", "dark.h5"))
    assert dice(mixed, truth) > dice(alone, truth) + 0.1 and dice(mixed, truth) > 0.8
    # The shard's fusion is crf_fuse of the mixed seed, no more.
    mixed_seed = seed(0.5, 0.3).seed(image, vote, ambiguous)
    assert np.array_equal(mixed, crf_fuse(image, mixed_seed, params)[0])


def test_settings_that_cannot_work_are_named():
    with pytest.raises(ConfigError, match="crf.darkness_weight must lie in"):
        seed(weight=1.5)
    with pytest.raises(ConfigError, match="crf.darkness_when_ambiguous"):
        seed(when_ambiguous=-0.1)
    with pytest.raises(ValueError, match="needs the function giving the darkness mask"):
        DarknessSeed(weight=0.5)


def test_the_rounds_variant_refuses_the_darkness_seed(tmp_path):
    image, _, vote, ambiguous = large_lesion()
    write_maps(tmp_path / "regions.h5", [10], ["big"], mean=vote[None].astype(np.float16),
               ambiguous=ambiguous[None].astype(np.uint8))
    with pytest.raises(ConfigError, match="set crf.rounds to 0"):
        crf_shard(ImagesAt([image]), None, tmp_path / "regions.h5", tmp_path / "x.h5", rounds=2,
                  darkness=seed())
