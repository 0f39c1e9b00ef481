"""Tests of the ISIC 2018 download against a local HTTP server that can misbehave on demand.

The archives are built in the official ISIC 2018 layout from a few real ISIC 2017 images and masks,
so extraction and pairing see the same file names and folder structure as the real download.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import logging
import os
import re
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from diffseg.data.download import (
    COMPLETE_MARKER,
    ISIC2018_ARCHIVES,
    DownloadError,
    download_file,
    extract_zip,
    fetch_isic2018,
)
from diffseg.runtime.errors import BadInputError

from conftest import ISIC_SAMPLE, require_sample

SAMPLE = ISIC_SAMPLE
SPLIT_SIZES = {"train": 4, "val": 2, "test": 2}
# Small limits so a misbehaving server costs milliseconds and a bug cannot hang the suite.
FAST = {"retries": 3, "timeout": 1.0, "backoff": 0.01}
TRAIN_INPUT = "ISIC2018_Task1-2_Training_Input.zip"
VAL_INPUT = "ISIC2018_Task1-2_Validation_Input.zip"


@pytest.fixture(scope="module")
def archives(tmp_path_factory) -> dict[str, bytes]:
    """The six archives in the official layout, by file name, from 8 real sample images."""
    require_sample(SAMPLE)
    ids = sorted(path.stem for path in (SAMPLE / "images").glob("ISIC_*.jpg"))[: sum(SPLIT_SIZES.values())]
    split_ids, start = {}, 0
    for split, size in SPLIT_SIZES.items():
        split_ids[split] = ids[start : start + size]
        start += size

    root = tmp_path_factory.mktemp("archives")
    built = {}
    for archive in ISIC2018_ARCHIVES:
        path = root / archive.name
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr(f"{archive.folder}/", b"")
            for image_id in split_ids[archive.split]:
                if archive.content == "images":
                    zf.write(SAMPLE / "images" / f"{image_id}.jpg", f"{archive.folder}/{image_id}.jpg")
                else:
                    zf.write(
                        SAMPLE / "masks" / f"{image_id}_segmentation.png",
                        f"{archive.folder}/{image_id}_segmentation.png",
                    )
            # Extra files the real archives carry, and macOS junk, which must be ignored.
            zf.writestr(f"{archive.folder}/LICENSE.txt", "CC-BY-NC\n")
            zf.writestr(f"{archive.folder}/ATTRIBUTION.txt", "ISIC archive\n")
            first = split_ids[archive.split][0]
            junk = f"{first}.jpg" if archive.content == "images" else f"{first}_segmentation.png"
            zf.writestr(f"__MACOSX/{archive.folder}/._{junk}", b"resource fork")
        built[archive.name] = path.read_bytes()
    return built


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Served:
    """One request the server answered: what was asked and how many body bytes went out."""

    name: str
    range: str | None
    status: int
    body_bytes: int


class ArchiveServer:
    """A threaded HTTP server on 127.0.0.1 serving `files` under `/2018/`, with Range support.

    `faults[name]` is a queue of misbehaviours, each used for one request of that file:
    "drop" (full Content-Length, half the body, then close), "503", "stall" (no answer until the
    client has timed out), "corrupt" (bytes changed, length kept) and "ignore-range" (answer 200).
    """

    def __init__(self, files: dict[str, bytes]):
        self.files = files
        self.faults: dict[str, list[str]] = {}
        self.served: list[Served] = []
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._httpd.server_port}/2018/"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> ArchiveServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def fault(self, name: str, *kinds: str) -> None:
        self.faults.setdefault(name, []).extend(kinds)

    def requests_for(self, name: str) -> list[Served]:
        return [served for served in self.served if served.name == name]

    def _record(self, served: Served) -> None:
        with self._lock:
            self.served.append(served)

    def _next_fault(self, name: str) -> str | None:
        with self._lock:
            queue = self.faults.get(name)
            return queue.pop(0) if queue else None

    def _handler_class(self):
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:
                name = self.path.removeprefix("/2018/")
                range_header = self.headers.get("Range")
                data = server.files.get(name)
                # Recorded before answering: the client may act on the answer before this thread resumes.
                if data is None:
                    server._record(Served(name, range_header, 404, 0))
                    self.send_error(404)
                    return
                fault = server._next_fault(name)
                if fault == "503":
                    server._record(Served(name, range_header, 503, 0))
                    self.send_error(503, "Slow Down")
                    return
                if fault == "stall":
                    server._record(Served(name, range_header, 0, 0))
                    server.release.wait(timeout=10)
                    self.close_connection = True
                    return
                if fault == "corrupt":
                    data = bytes(b ^ 0xFF if i == len(data) // 2 else b for i, b in enumerate(data))

                start = 0
                match = re.fullmatch(r"bytes=(\d+)-", range_header or "")
                if match and fault != "ignore-range":
                    start = int(match.group(1))
                    if start >= len(data):
                        server._record(Served(name, range_header, 416, 0))
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if fault == "drop":
                    body = body[: len(body) // 2]
                    self.close_connection = True
                server._record(Served(name, range_header, 206 if start else 200, len(body)))
                self.wfile.write(body)
                self.wfile.flush()

        return Handler


@pytest.fixture
def server(archives) -> Iterator[ArchiveServer]:
    with ArchiveServer(archives) as running:
        yield running


@pytest.fixture
def checksums(archives) -> dict[str, str]:
    return {name: sha256(data) for name, data in archives.items()}


def fetch(dest_root: Path, server: ArchiveServer, checksums: dict[str, str], **kwargs) -> pd.DataFrame:
    return fetch_isic2018(
        dest_root,
        base_url=server.base_url,
        checksums=checksums,
        expected_counts=SPLIT_SIZES,
        **FAST,
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


def test_dropped_connection_resumes_with_range_request(tmp_path, server, archives):
    data = archives[TRAIN_INPUT]
    server.fault(TRAIN_INPUT, "drop")
    dest = tmp_path / TRAIN_INPUT

    download_file(server.base_url + TRAIN_INPUT, dest, sha256(data), chunk_size=4096, **FAST)

    first, second = server.requests_for(TRAIN_INPUT)
    assert first.range is None and first.body_bytes < len(data)
    resumed_from = int(re.fullmatch(r"bytes=(\d+)-", second.range).group(1))
    assert 0 < resumed_from <= first.body_bytes
    assert second.status == 206
    assert first.body_bytes + second.body_bytes < 1.5 * len(data)
    assert dest.read_bytes() == data
    assert not dest.with_name(dest.name + ".part").exists()


def test_progress_resets_the_retry_count(tmp_path, server, archives):
    data = archives[TRAIN_INPUT]
    server.fault(TRAIN_INPUT, "drop", "drop", "drop")

    download_file(
        server.base_url + TRAIN_INPUT,
        tmp_path / TRAIN_INPUT,
        sha256(data),
        chunk_size=4096,
        retries=1,
        timeout=1.0,
        backoff=0.01,
    )

    offsets = [
        int(served.range.split("=")[1].rstrip("-")) if served.range else 0
        for served in server.requests_for(TRAIN_INPUT)
    ]
    assert len(offsets) == 4 and offsets == sorted(set(offsets))
    assert (tmp_path / TRAIN_INPUT).read_bytes() == data


def test_server_error_is_retried(tmp_path, server, archives):
    server.fault(TRAIN_INPUT, "503")

    dest = download_file(
        server.base_url + TRAIN_INPUT, tmp_path / TRAIN_INPUT, sha256(archives[TRAIN_INPUT]), **FAST
    )

    assert [served.status for served in server.requests_for(TRAIN_INPUT)] == [503, 200]
    assert dest.read_bytes() == archives[TRAIN_INPUT]


def test_stalled_server_times_out_and_is_retried(tmp_path, server, archives):
    server.fault(TRAIN_INPUT, "stall")

    dest = download_file(
        server.base_url + TRAIN_INPUT,
        tmp_path / TRAIN_INPUT,
        sha256(archives[TRAIN_INPUT]),
        retries=2,
        timeout=0.3,
        backoff=0.01,
    )

    assert len(server.requests_for(TRAIN_INPUT)) == 2
    assert dest.read_bytes() == archives[TRAIN_INPUT]


def test_gives_up_after_the_last_retry(tmp_path, server, archives):
    server.fault(TRAIN_INPUT, *["503"] * 4)

    with pytest.raises(DownloadError, match=r"gave up after 4 attempts in a row without progress.*503"):
        download_file(
            server.base_url + TRAIN_INPUT, tmp_path / TRAIN_INPUT, sha256(archives[TRAIN_INPUT]), **FAST
        )
    assert len(server.requests_for(TRAIN_INPUT)) == 4
    assert not (tmp_path / TRAIN_INPUT).exists()


def test_client_error_fails_at_once(tmp_path, server):
    with pytest.raises(DownloadError, match=r"missing\.zip.*HTTP 404"):
        download_file(server.base_url + "missing.zip", tmp_path / "missing.zip", "0" * 64, **FAST)
    assert len(server.requests_for("missing.zip")) == 1


def test_server_ignoring_range_restarts_from_zero(tmp_path, server, archives):
    data = archives[TRAIN_INPUT]
    dest = tmp_path / TRAIN_INPUT
    dest.with_name(dest.name + ".part").write_bytes(data[:1000])
    server.fault(TRAIN_INPUT, "ignore-range")

    download_file(server.base_url + TRAIN_INPUT, dest, sha256(data), **FAST)

    (served,) = server.requests_for(TRAIN_INPUT)
    assert served.range == "bytes=1000-" and served.status == 200
    assert dest.read_bytes() == data


def test_complete_part_file_is_verified_after_416(tmp_path, server, archives):
    data = archives[TRAIN_INPUT]
    dest = tmp_path / TRAIN_INPUT
    dest.with_name(dest.name + ".part").write_bytes(data)

    download_file(server.base_url + TRAIN_INPUT, dest, sha256(data), **FAST)

    assert [served.status for served in server.requests_for(TRAIN_INPUT)] == [416]
    assert dest.read_bytes() == data


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


def test_touched_download_is_rehashed_and_kept(tmp_path, server, archives, caplog):
    data = archives[TRAIN_INPUT]
    dest = download_file(server.base_url + TRAIN_INPUT, tmp_path / TRAIN_INPUT, sha256(data), **FAST)
    os.utime(dest, ns=(0, 0))
    server.served.clear()

    with caplog.at_level(logging.INFO, logger="diffseg"):
        download_file(server.base_url + TRAIN_INPUT, dest, sha256(data), **FAST)

    assert server.served == []
    assert "checking the SHA-256" in caplog.text
    marker = json.loads(dest.with_name(dest.name + ".verified").read_text())
    assert marker == {"size": len(data), "mtime_ns": 0, "sha256": sha256(data)}


def test_mismatching_download_is_fetched_again(tmp_path, server, archives):
    data = archives[TRAIN_INPUT]
    dest = tmp_path / TRAIN_INPUT
    dest.write_bytes(b"x" * len(data))

    download_file(server.base_url + TRAIN_INPUT, dest, sha256(data), **FAST)

    assert len(server.requests_for(TRAIN_INPUT)) == 1
    assert dest.read_bytes() == data


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
