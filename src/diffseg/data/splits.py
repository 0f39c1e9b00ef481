"""Official splits from a dataset's manifest, and a development split carved from the training images.

A benchmark trains on a dataset's official training split and reports on its official test (or
validation) split, and chooses nothing on the latter: every setting that is chosen (the best noise
step, …) is chosen on a development split, images taken out of the training split (`dev`).

Development images train neither the DDPM nor the U-Net: they stand for the test images, which
neither model has seen, so a choice that works on them transfers to the test split. Images of one
group (a lesion photographed several times, as in HAM10000) stay together: a whole group is in the
training, the development or the test split, never in two.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from diffseg.data.cohort import read_text_csv, split_hash
from diffseg.runtime.errors import BadInputError, ConfigError

log = logging.getLogger("diffseg")

DEV_SPLIT = "dev"


def has_development_images(manifest: pd.DataFrame) -> bool:
    """Whether a prepared store's manifest holds development images that can be scored: lesion
    images with a mask, on which settings can be chosen."""
    scorable = manifest["split"].eq(DEV_SPLIT) & manifest["label"].eq(1) & manifest["has_mask"]
    return bool(scorable.any())


def official_splits(
    cohort: pd.DataFrame,
    csv: str | os.PathLike,
    *,
    column: str,
    train: str | Iterable[str],
    test: str | Iterable[str],
    id_column: str,
    group: str | None,
    keep: Iterable[str],
) -> pd.DataFrame:
    """A copy of `cohort` whose splits come from the CSV `csv`: an image is `train` when its value
    in `column` is one of `train`, `test` when it is one of `test`; images with any other value are
    left out of the cohort. The columns `keep` (such as `img_kind`) and `group` are copied into the
    cohort, so that scores can be split by them and the development split grouped.

    Every image of the cohort needs a row (matched on `id_column`); rows naming images that are not
    in the folder are only logged (a folder may hold part of a dataset). A group in both the
    training and the test split is an error: the test images would not be unseen.
    """
    csv = Path(csv)
    table = _read_split_table(csv, id_column, [column, *([group] if group else []), *keep])
    train, test = _values(train), _values(test)
    if set(train) & set(test):
        raise BadInputError(csv, f"values {sorted(set(train) & set(test))} of {column!r} are mapped to both train and test")
    unnamed = sorted(set(cohort["id"]) - set(table.index))
    if unnamed:
        raise BadInputError(csv, f"has no row for {len(unnamed)} image(s) of the folder: {_shown(unnamed)}")
    extra = len(set(table.index) - set(cohort["id"]))
    if extra:
        log.info("%s: %d rows name images that are not in the folder; ignored", csv, extra)
    if (cohort["split"].fillna("").astype(str) != "").any():
        raise BadInputError(csv, "the labels CSV gives splits too: give them in one place")
    rows = table.loc[cohort["id"]]
    cohort = cohort.copy()
    split = np.select([rows[column].isin(train), rows[column].isin(test)], ["train", "test"], "")
    for name in dict.fromkeys([*([group] if group else []), *keep]):
        cohort[name] = rows[name].to_numpy()
    cohort["split"] = split
    left_out = rows.loc[split == "", column].value_counts().to_dict()
    if left_out:
        log.info("%s: images left out by their %r value: %s", csv, column, left_out)
    cohort = cohort[split != ""].reset_index(drop=True)
    if group:
        _check_groups_in_one_split(cohort, group, csv)
    log.info("%s: splits from %r: %s", csv, column, cohort["split"].value_counts().to_dict())
    return cohort


def carve_dev_split(
    cohort: pd.DataFrame, dev_fraction: float, seed: int, group: str | None, stratify: str | None = None
) -> pd.DataFrame:
    """A copy of `cohort` in which about `dev_fraction` of the training groups (images by `group`,
    else each image alone) form the development split `dev`.

    Groups with at least one training lesion image with a mask can be drawn (development images are
    scored); a drawn group moves whole. Rule, as the hash split of `diffseg.data.cohort.assign_splits`:
    a group is drawn when `split_hash(seed, "dev:" + group) < its stratum's fraction`, so adding images
    never moves others; only so that both sides are usable, at least one group is drawn and one left.

    Without `stratify` every group's fraction is `dev_fraction`. With a column `stratify` (such as
    ISIC 2017's `img_kind`), the development split holds the column's values in the shares the test
    split's scorable images hold them, so that settings are chosen on images like those they are
    tested on: a value's fraction is its test share × `dev_fraction` × the candidates / its candidates
    (at most 0.9, so a value keeps training images), and 0 for a value the test split lacks.
    """
    if not 0 <= dev_fraction < 1:
        raise ConfigError(f"dataset.dev_fraction must be in [0, 1), got {dev_fraction}")
    cohort = cohort.copy()
    if dev_fraction == 0:
        return cohort
    groups = (cohort[group] if group else cohort["id"]).astype(str)
    training = cohort["split"].eq("train")
    scorable = cohort["label"].eq(1) & cohort["mask_path"].fillna("").astype(str).ne("")
    candidates = sorted(set(groups[training & scorable]))
    if len(candidates) < 2:
        raise ConfigError(
            f"dataset.dev_fraction: {len(candidates)} training group(s) with masks, too few to carve a development split"
        )
    hashes = np.array([split_hash(seed, f"dev:{name}") for name in candidates])
    fractions = np.full(len(candidates), dev_fraction)
    if stratify:
        fractions = _stratum_fractions(cohort, groups, candidates, training, scorable, dev_fraction, stratify)
    drawn = hashes < fractions
    if not drawn.any():
        drawn[np.argmin(hashes / np.maximum(fractions, 1e-12))] = True
    if drawn.all():
        drawn[np.argmax(hashes)] = False
    dev = training & groups.isin(np.asarray(candidates)[drawn])
    cohort.loc[dev, "split"] = DEV_SPLIT
    log.info("development split: %d images of %d groups (of %d training images)", dev.sum(), drawn.sum(), training.sum())
    if stratify:
        log.info("development split by %s: %s; test split: %s", stratify,
                 cohort.loc[dev, stratify].value_counts().to_dict(),
                 cohort.loc[cohort["split"].eq("test") & scorable, stratify].value_counts().to_dict())
    return cohort


# A stratum gives at most this share of its training groups to the development split.
MAX_STRATUM_FRACTION = 0.9


def _stratum_fractions(cohort, groups, candidates, training, scorable, dev_fraction, stratify) -> np.ndarray:
    """Each candidate group's drawing fraction under `carve_dev_split`'s stratified rule."""
    if stratify not in cohort:
        raise ConfigError(
            f"dataset.dev_stratify names the column {stratify!r}, which the cohort lacks: add it to "
            "dataset.folder.splits.keep"
        )
    test = cohort["split"].eq("test") & scorable
    if not test.any():
        raise ConfigError("dataset.dev_stratify: the test split has no scorable image whose mix to follow")
    test_share = cohort.loc[test, stratify].astype(str).value_counts(normalize=True)
    # A group's stratum: its first training image's value (a lesion's images share their kind).
    stratum = cohort[training].assign(_group=groups[training]).groupby("_group")[stratify].first().astype(str)
    strata = stratum.loc[candidates]
    counts = strata.value_counts()
    wanted = dev_fraction * len(candidates)
    per_stratum = {value: min(MAX_STRATUM_FRACTION, test_share.get(value, 0.0) * wanted / count)
                   for value, count in counts.items()}
    return strata.map(per_stratum).to_numpy(dtype=float)


def held_out_cohort(cohort: pd.DataFrame, split: str) -> pd.DataFrame:
    """The scorable images of `split` (lesion images with a mask), relabelled `test`: the cohort of a
    results root that evaluates them with the main run's models."""
    chosen = cohort["split"].eq(split) & cohort["label"].eq(1) & cohort["mask_path"].fillna("").astype(str).ne("")
    if not chosen.any():
        raise ConfigError(f"the {split!r} split has no lesion image with a mask to evaluate")
    return cohort[chosen].assign(split="test").reset_index(drop=True)


