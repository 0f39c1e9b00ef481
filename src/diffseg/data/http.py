"""Resumable, SHA-256-verified download of one file over HTTP.

Large files from far-away servers (the ISIC 2018 training images alone are about 10 GB) must survive
dropped connections: a download resumes from the partial file with an HTTP range request instead of
starting over, and nothing reaches its final name before its SHA-256 matches the expected checksum.
Verified files are never touched again, so re-running costs no traffic and, thanks to a small marker
file, no re-hashing either.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from diffseg.runtime.atomic import write_text
from diffseg.runtime.errors import DiffSegError
from diffseg.runtime.logs import progress

_log = logging.getLogger(__name__)

# HTTP statuses worth retrying: server-side trouble and the two client statuses that only say "later".
_RETRYABLE_CLIENT_STATUSES = frozenset({408, 429})

_CONTENT_RANGE = re.compile(r"bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)")


@dataclass(frozen=True)
class RetryPolicy:
    """How a download copes with a slow or flaky server.

    `retries`: failed attempts in a row without new bytes before giving up; `timeout`: seconds to
    wait for the server (connecting, or between two reads); `backoff`: seconds before the first retry,
    doubled on each further one; `chunk_size`: bytes read at a time, which bounds the bytes an
    interruption makes fetch twice.
    """

    retries: int = 5
    timeout: float = 60
    backoff: float = 1.0
    chunk_size: int = 1 << 20


class DownloadError(DiffSegError):
    """A file that could not be downloaded: the message names the URL, the local file and why."""

    def __init__(self, url: str, path: str | os.PathLike, reason: str):
        self.url = url
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason} (URL {url})")


class _Interrupted(Exception):
    """A transfer that stopped for a reason that may go away on the next attempt."""


# What a retry can cure: connection trouble, timeouts, truncated bodies and server errors.
_RETRYABLE_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    _Interrupted,
)


@dataclass(frozen=True)
class _Download:
    """What stays the same over the attempts of one download."""

    session: requests.Session
    url: str
    dest: Path
    part: Path  # where the bytes go until their checksum is verified
    want_digest: bool


@dataclass(frozen=True)
class _WritePlan:
    """How one answer's body goes into the partial file: open `mode`, from byte `offset`, to `total`."""

    mode: str  # "ab" continues the partial file, "wb" starts it over
    offset: int
    total: int | None  # None: the server did not say how large the file is


def download_file(
    url: str,
    dest: str | os.PathLike,
    sha256: str | None = None,
    policy: RetryPolicy = RetryPolicy(),
    session: requests.Session | None = None,
    log: logging.Logger = _log,
) -> Path:
    """Download `url` to `dest`, resuming after interruptions, and verify its SHA-256.

    The bytes go to `<dest>.part`; an interrupted transfer (dropped connection, timeout, HTTP 5xx)
    is retried after `policy.backoff · 2^k` seconds, asking only for the missing bytes with a `Range`
    header; it gives up after `policy.retries` retries in a row that brought no new bytes. `.part` is
    renamed onto `dest` only once its checksum matches, and a `<dest>.verified` marker (size, mtime,
    checksum) lets later runs skip both the request and the re-hashing. A checksum mismatch deletes
    `.part` (it cannot be resumed into a good file) and raises `DownloadError`; so does a client error
    (HTTP 4xx), at once, as retrying cannot cure it. Without `sha256` nothing is verified and an
    existing `dest` is trusted as it is.
    """
    dest = Path(dest)
    expected = sha256.lower() if sha256 is not None else None
    if dest.exists():
        if expected is None:
            log.info("%s exists and has no checksum to check; download skipped", dest)
            return dest
        if _is_verified(dest, expected, log):
            log.info("%s is already downloaded and verified; download skipped", dest)
            return dest
        log.warning("%s does not match its SHA-256 %s; downloading it again", dest, expected)
        _verified_marker(dest).unlink(missing_ok=True)
        dest.unlink()

    dest.parent.mkdir(parents=True, exist_ok=True)
    part = _part_path(dest)
    own_session = session is None
    session = requests.Session() if own_session else session
    try:
        download = _Download(session, url, dest, part, want_digest=expected is not None)
        digest = _transfer_with_retries(download, policy, log)
    finally:
        if own_session:
            session.close()

    if expected is not None and digest != expected:
        part.unlink()
        raise DownloadError(
            url,
            dest,
            f"SHA-256 mismatch: expected {expected}, got {digest}; the corrupt partial file {part.name} "
            f"was deleted, run again to download it afresh",
        )
    os.replace(part, dest)
    if digest is not None:
        _write_verified_marker(dest, digest)
    log.info("downloaded %s (%d bytes)%s", dest, dest.stat().st_size, ", SHA-256 verified" if digest else "")
    return dest


def _part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def _verified_marker(dest: Path) -> Path:
    return dest.with_name(dest.name + ".verified")


