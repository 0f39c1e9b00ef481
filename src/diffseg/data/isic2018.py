"""The ISIC 2018 Task 1 dataset: its official archives, their extraction and the folder cohort.

The six official archives (images and ground-truth masks of the train, val and test splits) are
downloaded with `diffseg.data.http.download_file`, which resumes dropped transfers and checks each
archive against its official SHA-256. They are extracted atomically, so a killed run never leaves a
half extraction that passes for a whole one, and their images and masks are paired by ISIC id into
a folder cohort (`images/`, `masks/`, `labels.csv`) for the pipeline's `prepare` stage.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import zipfile
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import MappingProxyType

import pandas as pd
import requests

from diffseg.data.http import RetryPolicy, download_file
from diffseg.runtime.atomic import atomic_dir, write_text
from diffseg.runtime.errors import BadInputError, ConfigError
from diffseg.runtime.logs import progress

_log = logging.getLogger(__name__)

ISIC2018_BASE_URL = "https://isic-challenge-data.s3.amazonaws.com/2018/"

# Name of the file marking an extraction as complete.
COMPLETE_MARKER = ".complete"

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

# The downloads' default policy: frozen, so one instance can serve every call.
_DEFAULT_POLICY = RetryPolicy()

# One image of the cohort: (ISIC id, split, image file, mask file).
_Pair = tuple[str, str, Path, Path]


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
    policy: RetryPolicy = _DEFAULT_POLICY,
    session: requests.Session | None = None,
) -> pd.DataFrame:
    """Download, verify and extract ISIC 2018 Task 1 and assemble it as a folder cohort.

    Layout under `dest_root`: `archives/<zip>` (verified downloads), `extracted/<zip stem>/` and
    `cohort/` with `images/<id>.jpg`, `masks/<id>_segmentation.png` (hard links into the
    extraction, copies where the file system has none) and `labels.csv` (`id,label,split`, every
    image a lesion, label 1). Returns the cohort table: `id, image_path, mask_path, label, split`.

    `base_url` may point at a mirror; `checksums` (archive name → SHA-256, or None to skip the
    check) replaces the official table, e.g. for archives of one's own. `expected_counts` (split →
    number of images) guards against an incomplete archive; None disables the check. `policy` sets
    the retries, timeout, backoff and chunk size of each download.
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

    extracted = _fetch_archives(dest_root, base_url, splits, checksums, policy, session, log)
    pairs: list[_Pair] = []
    for split in splits:
        pairs.extend(_pair_split(split, extracted, expected_counts, log))

    duplicates = sorted(image_id for image_id, n in Counter(i for i, *_ in pairs).items() if n > 1)
    if duplicates:
        raise BadInputError(dest_root / "extracted", f"image ids in more than one split: {duplicates[:5]}")
    return _assemble_cohort(pairs, dest_root / "cohort", log)


def _fetch_archives(
    dest_root: Path,
    base_url: str,
    splits: tuple[str, ...],
    checksums: Mapping[str, str | None],
    policy: RetryPolicy,
    session: requests.Session | None,
    log: logging.Logger,
) -> dict[Isic2018Archive, Path]:
    """Download and extract the archives of `splits`, in the official order: archive → its folder."""
    own_session = session is None
    # One session for all archives, so its connection to the server is reused.
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
                policy=policy,
                session=session,
                log=log,
            )
            extracted[archive] = extract_zip(path, dest_root / "extracted" / archive.folder, log=log)
    finally:
        if own_session:
            session.close()
    return extracted


def _pair_split(
    split: str,
    extracted: Mapping[Isic2018Archive, Path],
    expected_counts: Mapping[str, int] | None,
    log: logging.Logger,
) -> list[_Pair]:
    """The image/mask pairs of one split, sorted by id; refused unless every image has its mask."""
    by_role = {(archive.split, archive.content): archive for archive in extracted}
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
    log.info("split %s: %d image/mask pairs", split, len(images))
    return [(image_id, split, images[image_id], masks[image_id]) for image_id in sorted(images)]


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


def _assemble_cohort(pairs: list[_Pair], cohort_dir: Path, log: logging.Logger) -> pd.DataFrame:
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
