"""Under CI a missing real-data sample fails the tests that need it; elsewhere it skips them."""

from __future__ import annotations

import pytest

from conftest import require_sample


def test_missing_sample_fails_under_ci(tmp_path, monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run the real-data tests"):
        require_sample(tmp_path / "absent")


def test_missing_sample_skips_outside_ci(tmp_path, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="not at"):
        require_sample(tmp_path / "absent")


def test_sample_with_images_and_masks_is_returned(tmp_path, monkeypatch):
    monkeypatch.setenv("CI", "true")
    for folder in ("images", "masks"):
        (tmp_path / folder).mkdir()
    assert require_sample(tmp_path) == tmp_path
