"""Download of the ISIC 2018 Task 1 archives and assembly of their folder cohort.

The archives are large (the training images alone are about 10 GB) and the server is far away, so a
download must survive dropped connections: it resumes from the partial file with an HTTP range
request instead of starting over, and nothing reaches its final name before its SHA-256 matches the
official checksum. Verified archives are never touched again, so re-running the stage costs no
traffic and, thanks to a small marker file, no re-hashing either.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import time
import zipfile
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import MappingProxyType

import pandas as pd
import requests

from diffseg.runtime.atomic import atomic_dir, write_text
from diffseg.runtime.errors import BadInputError, ConfigError, DiffSegError
from diffseg.runtime.logs import progress

_log = logging.getLogger(__name__)

ISIC2018_BASE_URL = "https://isic-challenge-data.s3.amazonaws.com/2018/"

# Name of the file marking an extraction as complete.
COMPLETE_MARKER = ".complete"

# HTTP statuses worth retrying: server-side trouble and the two client statuses that only say "later".
_RETRYABLE_CLIENT_STATUSES = frozenset({408, 429})

_CONTENT_RANGE = re.compile(r"bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)")
_IMAGE_NAME = re.compile(r"(ISIC_\d+)\.jpg")
_MASK_NAME = re.compile(r"(ISIC_\d+)_segmentation\.png")


@dataclass(frozen=True)
class Isic2018Archive:
    """One official ISIC 2018 Task 1 archive: its file name, checksum, split and content."""

    name: str
    sha256: str
    split: str
    content: str  # "images" (dermoscopy JPEGs) or "masks" (ground-truth PNGs)

    @property
    def folder(self) -> str:
        """The top folder inside the zip, named like the archive."""
        return self.name.removesuffix(".zip")


ISIC2018_ARCHIVES: tuple[Isic2018Archive, ...] = (
    Isic2018Archive(
        "ISIC2018_Task1-2_Training_Input.zip",
        "80f98572347a2d7a376227fa9eb2e4f7459d317cb619865b8b9910c81446675f",
        "train",
        "images",
    ),
    Isic2018Archive(
        "ISIC2018_Task1_Training_GroundTruth.zip",
        "99f8b2bb3c4d6af483362010715f7e7d5d122d9f6c02cac0e0d15bef77c7604c",
        "train",
        "masks",
    ),
    Isic2018Archive(
        "ISIC2018_Task1-2_Validation_Input.zip",
        "0ea920fcfe512d12a6e620b50b50233c059f67b10146e1479c82be58ff15a797",
        "val",
        "images",
    ),
    Isic2018Archive(
        "ISIC2018_Task1_Validation_GroundTruth.zip",
        "f6911e9c0a64e6d687dd3ca466ca927dd5e82145cb2163b7a1e5b37d7a716285",
        "val",
        "masks",
    ),
    Isic2018Archive(
        "ISIC2018_Task1-2_Test_Input.zip",
        "e59ae1f69f4ed16f09db2cb1d76c2a828487b63d28f6ab85997f5616869b127d",
        "test",
        "images",
    ),
    Isic2018Archive(
        "ISIC2018_Task1_Test_GroundTruth.zip",
        "2e8f6edce454a5bdee52485e39f92bd6eddf357e81f39018d05512175238ef82",
        "test",
        "masks",
    ),
)

# Official image counts of the ISIC 2018 Task 1 splits.
ISIC2018_SPLIT_SIZES: Mapping[str, int] = MappingProxyType({"train": 2594, "val": 100, "test": 1000})


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


def download_file(
    url: str,
    dest: str | os.PathLike,
    sha256: str | None = None,
    retries: int = 5,
    timeout: float = 60,
    backoff: float = 1.0,
    chunk_size: int = 1 << 20,
    session: requests.Session | None = None,
    log: logging.Logger = _log,
) -> Path:
    """Download `url` to `dest`, resuming after interruptions, and verify its SHA-256.

    The bytes go to `<dest>.part`; an interrupted transfer (dropped connection, timeout, HTTP 5xx)
    is retried after `backoff · 2^k` seconds, asking only for the missing bytes with a `Range`
    header; it gives up after `retries` retries in a row that brought no new bytes. `.part` is renamed onto `dest` only once its checksum matches, and
    a `<dest>.verified` marker (size, mtime, checksum) lets later runs skip both the request and the
    re-hashing. A checksum mismatch deletes `.part` (it cannot be resumed into a good file) and
    raises `DownloadError`; so does a client error (HTTP 4xx), at once, as retrying cannot cure it.
    Without `sha256` nothing is verified and an existing `dest` is trusted as it is.
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
        digest = _transfer_with_retries(
            session, url, dest, part, expected is not None, retries, timeout, backoff, chunk_size, log
        )
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


