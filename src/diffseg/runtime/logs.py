"""Logging for rule scripts: everything a stage prints goes to its Snakemake log file.

A stage that fails for a reason the user must fix (a `DiffSegError`: bad input, a full disk, an
unwritable folder) ends with that one message in its log and on stderr, not with a traceback.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NoReturn

from diffseg.runtime.errors import (
    SPACE_ERRNOS,
    BadInputError,
    DiffSegError,
    OutputError,
    os_errno,
    storage_cause,
)
from diffseg.runtime.provenance import VERSION_PREFIX, code_version

log = logging.getLogger("diffseg")


@contextlib.contextmanager
def redirect_to(log_path: str | os.PathLike | None) -> Iterator[logging.Logger]:
    """Send stdout, stderr and the `diffseg` logger to `log_path` for the duration of a stage.

    A `DiffSegError` (or a write refused by the storage) ends the stage with its message in the log and
    on stderr and exit status 1; any other exception's traceback lands in the log, then the exception
    propagates. Either way Snakemake marks the job failed. With `log_path=None` output stays on the
    terminal and every exception propagates (used by tests and notebooks).
    """
    if log_path is None:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
        yield log
        return
    handle = _open_log(Path(log_path))
    handler = logging.StreamHandler(handle)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    # First line of every job's log: which code computed it (gathered per stage by diffseg.runtime.provenance).
    log.info("%s%s", VERSION_PREFIX, code_version())
    failure = None
    try:
        with contextlib.redirect_stdout(handle), contextlib.redirect_stderr(handle):
            try:
                yield log
            except BaseException as error:
                failure = known_failure(error)
                if failure is None:
                    log.exception("stage failed")
                    raise
                if failure.__cause__ is not None:  # what the library said, for whoever debugs it
                    log.info("cause: %s: %s", type(failure.__cause__).__name__, failure.__cause__)
                log.error("%s", failure)
    finally:
        log.removeHandler(handler)
        handle.close()
    if failure is not None:
        _exit_with(failure)


def known_failure(error: BaseException) -> DiffSegError | None:
    """`error` as a message for the user when it is one, else None: a `DiffSegError`, or an operating
    system error naming its file (space ran out: a write; a permission or folder error: maybe a read)."""
    if isinstance(error, DiffSegError):
        return error
    cause, filename = storage_cause(error), getattr(error, "filename", None)
    if cause is None or filename is None:
        return None
    return OutputError(filename, cause) if os_errno(error) in SPACE_ERRNOS else BadInputError(filename, cause)


def _open_log(log_path: Path):
    try:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        return open(log_path, "w", buffering=1, encoding="utf-8")
    except OSError as error:
        _exit_with(OutputError(log_path, storage_cause(error) or str(error)))


def _exit_with(failure: DiffSegError) -> NoReturn:
    print(f"Error: {failure}", file=sys.stderr, flush=True)
    logging.shutdown()
    if isinstance(failure, OutputError):
        # Leave at once: HDF5 crashes (SIGSEGV) finalising a file whose write ran out of space, which
        # would bury the message under a segmentation fault.
        sys.stdout.flush()
        os._exit(1)
    raise SystemExit(1)


def progress(iterable: Iterable, desc: str, total: int | None = None, **kwargs):
    """A tqdm progress bar on stderr (which `redirect_to` sends to the rule's log).

    The bar refreshes at most every few seconds when stderr is not a terminal, so logs stay short.
    """
    from tqdm.auto import tqdm

    interactive = sys.stderr.isatty()
    return tqdm(
        iterable,
        desc=desc,
        total=total,
        mininterval=0.5 if interactive else 5.0,
        file=sys.stderr,
        dynamic_ncols=interactive,
        **kwargs,
    )
