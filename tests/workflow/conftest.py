"""Fixtures of the workflow tests: run Snakemake from this checkout in a scratch directory."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SNAKEFILE = REPO / "Snakefile"
DEFAULT_CONFIG = REPO / "config.yaml"
REAL_CONFIG = REPO / "config" / "real.yaml"
TINY_CONFIG = REPO / "tests" / "workflow" / "config.yaml"


def snakemake_env() -> dict[str, str]:
    """The environment of every Snakemake call: offline, headless, this checkout's agpt."""
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", MPLBACKEND="Agg")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def run_snakemake(
    args: list[str], workdir: Path, timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess:
    """`python -m snakemake -s Snakefile --directory WORKDIR ARGS` with this interpreter."""
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--directory", str(workdir), *args]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env=snakemake_env(), cwd=workdir
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake failed ({proc.returncode}): {' '.join(cmd)}\n"
            f"--- stdout ---\n{proc.stdout[-6000:]}\n--- stderr ---\n{proc.stderr[-6000:]}"
        )
    return proc


def job_counts(output: str) -> dict[str, int]:
    """Parse the 'Job stats' table of a (dry) run into {rule: count} (without 'total')."""
    match = re.search(r"Job stats:\n(.*?)\n\s*total\s+\d+", output, re.S)
    if match is None:
        raise AssertionError(f"no 'Job stats' table in Snakemake's output:\n{output[-3000:]}")
    counts = {}
    for line in match.group(1).splitlines()[2:]:  # skip the header and the rule line
        name, count = line.split()
        counts[name] = int(count)
    return counts


def merged_config(*paths: Path, overrides: dict | None = None) -> dict:
    """config.yaml overlaid by further config files, as Snakemake merges them (nested dicts)."""

    def merge(base: dict, extra: dict) -> dict:
        for key, value in extra.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                merge(base[key], value)
            else:
                base[key] = value
        return base

    config: dict = {}
    for path in (DEFAULT_CONFIG, *paths):
        merge(config, yaml.safe_load(path.read_text()))
    return merge(config, overrides or {})


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """An empty working directory for one Snakemake run (results, logs, .snakemake)."""
    return tmp_path


WORKFLOW_COMMANDS = ("phantom", "data", "synonyms", "pretrain", "finetune", "evaluate", "baseline", "report")


def missing_commands() -> list[str]:
    """agpt commands the workflow calls that this checkout does not have yet."""
    import importlib.util

    return [c for c in WORKFLOW_COMMANDS if importlib.util.find_spec(f"agpt.commands.{c}") is None]


def grid_sizes(config: dict) -> dict[str, int]:
    """Cells of the grid: fine-tuning runs (with seeds), fine-tuned cells, zero-shot runs, baselines."""
    grid = config["grid"]
    n_pretrained = len([i for i in grid["inits"] if i != "base"])
    cells = len(grid["models"]) * len(grid["inits"]) * len(grid["modes"]) * len(grid["fractions"])
    cells *= "finetune" in grid["settings"]
    return {
        "finetune_cells": cells,
        "finetune_runs": cells * len(grid["seeds"]),
        "zeroshot": len(grid["models"]) * n_pretrained * ("zeroshot" in grid["settings"]),
        "baselines": len(grid["baselines"]),
    }


def check_run_outputs(workdir: Path, config: dict) -> None:
    """The tables (a row per cell, seeds pooled), the report, and every run's files."""
    import pandas as pd

    n = grid_sizes(config)
    table = pd.read_csv(workdir / "results/tables/ablation.csv")
    assert len(table) == n["finetune_cells"] + n["zeroshot"] + n["baselines"], table
    for name in ("ablation.md", "ablation.tex", "per_category.csv", "comparisons.csv", "runs.csv"):
        assert (workdir / "results/tables" / name).stat().st_size > 0, name
    html = workdir / "reports/ablation.html"
    assert html.stat().st_size > 1000 and "<html" in html.read_text()[:2000].lower()
    runs = workdir / "results/runs"
    assert len(list(runs.rglob("metrics.json"))) == n["finetune_runs"] + n["zeroshot"] + n["baselines"]
    assert len(list((workdir / "benchmarks/finetune").rglob("*.tsv"))) == n["finetune_runs"]
    assert len(list((workdir / "logs/evaluate_finetuned").rglob("*.log"))) == n["finetune_runs"]
