"""Errors that name the file and the problem, so a user can fix their input."""

from __future__ import annotations

from pathlib import Path


class DiffSegError(Exception):
    """Base class of every error the pipeline raises on purpose."""


class BadInputError(DiffSegError):
    """An input file that cannot be used: the message names the file and what is wrong."""

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class ConfigError(DiffSegError):
    """A configuration value that cannot work, named by its key."""
