"""Tests of the ISIC 2018 assembly: download of the official archives from a local HTTP server that can
misbehave on demand (tests/http_server.py), their extraction and the pairing into a folder cohort.
"""

from __future__ import annotations

import logging
import re
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from http_server import FAST, SAMPLE, SPLIT_SIZES, TRAIN_INPUT, ArchiveServer, sha256
from http_server import archives as archives
from http_server import server as server
from PIL import Image

from diffseg.data.http import DownloadError
from diffseg.data.isic2018 import COMPLETE_MARKER, extract_zip, fetch_isic2018
from diffseg.runtime.errors import BadInputError

VAL_INPUT = "ISIC2018_Task1-2_Validation_Input.zip"


@pytest.fixture
def checksums(archives) -> dict[str, str]:
    return {name: sha256(data) for name, data in archives.items()}


def fetch(dest_root: Path, server: ArchiveServer, checksums: dict[str, str], **kwargs) -> pd.DataFrame:
    return fetch_isic2018(
        dest_root,
        base_url=server.base_url,
        checksums=checksums,
        expected_counts=SPLIT_SIZES,
        policy=FAST,
        **kwargs,
    )


def test_fetch_builds_cohort_with_official_splits_and_paired_masks(tmp_path, server, checksums):
    table = fetch(tmp_path, server, checksums)

    assert list(table.columns) == ["id", "image_path", "mask_path", "label", "split"]
    assert table["split"].value_counts().to_dict() == SPLIT_SIZES
    assert (table["label"] == 1).all() and table["id"].is_unique
    cohort = tmp_path / "cohort"
    labels = pd.read_csv(cohort / "labels.csv")
    assert list(labels.columns) == ["id", "label", "split"]
    assert labels.to_dict("records") == table[["id", "label", "split"]].to_dict("records")
    for row in table.itertuples():
        image, mask = Path(row.image_path), Path(row.mask_path)
        assert image == cohort / "images" / f"{row.id}.jpg"
        assert mask == cohort / "masks" / f"{row.id}_segmentation.png"
        # Pairing: each cohort file is exactly the real sample file of that id.
        assert image.read_bytes() == (SAMPLE / "images" / f"{row.id}.jpg").read_bytes()
        assert mask.read_bytes() == (SAMPLE / "masks" / f"{row.id}_segmentation.png").read_bytes()
        with Image.open(image) as img, Image.open(mask) as msk:
            assert img.size == msk.size
        assert image.stat().st_nlink >= 2, "cohort images should be hard links into the extraction"
    assert sorted(path.name for path in (cohort / "images").iterdir()) == sorted(
        f"{i}.jpg" for i in table["id"]
    )
    assert not list(tmp_path.glob("archives/*.part"))
    assert not list(tmp_path.glob(".cohort.*")), "no temporary cohort folder may be left behind"


def test_fetch_downloads_only_the_splits_asked_for(tmp_path, server, checksums):
    table = fetch(tmp_path, server, checksums, splits=("val",))

    assert table["split"].tolist() == ["val", "val"]
    assert {served.name for served in server.served} == {
        "ISIC2018_Task1-2_Validation_Input.zip",
        "ISIC2018_Task1_Validation_GroundTruth.zip",
    }


def test_corrupt_archive_fails_clearly_and_keeps_verified_ones(tmp_path, server, checksums):
    server.fault(VAL_INPUT, "corrupt")

    with pytest.raises(DownloadError) as failure:
        fetch(tmp_path, server, checksums)

    message = str(failure.value)
    assert VAL_INPUT in message and checksums[VAL_INPUT] in message
    actual = re.search(r"got ([0-9a-f]{64})", message).group(1)
    assert actual != checksums[VAL_INPUT]
    archives_dir = tmp_path / "archives"
    assert not (archives_dir / f"{VAL_INPUT}.part").exists() and not (archives_dir / VAL_INPUT).exists()
    # The training archives were verified before the failure and stay, with their markers.
    for name in (TRAIN_INPUT, "ISIC2018_Task1_Training_GroundTruth.zip"):
        assert sha256((archives_dir / name).read_bytes()) == checksums[name]
        assert (archives_dir / f"{name}.verified").exists()

    # The next run fetches only what is missing.
    server.served.clear()
    fetch(tmp_path, server, checksums)
    assert not server.requests_for(TRAIN_INPUT)
    assert [served.status for served in server.requests_for(VAL_INPUT)] == [200]


def test_complete_downloads_make_no_request(tmp_path, server, checksums, caplog):
    first = fetch(tmp_path, server, checksums)
    server.served.clear()

    with caplog.at_level(logging.INFO, logger="diffseg"):
        second = fetch(tmp_path, server, checksums)

    assert server.served == []
    assert "already downloaded and verified; download skipped" in caplog.text
    assert "checking the SHA-256" not in caplog.text, "the verified marker should spare the re-hashing"
    pd.testing.assert_frame_equal(first, second)


def test_extract_is_skipped_when_complete(tmp_path, archives):
    archive = tmp_path / TRAIN_INPUT
    archive.write_bytes(archives[TRAIN_INPUT])
    dest_dir = tmp_path / "extracted"

    extract_zip(archive, dest_dir)
    assert (dest_dir / COMPLETE_MARKER).exists()
    assert len(list(dest_dir.glob("ISIC2018_Task1-2_Training_Input/ISIC_*.jpg"))) == SPLIT_SIZES["train"]
    (dest_dir / "sentinel").write_text("untouched")
    archive.unlink()  # a skipped extraction does not even open the archive

    assert extract_zip(archive, dest_dir) == dest_dir
    assert (dest_dir / "sentinel").read_text() == "untouched"
    assert [path.name for path in tmp_path.iterdir()] == ["extracted"], "no temporary folder may be left"


def test_incomplete_extraction_is_replaced(tmp_path, archives):
    archive = tmp_path / TRAIN_INPUT
    archive.write_bytes(archives[TRAIN_INPUT])
    dest_dir = tmp_path / "extracted"
    dest_dir.mkdir()
    (dest_dir / "half-written.jpg").write_bytes(b"")

    extract_zip(archive, dest_dir)

    assert not (dest_dir / "half-written.jpg").exists()
    assert (dest_dir / COMPLETE_MARKER).exists()


@pytest.mark.parametrize("member", ["../evil.txt", "ok/../../evil.txt", "/tmp/evil.txt", "C:\\evil.txt"])
def test_zip_path_traversal_is_refused(tmp_path, member):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("harmless.txt", "fine")
        zf.writestr(member, "escaped")
    dest_dir = tmp_path / "out" / "extracted"

    with pytest.raises(BadInputError, match=r"evil\.zip.*would be written outside"):
        extract_zip(archive, dest_dir)

    assert not dest_dir.exists()
    assert list((tmp_path / "out").iterdir()) == [], "nothing may be extracted from a refused archive"
    assert not (tmp_path / "evil.txt").exists()
