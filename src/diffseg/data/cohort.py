"""The cohort table: which images a dataset holds, their masks, labels and splits.

A cohort is a pandas DataFrame with one row per image, sorted by id: `id` (str, unique),
`image_path` (str), `mask_path` (str, "" when the image has no mask), `label` (int: 1 lesion,
0 healthy) and `split` (str: `train`, `dev`, `val`, `test`, `predict`, or "" when not yet assigned;
`dev` is the development split that settings are chosen on, `diffseg.data.splits`).
Every dataset source ends as a folder cohort that `scan_folder` reads.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from diffseg.data.images import IMAGE_FORMATS_TEXT, is_image_file
from diffseg.runtime.errors import BadInputError, ConfigError

log = logging.getLogger("diffseg")

COHORT_COLUMNS = ["id", "image_path", "mask_path", "label", "split"]
SPLITS = ("train", "dev", "val", "test", "predict")
MASK_SUFFIX = "_segmentation"  # ISIC: the mask of `<id>.jpg` is `<id>_segmentation.png`
LABEL_WORDS = {"lesion": 1, "healthy": 0}
# Without a labels CSV every image counts as a lesion image: ISIC images all show one, and a
# user's folder of dermoscopy images is a folder of lesions to segment.
DEFAULT_LABEL = 1


def existing_folder(folder: str | os.PathLike | None, key: str, how: str = "") -> str | os.PathLike:
    """`folder`, which the setting `key` names; a ConfigError when it is unset (saying `how` to set
    it) or not a folder."""
    if not folder:
        raise ConfigError(f"{key} is not set{how}")
    if not Path(folder).is_dir():
        raise ConfigError(f"{key}: {folder} is not a folder")
    return folder


def scan_folder(
    images_dir: str | os.PathLike,
    masks_dir: str | os.PathLike | None = None,
    labels_csv: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """The cohort table of a folder of images (jpg, png, tif, webp, any format Pillow reads; any
    letter case; images in formats Pillow cannot decode, such as HEIC, are listed to be reported).

    The id of an image is its file name without extension. Files named `<id>_segmentation.png` are
    masks, not images. The mask of `<id>` is `<id>_segmentation.png` or `<id>.png` in `masks_dir`;
    without `masks_dir`, `<id>_segmentation.png` in the images folder or in a `masks/` folder beside
    it. `labels_csv` has columns `id,label[,split]` (label 1/`lesion` or 0/`healthy`) and must
    name exactly the folder's images; without it every image has label 1 (lesion) and no split.
    Other files are ignored (and logged).
    """
    images_dir = _existing_dir(images_dir, "image folder")
    masks_dir = None if masks_dir is None else _existing_dir(masks_dir, "mask folder")
    images = _image_files(images_dir)
    masks = _mask_files(images_dir, masks_dir)
    ids = sorted(images)
    cohort = pd.DataFrame(
        {
            "id": ids,
            "image_path": [str(images[i]) for i in ids],
            "mask_path": [str(masks.get(i, "")) for i in ids],
            "label": DEFAULT_LABEL,
            "split": "",
        },
        columns=COHORT_COLUMNS,
    )
    if labels_csv is not None:
        cohort = _apply_labels(cohort, Path(labels_csv))
    log.info(
        "%s: %d images, %d with a mask, labels %s",
        images_dir,
        len(cohort),
        int((cohort["mask_path"] != "").sum()),
        cohort["label"].value_counts().to_dict(),
    )
    return cohort


def assign_splits(cohort: pd.DataFrame, test_fraction: float, seed: int) -> pd.DataFrame:
    """A copy of `cohort` whose empty splits are filled with `train` or `test`; set splits are kept.

    Rule: an image goes to `test` when `split_hash(seed, id) < test_fraction`. The hash depends on
    the image's id alone, so adding or removing other images never moves an image, and every label
    sends about `test_fraction` of its images to `test`. Only to keep both splits usable, a label
    with at least two images to assign, all of which fell on one side, sends the one with the
    smallest hash to `test` (or the largest to `train`); this can only happen in tiny cohorts.
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be between 0 and 1 (exclusive), got {test_fraction}")
    cohort = cohort.copy()
    unassigned = cohort["split"].fillna("").astype(str) == ""
    hashes = np.array([split_hash(seed, i) for i in cohort["id"]])
    test = hashes < test_fraction
    for label in cohort.loc[unassigned, "label"].unique():
        rows = np.flatnonzero(unassigned.to_numpy() & (cohort["label"] == label).to_numpy())
        if len(rows) >= 2 and test[rows].all():
            test[rows[np.argmax(hashes[rows])]] = False
        elif len(rows) >= 2 and not test[rows].any():
            test[rows[np.argmin(hashes[rows])]] = True
    cohort.loc[unassigned, "split"] = np.where(test[unassigned.to_numpy()], "test", "train")
    return cohort


