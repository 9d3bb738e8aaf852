"""The tiny configuration runs end to end with `--cores 2` and produces the tables and report."""

from __future__ import annotations

import time

import pytest

from tests.workflow.conftest import (
    TINY_CONFIG,
    check_run_outputs,
    merged_config,
    missing_commands,
    run_snakemake,
)

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    if missing := missing_commands():
        pytest.skip(f"agpt commands not in this checkout yet: {', '.join(missing)}")
    workdir = tmp_path_factory.mktemp("tiny")
    start = time.monotonic()
    proc = run_snakemake(
        ["--cores", "2", "--configfile", str(TINY_CONFIG), "--", "all"], workdir, timeout=600
    )
    return workdir, proc, time.monotonic() - start


def test_tiny_run_produces_tables_and_report(tiny_run):
    workdir, _, seconds = tiny_run
    check_run_outputs(workdir, merged_config(TINY_CONFIG))
    print(f"tiny run: {seconds:.0f} s")


def test_tiny_run_is_complete_and_idempotent(tiny_run):
    workdir, _, _ = tiny_run
    proc = run_snakemake(["-n", "--cores", "2", "--configfile", str(TINY_CONFIG), "--", "all"], workdir)
    assert "Nothing to be done" in proc.stdout + proc.stderr
