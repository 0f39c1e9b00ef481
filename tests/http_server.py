"""A local HTTP server that serves the ISIC 2018 archives and can misbehave on demand, for the tests
of the resumable download (tests/test_http.py) and of the ISIC 2018 assembly (tests/test_isic2018.py).

The archives are built in the official ISIC 2018 layout from a few real ISIC 2017 images and masks,
so extraction and pairing see the same file names and folder structure as the real download. A test
module gets the fixtures `archives` and `server` by importing them as `from http_server import
archives as archives`: pytest finds them by name, and the alias tells the linter the import is meant.
"""

from __future__ import annotations

import hashlib
import http.server
import re
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from diffseg.data.http import RetryPolicy
from diffseg.data.isic2018 import ISIC2018_ARCHIVES

from conftest import ISIC_SAMPLE, require_sample

SAMPLE = ISIC_SAMPLE
SPLIT_SIZES = {"train": 4, "val": 2, "test": 2}
# Small limits so a misbehaving server costs milliseconds and a bug cannot hang the suite.
FAST = RetryPolicy(retries=3, timeout=1.0, backoff=0.01)
TRAIN_INPUT = "ISIC2018_Task1-2_Training_Input.zip"


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
