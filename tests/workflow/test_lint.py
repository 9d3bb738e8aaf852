"""The workflow passes `snakemake --lint` and `snakefmt --check` (both exit non-zero on findings)."""

from __future__ import annotations

import subprocess
import sys

from tests.workflow.conftest import REPO, SNAKEFILE, run_snakemake


def test_snakemake_lint_is_clean(workdir):
    proc = run_snakemake(
        ["--lint", "--configfile", str(REPO / "config.yaml")], workdir, check=False
    )
    assert proc.returncode == 0, f"snakemake --lint findings:\n{proc.stdout}\n{proc.stderr}"
    assert "Lints for" not in proc.stdout + proc.stderr


def test_snakemake_lint_fails_on_a_finding(workdir, tmp_path_factory):
    """The lint gate is real: a rule without log: is reported and the exit status is 1."""
    bad = tmp_path_factory.mktemp("bad") / "Snakefile"
    bad.write_text('rule x:\n    output:\n        "x.txt",\n    shell:\n        "touch {output}"\n')
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(bad), "--lint"],
        capture_output=True, text=True, cwd=bad.parent, timeout=120,
    )
    assert proc.returncode == 1
    assert "log" in proc.stdout + proc.stderr


def test_snakefmt_check_is_clean():
    files = [str(SNAKEFILE), *sorted(str(p) for p in (REPO / "rules").glob("*.smk"))]
    proc = subprocess.run(
        [sys.executable, "-m", "snakefmt", "--check", *files],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, f"snakefmt would reformat:\n{proc.stdout}\n{proc.stderr}"


def test_rule_files_hold_no_functions_and_no_lambdas():
    for path in (REPO / "rules").glob("*.smk"):
        text = path.read_text()
        assert "lambda" not in text, f"{path.name}: lambda in a rule file"
        if path.name != "common.smk":
            assert "\ndef " not in text and not text.startswith("def "), f"{path.name}: def"


def test_snakefile_is_a_short_table_of_contents():
    lines = SNAKEFILE.read_text().splitlines()
    assert len(lines) <= 60
    assert len((REPO / "rules" / "common.smk").read_text().splitlines()) <= 220