def _is_verified(dest: Path, expected: str, log: logging.Logger) -> bool:
    """Whether `dest` has the checksum `expected`, hashing it only when the marker is stale."""
    stat = dest.stat()
    try:
        marker = json.loads(_verified_marker(dest).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        marker = None
    if marker == {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": expected}:
        return True
    log.info("checking the SHA-256 of %s", dest)
    actual = _sha256_of(dest).hexdigest()
    if actual != expected:
        return False
    _write_verified_marker(dest, actual)
    return True


def _write_verified_marker(dest: Path, digest: str) -> None:
    stat = dest.stat()
    marker = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": digest}
    write_text(_verified_marker(dest), json.dumps(marker) + "\n")


def _byte_progress(desc: str, total: int | None, initial: int = 0):
    """A progress bar counting bytes (in KiB, MiB, … as they grow)."""
    return progress(
        None, desc=desc, total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024
    )


def _sha256_of(path: Path, chunk_size: int = 1 << 20):
    """SHA-256 of a file's content, as a hash object so a resumed download can keep feeding it."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle, _byte_progress(f"sha256 {path.name}", path.stat().st_size) as bar:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
            bar.update(len(chunk))
    return digest


def _transfer_with_retries(download: _Download, policy: RetryPolicy, log: logging.Logger) -> str | None:
    """Bring `download.part` to the full remote file; return its SHA-256 (None unless `want_digest`).

    `policy.retries` bounds the failed attempts in a row that brought no new bytes: an attempt that
    extended `part` resets the count, because a 10 GB download over a flaky link may be cut many
    times and still finish. The loop ends because every attempt either succeeds, fails for good,
    counts towards `policy.retries` or grows `part`, which the server's file size bounds.
    """
    failures = 0
    while True:
        size_before = _size(download.part)
        try:
            return _transfer(download, policy, log)
        except _RETRYABLE_ERRORS as error:
            reached = _size(download.part)
            failures = 0 if reached > size_before else failures + 1
            if failures > policy.retries:
                raise DownloadError(
                    download.url,
                    download.dest,
                    f"gave up after {failures} attempts in a row without progress; last error: {error}",
                ) from error
            delay = policy.backoff * 2 ** max(failures - 1, 0)
            log.warning(
                "download of %s interrupted at byte %d (%s); retrying in %.3g s",
                download.url,
                reached,
                error,
                delay,
            )
            time.sleep(delay)


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _hexdigest(digest) -> str | None:
    return digest.hexdigest() if digest is not None else None


def _transfer(download: _Download, policy: RetryPolicy, log: logging.Logger) -> str | None:
    """One attempt: request the bytes `part` lacks, append them, return the SHA-256 of the whole.

    An interruption loses at most the chunk being read, so `policy.chunk_size` bounds the bytes
    fetched twice.
    """
    offset = _size(download.part)
    # Hash what is already there before asking, so the server does not wait on us and time out.
    digest = (_sha256_of(download.part) if offset else hashlib.sha256()) if download.want_digest else None
    # Compressed transfer would make byte counts and ranges refer to the encoded stream, not the file.
    headers = {"Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    with download.session.get(download.url, headers=headers, stream=True, timeout=policy.timeout) as response:
        plan = _write_plan(response, download, offset, log)
        if plan is None:
            return _hexdigest(digest)
        if plan.offset < offset:  # the server ignored the range: the bytes hashed so far are discarded
            digest = hashlib.sha256() if download.want_digest else None
        received = _append_body(response, download, plan, digest, policy.chunk_size)
    # requests normally raises on a short body already; this also covers servers that send no length.
    if plan.total is not None and plan.offset + received != plan.total:
        raise _Interrupted(f"connection closed after {plan.offset + received} of {plan.total} bytes")
    return _hexdigest(digest)


def _write_plan(
    response: requests.Response, download: _Download, offset: int, log: logging.Logger
) -> _WritePlan | None:
    """How to store the answer to a request for the bytes from `offset`; None when `part` is whole.

    Raises `_Interrupted` for a status a retry may cure and for an answer that does not fit `part`
    (deleting `part` where it cannot be resumed), `DownloadError` for any other status.
    """
    status = response.status_code
    if status >= 500 or status in _RETRYABLE_CLIENT_STATUSES:
        raise _Interrupted(f"HTTP {status} {response.reason}")
    if status == 416 and offset:
        _, total = _parse_content_range(response.headers.get("Content-Range"))
        if total is not None and total != offset:
            download.part.unlink()
            raise _Interrupted(
                f"partial file of {offset} bytes does not fit the remote file of {total} bytes"
            )
        log.info("%s already holds the whole file", download.part)
        return None
    if status == 206:
        start, total = _parse_content_range(response.headers.get("Content-Range"))
        if start != offset:
            download.part.unlink()
            raise _Interrupted(f"server sent bytes from {start} when asked for bytes from {offset}")
        return _WritePlan("ab", offset, _expected_total(response, offset, total))
    if status == 200:
        if offset:
            log.info("server ignored the range request for %s; restarting from byte 0", download.url)
        return _WritePlan("wb", 0, _expected_total(response, 0, None))
    raise DownloadError(
        download.url,
        download.dest,
        f"server answered HTTP {status} {response.reason}; not retried, as a client error does "
        f"not go away by itself: check the URL",
    )


def _expected_total(response: requests.Response, offset: int, total: int | None) -> int | None:
    """The file size once the body is in: `total` if the server named it, else from Content-Length."""
    length = response.headers.get("Content-Length", "")
    if total is None and length.isdigit():
        return offset + int(length)
    return total


def _append_body(
    response: requests.Response, download: _Download, plan: _WritePlan, digest, chunk_size: int
) -> int:
    """Write the body of `response` into `part` as `plan` says, feeding `digest`; the bytes received."""
    received = 0
    with (
        open(download.part, plan.mode) as handle,
        _byte_progress(download.dest.name, plan.total, plan.offset) as bar,
    ):
        for chunk in response.iter_content(chunk_size):
            handle.write(chunk)
            if digest is not None:
                digest.update(chunk)
            received += len(chunk)
            bar.update(len(chunk))
    return received


def _parse_content_range(value: str | None) -> tuple[int | None, int | None]:
    """`(first byte, total size)` of a `Content-Range: bytes a-b/n` header; None for `*` or absence."""
    match = _CONTENT_RANGE.fullmatch(value.strip()) if value else None
    if match is None:
        return None, None
    first, total = match.groups()
    return (int(first) if first is not None else None, int(total) if total != "*" else None)