def extract_zip(archive: str | os.PathLike, dest_dir: str | os.PathLike, log: logging.Logger = _log) -> Path:
    """Extract `archive` into `dest_dir` atomically; skip it when `dest_dir` is already complete.

    Members are written into a temporary folder beside `dest_dir`, which is renamed onto it once
    every member is out and a `.complete` marker is written, so a killed extraction never passes
    for a finished one. A leftover `dest_dir` without the marker is replaced. Members that would
    land outside `dest_dir` (absolute paths, `..`) make the whole archive refused before anything
    is written.
    """
    archive = Path(archive)
    dest_dir = Path(dest_dir)
    if (dest_dir / COMPLETE_MARKER).exists():
        log.info("%s is already extracted into %s; extraction skipped", archive.name, dest_dir)
        return dest_dir

    dest_dir.parent.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            for member in members:
                _check_member_path(archive, member.filename)
            with atomic_dir(dest_dir) as tmp:
                for member in progress(members, desc=f"extract {archive.name}", unit="file"):
                    zf.extract(member, tmp)
                write_text(tmp / COMPLETE_MARKER, f"{archive.name}\n")
    except zipfile.BadZipFile as error:
        raise BadInputError(archive, f"not a readable zip archive ({error})") from error
    log.info("extracted %d members of %s into %s", len(members), archive.name, dest_dir)
    return dest_dir


def fetch_isic2018(
    dest_root: str | os.PathLike,
    base_url: str = ISIC2018_BASE_URL,
    splits: Iterable[str] = ("train", "val", "test"),
    log: logging.Logger = _log,
    checksums: Mapping[str, str | None] | None = None,
    expected_counts: Mapping[str, int] | None = ISIC2018_SPLIT_SIZES,
    retries: int = 5,
    timeout: float = 60,
    backoff: float = 1.0,
    session: requests.Session | None = None,
) -> pd.DataFrame:
    """Download, verify and extract ISIC 2018 Task 1 and assemble it as a folder cohort.

    Layout under `dest_root`: `archives/<zip>` (verified downloads), `extracted/<zip stem>/` and
    `cohort/` with `images/<id>.jpg`, `masks/<id>_segmentation.png` (hard links into the
    extraction, copies where the file system has none) and `labels.csv` (`id,label,split`, every
    image a lesion, label 1). Returns the cohort table: `id, image_path, mask_path, label, split`.

    `base_url` may point at a mirror; `checksums` (archive name → SHA-256, or None to skip the
    check) replaces the official table, e.g. for archives of one's own. `expected_counts` (split →
    number of images) guards against an incomplete archive; None disables the check.
    """
    dest_root = Path(dest_root)
    splits = tuple(splits)
    unknown = sorted(set(splits) - set(ISIC2018_SPLIT_SIZES))
    if unknown:
        raise ConfigError(
            f"splits: unknown ISIC 2018 split(s) {unknown}; choose from {list(ISIC2018_SPLIT_SIZES)}"
        )
    if checksums is None:
        checksums = {archive.name: archive.sha256 for archive in ISIC2018_ARCHIVES}

    own_session = session is None
    session = requests.Session() if own_session else session
    extracted: dict[Isic2018Archive, Path] = {}
    try:
        for archive in ISIC2018_ARCHIVES:
            if archive.split not in splits:
                continue
            if archive.name not in checksums:
                raise ConfigError(f"checksums: no entry for {archive.name}")
            path = download_file(
                base_url.rstrip("/") + "/" + archive.name,
                dest_root / "archives" / archive.name,
                sha256=checksums[archive.name],
                retries=retries,
                timeout=timeout,
                backoff=backoff,
                session=session,
                log=log,
            )
            extracted[archive] = extract_zip(path, dest_root / "extracted" / archive.folder, log=log)
    finally:
        if own_session:
            session.close()

    by_role = {(archive.split, archive.content): archive for archive in extracted}
    pairs: list[tuple[str, str, Path, Path]] = []  # (id, split, image, mask)
    for split in splits:
        images_archive, masks_archive = by_role[split, "images"], by_role[split, "masks"]
        images = _find_members(extracted[images_archive], _IMAGE_NAME, images_archive)
        masks = _find_members(extracted[masks_archive], _MASK_NAME, masks_archive)
        if images.keys() != masks.keys():
            raise BadInputError(
                extracted[masks_archive],
                f"images and masks of split {split!r} do not pair up: "
                f"{_describe_unpaired(images.keys() - masks.keys())} without a mask, "
                f"{_describe_unpaired(masks.keys() - images.keys())} without an image",
            )
        if expected_counts is not None and split in expected_counts and len(images) != expected_counts[split]:
            raise BadInputError(
                extracted[images_archive],
                f"holds {len(images)} images, the {split!r} split has {expected_counts[split]}",
            )
        pairs.extend((image_id, split, images[image_id], masks[image_id]) for image_id in sorted(images))
        log.info("split %s: %d image/mask pairs", split, len(images))

    duplicates = sorted(image_id for image_id, n in Counter(i for i, *_ in pairs).items() if n > 1)
    if duplicates:
        raise BadInputError(dest_root / "extracted", f"image ids in more than one split: {duplicates[:5]}")
    return _assemble_cohort(pairs, dest_root / "cohort", log)


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


