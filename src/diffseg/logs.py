"""Logging for rule scripts: everything a stage prints goes to its Snakemake log file."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

log = logging.getLogger("diffseg")


@contextlib.contextmanager
def redirect_to(log_path: str | os.PathLike | None) -> Iterator[logging.Logger]:
    """Send stdout, stderr and the `diffseg` logger to `log_path` for the duration of a stage.

    Tracebacks land in the log too, then the exception propagates so Snakemake marks the job failed.
    With `log_path=None` output stays on the terminal (used by tests and notebooks).
    """
    if log_path is None:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
        yield log
        return
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w", buffering=1, encoding="utf-8") as handle:
        handler = logging.StreamHandler(handle)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        try:
            with contextlib.redirect_stdout(handle), contextlib.redirect_stderr(handle):
                try:
                    yield log
                except BaseException:
                    log.exception("stage failed")
                    raise
        finally:
            log.removeHandler(handler)


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