def _read_split_table(csv: Path, id_column: str, columns: list[str]) -> pd.DataFrame:
    table = read_text_csv(csv, "splits CSV")
    missing = [name for name in dict.fromkeys([id_column, *columns]) if name not in table.columns]
    if missing:
        raise BadInputError(csv, f"lacks column(s) {', '.join(missing)}; has {', '.join(table.columns)}")
    table[id_column] = table[id_column].str.strip()
    duplicated = sorted(set(table.loc[table[id_column].duplicated(), id_column]))
    if duplicated:
        raise BadInputError(csv, f"ids listed more than once: {_shown(duplicated)}")
    return table.set_index(id_column)


def _check_groups_in_one_split(cohort: pd.DataFrame, group: str, csv: Path) -> None:
    splits_per_group = cohort.groupby(group)["split"].nunique()
    shared = sorted(splits_per_group[splits_per_group > 1].index.astype(str))
    if shared:
        raise BadInputError(csv, f"{len(shared)} {group} group(s) in both train and test: {_shown(shared)}")


def _values(values: str | Iterable[str]) -> list[str]:
    return [values] if isinstance(values, str) else [str(value) for value in values]


def _shown(names: list[str]) -> str:
    return ", ".join(names[:5]) + (", …" if len(names) > 5 else "")