def split_hash(seed: int, image_id: str) -> float:
    """A number in [0, 1) fixed by `(seed, image_id)`, the same on every machine and Python run."""
    digest = hashlib.sha256(f"{seed}\x00{image_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _existing_dir(folder: str | os.PathLike, what: str) -> Path:
    folder = Path(folder)
    if not folder.is_dir():
        raise BadInputError(folder, f"{what} does not exist or is not a folder")
    return folder


def _image_files(images_dir: Path) -> dict[str, Path]:
    """Images of the folder by id; masks lying among them are left out."""
    images: dict[str, Path] = {}
    ignored = []
    for path in sorted(images_dir.iterdir()):
        if not is_image_file(path):
            ignored.append(path.name)
        elif not path.stem.endswith(MASK_SUFFIX):
            if path.stem in images:
                raise BadInputError(
                    images_dir,
                    f"two images share the id {path.stem!r}: {images[path.stem].name} and {path.name}",
                )
            images[path.stem] = path
    if ignored:
        shown = ", ".join(ignored[:10]) + (", …" if len(ignored) > 10 else "")
        log.info("%s: ignored %d entries that are not images: %s", images_dir, len(ignored), shown)
    if not images:
        raise BadInputError(images_dir, f"no images found (looked for {IMAGE_FORMATS_TEXT})")
    return images


def _mask_files(images_dir: Path, masks_dir: Path | None) -> dict[str, Path]:
    """Masks by image id; earlier places win: the mask folder, the images folder, a `masks/` beside it."""
    if masks_dir is not None:
        folders = [(masks_dir, True)]
    else:
        folders = [(images_dir, False), (images_dir.parent / "masks", True)]
    masks: dict[str, Path] = {}
    plain: dict[str, Path] = {}  # `<id>.png`: a mask only where no `<id>_segmentation.png` exists
    for folder, plain_names_allowed in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if not (path.is_file() and path.suffix.lower() == ".png"):
                continue
            if path.stem.endswith(MASK_SUFFIX):
                masks.setdefault(path.stem[: -len(MASK_SUFFIX)], path)
            elif plain_names_allowed:
                plain.setdefault(path.stem, path)
    return plain | masks


def _apply_labels(cohort: pd.DataFrame, labels_csv: Path) -> pd.DataFrame:
    """Labels (and splits, when given) from a CSV naming exactly the cohort's images."""
    table = _read_labels(labels_csv)
    in_csv, in_folder = set(table["id"]), set(cohort["id"])
    for missing, where in (
        (in_folder - in_csv, "has no row for"),
        (in_csv - in_folder, "names missing images"),
    ):
        if missing:
            shown = ", ".join(sorted(missing)[:5]) + (", …" if len(missing) > 5 else "")
            raise BadInputError(labels_csv, f"{where} {len(missing)} image(s): {shown}")
    table = table.set_index("id").loc[cohort["id"]]
    cohort["label"] = table["label"].to_numpy()
    if "split" in table:
        cohort["split"] = table["split"].to_numpy()
    return cohort


def read_text_csv(path: Path, what: str) -> pd.DataFrame:
    """Every cell of the CSV at `path` as a string, empty cells as ""; a `BadInputError` names the
    file (`what`: e.g. "labels CSV") when it is missing or unreadable."""
    if not path.is_file():
        raise BadInputError(path, f"{what} does not exist")
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise BadInputError(path, f"not a readable CSV: {exc}") from None


def _read_labels(labels_csv: Path) -> pd.DataFrame:
    table = read_text_csv(labels_csv, "labels CSV")
    table.columns = [c.strip().lower() for c in table.columns]
    if not {"id", "label"} <= set(table.columns):
        raise BadInputError(labels_csv, f"needs columns id,label[,split]; has {', '.join(table.columns)}")
    table["id"] = table["id"].str.strip()
    duplicated = sorted(set(table.loc[table["id"].duplicated(), "id"]))
    if duplicated:
        raise BadInputError(labels_csv, f"ids listed more than once: {', '.join(duplicated[:5])}")
    table["label"] = [_parse_label(value, labels_csv) for value in table["label"]]
    if "split" in table:
        table["split"] = table["split"].str.strip().str.lower()
        unknown = sorted(set(table["split"]) - set(SPLITS) - {""})
        if unknown:
            raise BadInputError(
                labels_csv, f"unknown split(s) {unknown}; use {', '.join(SPLITS)} or leave empty"
            )
    return table[[c for c in ("id", "label", "split") if c in table]]


def _parse_label(value: str, labels_csv: Path) -> int:
    value = value.strip().lower()
    if value in LABEL_WORDS:
        return LABEL_WORDS[value]
    if value in ("0", "1"):
        return int(value)
    raise BadInputError(labels_csv, f"label {value!r} is neither 1/lesion nor 0/healthy")
