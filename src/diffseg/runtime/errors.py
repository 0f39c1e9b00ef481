"""Errors that name the file and the problem, so a user can fix their input."""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

# Reasons a write fails that the user, not the code, must fix: a full disk or quota, permissions, a
# read-only mount, a file where a folder should be.
STORAGE_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EEXIST}
)
# Writes that fail only because space ran out; any of them is a failed write, whatever file it names.
SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})
# Libraries that report the operating system's error only inside their message: HDF5 ("errno = 28")
# and Rust ones such as safetensors ("os error 28").
_ERRNO_IN_MESSAGE = re.compile(r"errno = (\d+)|os error (\d+)")


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


def require_positive_integers(section: str, settings: object, names: tuple[str, ...]) -> None:
    """Raise ConfigError naming `<section>.<name>` for the first of `settings`' fields `names` that is
    not a whole number ≥ 1 (a step count, a batch size)."""
    for name in names:
        value = getattr(settings, name)
        if int(value) < 1:
            raise ConfigError(f"{section}.{name} must be a positive integer, got {value!r}")


class OutputError(DiffSegError):
    """An output that cannot be written (disk full, no permission, read-only): names the file and the cause."""

    def __init__(self, path: str | Path, cause: str):
        self.path = str(path)
        self.cause = cause
        super().__init__(f"cannot write {self.path}: {cause}")


def os_errno(error: BaseException) -> int | None:
    """The operating system's error number behind `error`, also where HDF5 only puts it in the message."""
    number = getattr(error, "errno", None)
    if number is None:
        found = _ERRNO_IN_MESSAGE.search(str(error))
        number = int(found.group(1) or found.group(2)) if found else None
    return number


def storage_cause(error: BaseException) -> str | None:
    """"no space left on device", "permission denied", ...: why a write failed, or None for other errors."""
    number = os_errno(error)
    if number not in STORAGE_ERRNOS:
        return None
    cause = os.strerror(number).lower()
    filename = getattr(error, "filename", None)
    return f"{cause} ({filename})" if number in (errno.ENOTDIR, errno.EEXIST) and filename else cause
