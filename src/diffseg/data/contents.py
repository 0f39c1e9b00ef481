"""What a cohort holds, in one line: the fingerprint a rule records among its params in place of the
cohort folder's timestamp.

Snakemake reruns a rule whose input is newer than its output. A cohort restored from a backup, copied
back in place or remounted at the same path has new timestamps and the same files, and would be
prepared again, and with it every stage after (hours on ISIC 2017). The rules that read a user's folder take
it as `ancient` input and record this fingerprint as a param instead: a file added, removed, renamed
or resized changes it, and Snakemake's params trigger reruns exactly what depends on the cohort.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def contents_fingerprint(*paths: str | os.PathLike | None) -> str:
    """`<n> files, <bytes> bytes, sha256:<16 hex>` over every path given (None and "" are skipped): a
    folder counts each file under it by relative name and size (dot-files, such as the temporaries of
    a writer, are left out), a file by its bytes (a labels or splits table is small and may change in
    place without changing size). A path that does not exist counts as missing, not as an error:
    the rule that reads it names the problem."""
    digest, files, total = hashlib.sha256(), 0, 0
    for path in paths:
        if path is None or str(path) == "":
            continue
        count, size, entry = _fingerprint_path(str(path))
        digest.update(entry)
        files, total = files + count, total + size
    return f"{files} files, {total} bytes, sha256:{digest.hexdigest()[:16]}"


def _fingerprint_path(path: str) -> tuple[int, int, bytes]:
    target = Path(path)
    if target.is_file():
        data = target.read_bytes()
        return 1, len(data), b"file\0" + hashlib.sha256(data).digest()
    if not target.is_dir():
        return 0, 0, b"missing\0" + path.encode()
    lines, total = [], 0
    for folder, subfolders, names in os.walk(target, followlinks=True):
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        for name in names:
            if name.startswith("."):
                continue
            file = Path(folder) / name
            try:
                size = file.stat().st_size
            except OSError:  # a dangling link: listed, so that fixing it reruns
                size = -1
            lines.append(f"{file.relative_to(target).as_posix()}\0{size}")
            total += max(size, 0)
    lines.sort()
    return len(lines), total, b"folder\0" + hashlib.sha256("\n".join(lines).encode()).digest()