def _sha256_of(path: Path, chunk_size: int = 1 << 20):
    """SHA-256 of a file's content, as a hash object so a resumed download can keep feeding it."""
    digest = hashlib.sha256()
    with (
        open(path, "rb") as handle,
        progress(
            None,
            desc=f"sha256 {path.name}",
            total=path.stat().st_size,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
        ) as bar,
    ):
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
            bar.update(len(chunk))
    return digest


def _transfer_with_retries(
    session: requests.Session,
    url: str,
    dest: Path,
    part: Path,
    want_digest: bool,
    retries: int,
    timeout: float,
    backoff: float,
    chunk_size: int,
    log: logging.Logger,
) -> str | None:
    """Bring `part` to the full remote file and return its SHA-256 (None unless `want_digest`).

    `retries` bounds the failed attempts in a row that brought no new bytes: an attempt that
    extended `part` resets the count, because a 10 GB download over a flaky link may be cut many
    times and still finish. The loop ends because every attempt either succeeds, fails for good,
    counts towards `retries` or grows `part`, which the server's file size bounds.
    """
    failures = 0
    while True:
        size_before = _size(part)
        try:
            return _transfer(session, url, dest, part, want_digest, timeout, chunk_size, log)
        except _RETRYABLE_ERRORS as error:
            reached = _size(part)
            failures = 0 if reached > size_before else failures + 1
            if failures > retries:
                raise DownloadError(
                    url,
                    dest,
                    f"gave up after {failures} attempts in a row without progress; last error: {error}",
                ) from error
            delay = backoff * 2 ** max(failures - 1, 0)
            log.warning(
                "download of %s interrupted at byte %d (%s); retrying in %.3g s", url, reached, error, delay
            )
            time.sleep(delay)


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _transfer(
    session: requests.Session,
    url: str,
    dest: Path,
    part: Path,
    want_digest: bool,
    timeout: float,
    chunk_size: int,
    log: logging.Logger,
) -> str | None:
    """One attempt: request the bytes `part` lacks, append them, return the SHA-256 of the whole.

    An interruption loses at most the chunk being read, so `chunk_size` bounds the bytes fetched twice.
    """
    offset = _size(part)
    # Hash what is already there before asking, so the server does not wait on us and time out.
    digest = (_sha256_of(part) if offset else hashlib.sha256()) if want_digest else None
    # Compressed transfer would make byte counts and ranges refer to the encoded stream, not the file.
    headers = {"Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    with session.get(url, headers=headers, stream=True, timeout=timeout) as response:
        status = response.status_code
        if status >= 500 or status in _RETRYABLE_CLIENT_STATUSES:
            raise _Interrupted(f"HTTP {status} {response.reason}")
        if status == 416 and offset:
            _, total = _parse_content_range(response.headers.get("Content-Range"))
            if total is not None and total != offset:
                part.unlink()
                raise _Interrupted(
                    f"partial file of {offset} bytes does not fit the remote file of {total} bytes"
                )
            log.info("%s already holds the whole file", part)
            return digest.hexdigest() if digest is not None else None
        if status == 206:
            start, total = _parse_content_range(response.headers.get("Content-Range"))
            if start != offset:
                part.unlink()
                raise _Interrupted(f"server sent bytes from {start} when asked for bytes from {offset}")
            mode = "ab"
        elif status == 200:
            if offset:
                log.info("server ignored the range request for %s; restarting from byte 0", url)
                offset = 0
                digest = hashlib.sha256() if want_digest else None
            mode = "wb"
            total = None
        else:
            raise DownloadError(
                url,
                dest,
                f"server answered HTTP {status} {response.reason}; not retried, as a client error does "
                f"not go away by itself: check the URL",
            )
        length = response.headers.get("Content-Length", "")
        body_size = int(length) if length.isdigit() else None
        if total is None and body_size is not None:
            total = offset + body_size

        received = 0
        with (
            open(part, mode) as handle,
            progress(
                None,
                desc=dest.name,
                total=total,
                initial=offset,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
            ) as bar,
        ):
            for chunk in response.iter_content(chunk_size):
                handle.write(chunk)
                if digest is not None:
                    digest.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    # requests normally raises on a short body already; this also covers servers that send no length.
    if total is not None and offset + received != total:
        raise _Interrupted(f"connection closed after {offset + received} of {total} bytes")
    return digest.hexdigest() if digest is not None else None


def _parse_content_range(value: str | None) -> tuple[int | None, int | None]:
    """`(first byte, total size)` of a `Content-Range: bytes a-b/n` header; None for `*` or absence."""
    match = _CONTENT_RANGE.fullmatch(value.strip()) if value else None
    if match is None:
        return None, None
    first, total = match.groups()
    return (int(first) if first is not None else None, int(total) if total != "*" else None)


def _check_member_path(archive: Path, name: str) -> None:
    """Refuse a zip member that would be written outside the extraction folder."""
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or re.match(r"[A-Za-z]:", name):
        raise BadInputError(
            archive, f"member {name!r} would be written outside the extraction folder; refused"
        )


def _find_members(folder: Path, pattern: re.Pattern, archive: Isic2018Archive) -> dict[str, Path]:
    """Files of an extracted archive whose name fits `pattern`, by ISIC id; other files are ignored."""
    found: dict[str, Path] = {}
    for path in sorted(folder.rglob("*")):
        match = pattern.fullmatch(path.name)
        # macOS zips carry `__MACOSX/` resource forks named like the real files.
        if match is None or "__MACOSX" in path.relative_to(folder).parts or not path.is_file():
            continue
        image_id = match.group(1)
        if image_id in found:
            raise BadInputError(
                folder, f"{archive.name} holds {image_id} twice: {found[image_id]} and {path}"
            )
        found[image_id] = path
    return found


def _describe_unpaired(ids: set[str]) -> str:
    listed = ", ".join(sorted(ids)[:5])
    return f"{len(ids)} ({listed}{', …' if len(ids) > 5 else ''})" if ids else "none"


def _link_or_copy(source: Path, target: Path) -> None:
    """Hard-link `source` to `target` (no extra disk space); copy where the file system refuses links."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _assemble_cohort(
    pairs: list[tuple[str, str, Path, Path]], cohort_dir: Path, log: logging.Logger
) -> pd.DataFrame:
    """Build the folder cohort in a temporary folder and rename it onto `cohort_dir`.

    Rebuilding on every run is cheap (links, not copies) and keeps the cohort exactly in step with
    the splits asked for.
    """
    rows = []
    with atomic_dir(cohort_dir) as tmp:
        (tmp / "images").mkdir()
        (tmp / "masks").mkdir()
        for image_id, split, image, mask in pairs:
            image_name, mask_name = f"{image_id}.jpg", f"{image_id}_segmentation.png"
            _link_or_copy(image, tmp / "images" / image_name)
            _link_or_copy(mask, tmp / "masks" / mask_name)
            rows.append(
                {
                    "id": image_id,
                    "image_path": str(cohort_dir / "images" / image_name),
                    "mask_path": str(cohort_dir / "masks" / mask_name),
                    "label": 1,
                    "split": split,
                }
            )
        table = pd.DataFrame(rows, columns=["id", "image_path", "mask_path", "label", "split"])
        table[["id", "label", "split"]].to_csv(tmp / "labels.csv", index=False)
    log.info("cohort of %d images written to %s", len(table), cohort_dir)
    return table
