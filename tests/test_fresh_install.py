"""Every README command works straight after `make run`, with nothing else installed first.

`make report` runs in a virtual environment that make builds from requirements.txt alone (the dev
tools of requirements-dev.txt, which happen to bring pygments along, are not in it), on the results
of the miniature run.
"""

from __future__ import annotations

import subprocess

import pytest

from conftest import REPO

pytestmark = pytest.mark.pipeline


def test_make_report_works_in_a_venv_built_from_requirements_alone(finished_run, tmp_path):
    workdir = finished_run.parents[1]
    venv = tmp_path / "venv"
    report = workdir / "results" / "report.html"
    report.unlink(missing_ok=True)  # another test may have written one with the full test venv
    args = f"-s {REPO / 'Snakefile'} -d {workdir} --configfile {workdir / 'config.yaml'}"
    result = subprocess.run(["make", "-C", str(REPO), "report", f"VENV={venv}", f"SNAKEMAKE_ARGS={args}"],
                            capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    installed = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "list", "--format=freeze"],
                               capture_output=True, text=True, check=True).stdout.lower()
    assert "pytest==" not in installed  # built from requirements.txt, not the test tools
    assert report.is_file() and report.stat().st_size > 100_000
