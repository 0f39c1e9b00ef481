"""Atomic output: write to a temporary name beside the target, rename when complete.

A run killed mid-write then leaves no half-written file under the final name, so neither
Snakemake nor a later stage can mistake it for a finished output; the temporaries it leaves behind
(`.name.HOST~PID.XXXXXXXX.tmp.ext` files, `.name.HOST~PID.tmpXXXXXXXX` folders) are removed by
`sweep_temporaries` when the next run starts. Each names the host and process that writes it, so a
sweep removes at once only those whose writer is gone, and a live writer's never. A write that fails for want of space or permission raises `OutputError`
naming the final path and the cause.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from diffseg.runtime.errors import SPACE_ERRNOS, OutputError, os_errno, storage_cause

# The names `atomic_path` (mkstemp: 8 characters of [a-z0-9_]) and `atomic_dir` (mkdtemp) give their
# temporaries; nothing else a run writes is hidden and named like this.
TEMPORARY_NAME = re.compile(r"\..+\.(?:[a-z0-9_]{8}\.tmp(?:\.[^./]+)?|(?:tmp|old)[a-z0-9_]{8})")
# The writer in a temporary's name (`writer_tag`); temporaries written before names had one have none.
WRITER = re.compile(r"\.(?P<host>[A-Za-z0-9-]+)~(?P<pid>\d+)\.(?:[a-z0-9_]{8}\.tmp(?:\.[^./]+)?|(?:tmp|old)[a-z0-9_]{8})$")


def writer_tag() -> str:
    """`HOST~PID` of this process, which its temporaries carry in their names."""
    return f"{_host()}~{os.getpid()}"


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host"


def writer_alive(path: Path) -> bool | None:
    """Whether the process that writes the temporary `path` still runs: None when that cannot be told
    (another host's writer, on a shared filesystem, or a name without its writer)."""
    match = WRITER.search(path.name)
    if match is None or match["host"] != _host():
        return None
    try:
        os.kill(int(match["pid"]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True
# Below this much free space a failed write is put down to the full disk, whatever the library raised.
_NEARLY_FULL_BYTES = 1 << 20


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path in the target's directory; rename it onto `target` on success.

    The temporary keeps the target's suffix (libraries such as imageio pick a format from it).
    On any exception the temporary is removed and the target is left untouched.
    """
    target = Path(target)
    suffix = target.suffix if suffix is None else suffix
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.{writer_tag()}.", suffix=f".tmp{suffix}",
                                        dir=target.parent)
        os.close(fd)
        # mkstemp makes the file private (0600); give it the mode a plain open() would have.
        os.chmod(tmp_name, 0o666 & ~_umask())
    except OSError as error:
        raise _output_error(target, error) from error
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException as error:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if _failed_writing(error, tmp):
            raise _output_error(target, error) from error
        raise


def write_text(target: str | os.PathLike, text: str) -> None:
    """Write a text file atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_csv(frame, target: str | os.PathLike, **kwargs) -> None:
    """Write a pandas DataFrame as CSV atomically (index off unless asked for)."""
    kwargs.setdefault("index", False)
    with atomic_path(target) as tmp:
        frame.to_csv(tmp, **kwargs)


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory beside `target`; it replaces `target` only when the block succeeds.

    A killed run leaves a hidden `.name.tmp*` folder and never a half-written model under the final
    name. An existing `target` is moved aside first because rename() cannot replace a non-empty folder.
    """
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.{writer_tag()}.tmp", dir=target.parent))
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private (0700), unlike mkdir
    except OSError as error:
        raise _output_error(target, error) from error
    try:
        yield tmp
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.{writer_tag()}.old", dir=target.parent))
            os.replace(target, old / target.name)
            os.replace(tmp, target)
            shutil.rmtree(old)
        else:
            os.replace(tmp, target)
    except OutputError as error:
        shutil.rmtree(tmp, ignore_errors=True)
        # Name the file under the final folder, as the user will look for it, not the temporary's name.
        inner = Path(error.path)
        shown = target / inner.relative_to(tmp) if inner.is_relative_to(tmp) else inner
        raise OutputError(shown, error.cause) from error
    except BaseException as error:
        shutil.rmtree(tmp, ignore_errors=True)
        if _failed_writing(error, tmp):
            raise _output_error(target, error) from error
        raise


def temporaries(root: str | os.PathLike) -> list[Path]:
    """Temporary files and folders of `atomic_path` / `atomic_dir` under `root` (not inside them)."""
    found = []
    for folder, dirs, files in os.walk(root):
        for name in [d for d in dirs if TEMPORARY_NAME.fullmatch(d)]:
            dirs.remove(name)  # its content is part of it
            found.append(Path(folder, name))
        found.extend(Path(folder, name) for name in files if TEMPORARY_NAME.fullmatch(name))
    return sorted(found)


def last_written(path: Path) -> float:
    """The latest modification time of `path` (of anything inside it, for a folder)."""
    if not path.is_dir() or path.is_symlink():
        return path.lstat().st_mtime
    times = [path.lstat().st_mtime]
    for folder, _, files in os.walk(path):
        times += [Path(folder, name).lstat().st_mtime for name in files]
    return max(times)


def sweep_temporaries(root: str | os.PathLike, quiet_for_s: float = 0.0) -> list[Path]:
    """Remove what killed writers left under `root` and return it: every temporary whose writer is
    gone (`writer_alive`), and, where that cannot be told, those nothing has written to for
    `quiet_for_s` seconds (0: all of them). A live writer's temporary on this host is never removed.
    """
    now = time.time()
    swept = []
    for path in temporaries(root):
        alive = writer_alive(path)
        with contextlib.suppress(FileNotFoundError):  # its writer renamed it meanwhile
            if alive is False or (alive is None and now - last_written(path) >= quiet_for_s):
                swept.append(path)
    for path in swept:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
    return swept


def _failed_writing(error: BaseException, tmp: Path) -> bool:
    """Whether `error`, raised while the temporary `tmp` was written, is the storage refusing the write.

    A permission or folder error counts only when it names the temporary (not an input being read);
    any other error counts when the disk is (nearly) full: libraries report ENOSPC in their own ways
    (torch.save as a RuntimeError about the file position).
    """
    if not isinstance(error, Exception):
        return False
    if storage_cause(error) is not None:
        if os_errno(error) in SPACE_ERRNOS or str(tmp) in str(error):
            return True
        filename = getattr(error, "filename", None)
        if filename is not None and (Path(filename) == tmp.parent or Path(filename).is_relative_to(tmp)):
            return True
    return _nearly_full(tmp.parent)


def _nearly_full(folder: Path) -> bool:
    try:
        stats = os.statvfs(folder)
    except (OSError, AttributeError):  # gone, or no statvfs (Windows)
        return False
    return stats.f_bavail * stats.f_frsize < _NEARLY_FULL_BYTES


def _output_error(target: Path, error: BaseException) -> OutputError:
    if os_errno(error) in (errno.ENOTDIR, errno.EEXIST):
        return OutputError(target, f"{_existing_ancestor(target.parent)} is a file, not a folder")
    cause = storage_cause(error) or (
        "no space left on device" if _nearly_full(_existing_ancestor(target)) else f"{type(error).__name__}: {error}"
    )
    return OutputError(target, cause)


def _existing_ancestor(path: Path) -> Path:
    """`path` or its nearest ancestor that exists (the one in the way when a folder cannot be made)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _umask() -> int:
    """The process umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
