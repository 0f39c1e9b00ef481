"""The cohort fingerprint prepare records in place of the folder's timestamp (diffseg.data.contents)."""

import os
import shutil

from diffseg.data.contents import contents_fingerprint


def _cohort(folder):
    (folder / "images").mkdir(parents=True)
    (folder / "images" / "a.jpg").write_bytes(b"x" * 10)
    (folder / "images" / "b.jpg").write_bytes(b"y" * 20)
    (folder / "labels.csv").write_text("id,label\na,1\nb,0\n")
    return folder / "images", folder / "labels.csv"


def test_a_copy_with_new_timestamps_has_the_same_fingerprint(tmp_path):
    images, labels = _cohort(tmp_path / "cohort")
    before = contents_fingerprint(images, labels)
    copy = shutil.copytree(tmp_path / "cohort", tmp_path / "copy")  # new timestamps, as on a remount
    os.utime(copy / "images", (0, 0))
    assert contents_fingerprint(copy / "images", copy / "labels.csv") == before
    assert before.startswith("3 files, 47 bytes, sha256:")


def test_an_added_removed_renamed_or_resized_image_or_an_edited_table_changes_it(tmp_path):
    images, labels = _cohort(tmp_path / "cohort")
    seen = {contents_fingerprint(images, labels)}
    (images / "c.jpg").write_bytes(b"z")
    seen.add(contents_fingerprint(images, labels))
    (images / "c.jpg").rename(images / "d.jpg")
    seen.add(contents_fingerprint(images, labels))
    (images / "d.jpg").write_bytes(b"zz")
    seen.add(contents_fingerprint(images, labels))
    (images / "d.jpg").unlink()
    labels.write_text("id,label\na,0\nb,1\n")  # same size, other labels
    seen.add(contents_fingerprint(images, labels))
    assert len(seen) == 5


def test_writers_temporaries_unset_and_missing_paths_do_not_fail_it(tmp_path):
    images, labels = _cohort(tmp_path / "cohort")
    before = contents_fingerprint(images, None, "")
    (images / ".b.jpg.host~1.tmp").write_bytes(b"partial")
    assert contents_fingerprint(images) == before
    assert contents_fingerprint(images, tmp_path / "absent") != before
    assert contents_fingerprint(tmp_path / "absent").startswith("0 files")
