"""Fixtures of the report tests: a synthetic results tree and the report built from it through the CLI."""

from __future__ import annotations

import pytest

from report_fixtures import build_results, run_agpt


@pytest.fixture(scope="session")
def results(tmp_path_factory) -> dict:
    return build_results(tmp_path_factory.mktemp("report_results"))


@pytest.fixture(scope="session")
def built_report(results) -> dict:
    """``agpt report tables`` then ``agpt report html`` on the synthetic results, through the CLI."""
    root = results["root"]
    tables = root / "results" / "tables"
    out = run_agpt("report", "tables", "--gold", str(results["gold"]), "--runs", *map(str, results["runs"]),
                   "--out", str(tables), "--bootstrap", "500", "--seed", "0")
    assert out.returncode == 0, out.stderr
    html = root / "reports" / "ablation.html"
    out = run_agpt("report", "html", "--tables", str(tables), "--runs", *map(str, results["runs"]),
                   "--gold", str(results["gold"]), "--cache", str(results["cache"]),
                   "--train-logs", *map(str, results["logs"]), "--benchmarks", str(results["benchmarks"]),
                   "--config", str(results["config"]),
                   "--manifest", str(results["manifest"]), "--out", str(html))
    assert out.returncode == 0, out.stderr
    return {**results, "tables": tables, "html": html}
