"""Noise-difference extraction: seeding, batching, the HDF5 layout and the shard join."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest
import torch

from diffseg.data.store import ImageStore, write_store
from diffseg.data.synthetic import write_synthetic_cohort
from diffseg.method.extraction import (
    ExtractionSettings,
    extract_shard,
    join_shards,
    noise_differences,
    reduce_difference,
    step_noise,
)
from diffseg.method.model import build_unet
from diffseg.method.threshold import step_masks

SIZE = 16
STEPS = [60, 150]


@pytest.fixture(scope="module")
def unet():
    torch.manual_seed(0)
    return build_unet("tiny", SIZE).eval()


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(1).integers(0, 256, (3, SIZE, SIZE, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    root = tmp_path_factory.mktemp("store")
    cohort = write_synthetic_cohort(root / "cohort", n_lesion=5, n_healthy=1, size=32, seed=0, test_fraction=0.2)
    write_store(root / "store.h5", cohort, SIZE, "synthetic")
    return root / "store.h5"


def test_noise_is_a_function_of_seed_id_step_and_draw():
    first = step_noise(0, "ISIC_1", 60, 0, (3, 4, 4))
    assert torch.equal(first, step_noise(0, "ISIC_1", 60, 0, (3, 4, 4)))
    for other in [(1, "ISIC_1", 60, 0), (0, "ISIC_2", 60, 0), (0, "ISIC_1", 70, 0), (0, "ISIC_1", 60, 1)]:
        assert not torch.equal(first, step_noise(*other, (3, 4, 4)))


def test_maps_do_not_depend_on_batch_size_or_image_order(unet, images):
    settings = ExtractionSettings(STEPS, draws=2)
    ids = ["a", "b", "c"]
    one = noise_differences(unet, images, ids, settings, batch_size=1)
    sixteen = noise_differences(unet, images, ids, settings, batch_size=16)
    reversed_order = noise_differences(unet, images[::-1], ids[::-1], settings, batch_size=16)[::-1]
    assert one.shape == (3, len(STEPS), SIZE, SIZE) and one.max() > 0
    np.testing.assert_allclose(one, sixteen, atol=1e-5)
    np.testing.assert_allclose(reversed_order, sixteen, atol=1e-5)


def test_maps_are_zero_when_both_semantics_are_the_same(unet, images):
    same = ExtractionSettings(STEPS, draws=2, semantic_a="lesion", semantic_b="lesion")
    assert np.abs(noise_differences(unet, images, ["a", "b", "c"], same, batch_size=8)).max() < 1e-6


def test_luma_signed_is_healthy_luma_minus_one_and_a_half_lesion_luma():
    eps_a = torch.zeros(1, 3, 2, 2)
    eps_a[0, :, 0, 0] = 1.0  # luma 1 at one pixel, 0 elsewhere
    eps_b = torch.zeros(1, 3, 2, 2)
    eps_b[0, 1, 1, 1] = 2.0  # luma 2 · 0.587 at another
    expected = torch.tensor([[[1.0, 0.0], [0.0, -1.5 * 2 * 0.587]]])
    torch.testing.assert_close(reduce_difference(eps_a, eps_b, "luma_signed"), expected)
    torch.testing.assert_close(reduce_difference(eps_a, eps_b, "abs_mean")[0, 0, 0], torch.tensor(1.0))


def test_shard_file_layout_and_chunking(unet, store_path, tmp_path):
    with ImageStore(store_path) as store:
        positions = np.flatnonzero(store.label == 1)[:3]
        settings = ExtractionSettings(STEPS, 2, "healthy", "lesion", "abs_mean", base_seed=5)
        extract_shard(store, positions, unet, tmp_path / "shard-0000.h5", settings, batch_size=6,
                      example_ids=[store.ids[positions[0]]])  # fmt: skip
        ids = [store.ids[p] for p in positions]
        expected = noise_differences(
            unet, store.images(positions), ids, ExtractionSettings(STEPS, 2, base_seed=5)
        )
    with h5py.File(tmp_path / "shard-0000.h5", "r") as h5:
        assert h5["index"].dtype == np.int64 and list(h5["index"][()]) == list(positions)
        assert list(h5["ids"].asstr()[()]) == ids
        assert list(h5["steps"][()]) == STEPS
        diff = h5["diff"]
        assert diff.shape == (3, 2, SIZE, SIZE) and diff.dtype == np.float16
        assert diff.chunks == (1, 2, SIZE, SIZE) and diff.compression == "gzip"
        np.testing.assert_allclose(diff[()], expected, atol=2e-3, rtol=2e-3)
        assert dict(h5.attrs) == {
            "semantic_a": 0,
            "semantic_b": 1,
            "reduce": "abs_mean",
            "draws": 2,
            "seed": 5,
        }
        assert sorted(h5["examples"]) == [ids[0]]
        for name in ("x_t", "eps_a", "eps_b"):
            assert h5[f"examples/{ids[0]}/{name}"].shape == (2, 3, SIZE, SIZE)


def test_joined_shards_read_as_one_file_after_the_folder_moves(unet, store_path, tmp_path):
    folder = tmp_path / "results"
    with ImageStore(store_path) as store:
        lesions = np.flatnonzero(store.label == 1)
        shards = [lesions[:2], lesions[2:5]]
        for i, positions in enumerate(shards):
            settings = ExtractionSettings(STEPS, 1, "healthy", "lesion", "abs_mean", base_seed=0)
            extract_shard(store, positions, unet, folder / "diffs" / f"shard-{i:04d}.h5", settings, batch_size=4)
    join_shards([folder / "diffs" / f"shard-{i:04d}.h5" for i in range(2)], folder / "diffs.h5")
    moved = shutil.move(folder, tmp_path / "moved")
    with h5py.File(f"{moved}/diffs.h5", "r") as joined:
        assert joined["diff"].is_virtual and list(joined["index"][()]) == list(lesions[:5])
        parts = [h5py.File(f"{moved}/diffs/shard-{i:04d}.h5", "r") for i in range(2)]
        np.testing.assert_array_equal(joined["diff"][()], np.concatenate([p["diff"][()] for p in parts]))
        assert list(joined["ids"].asstr()[()]) == [i for p in parts for i in p["ids"].asstr()[()]]
        for part in parts:
            part.close()


def test_a_guidance_scale_on_the_difference_changes_no_mask():
    # Classifier-free guidance at scale s predicts ε_null + s · (ε_c − ε_null) under each label c, so
    # the guided difference is s · (ε_a − ε_b): the map grows s-fold, and the per-image scaling of
    # diffseg.method.threshold undoes it. docs/method.md §2 says so instead of offering a setting that does nothing.
    generator = torch.Generator().manual_seed(0)
    eps_null, eps_a, eps_b = (torch.randn(2, 3, 16, 16, generator=generator) for _ in range(3))
    plain = reduce_difference(eps_a, eps_b, "abs_mean").numpy()
    for scale in (0.5, 3.0, 7.5):
        guided = reduce_difference(eps_null + scale * (eps_a - eps_null), eps_null + scale * (eps_b - eps_null), "abs_mean")
        np.testing.assert_allclose(guided.numpy(), scale * plain, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(step_masks(guided.numpy()), step_masks(plain))
