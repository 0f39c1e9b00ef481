"""The workflow passes Snakemake's own linter and is formatted with snakefmt."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import REPO

BIN = Path(sys.executable).parent


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)


def test_snakemake_lint_is_clean():
    result = run(str(BIN / "snakemake"), "--lint", "--cores", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Lints for" not in result.stdout + result.stderr, result.stdout + result.stderr


def test_snakefmt_check_is_clean():
    result = run(str(BIN / "snakefmt"), "--check", "Snakefile", "workflow")
    assert result.returncode == 0, result.stdout + result.stderr


def test_dry_run_builds_the_dag():
    result = run(str(BIN / "snakemake"), "-n", "--cores", "1", "--quiet", "rules")
    assert result.returncode == 0, result.stdout + result.stderr
