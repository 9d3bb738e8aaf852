"""The tiny configuration runs end to end through a real single-node SLURM cluster.

The session fixture starts the cluster with tests/workflow/slurm_cluster.sh (Debian's
slurm-wlm and munge, installed with apt-get when missing; platform.md §9) and stops it by PID
afterwards. Snakemake runs under `timeout -k 30` because the SLURM executor can hang forever
when status checks fail.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml

from tests.workflow.conftest import (
    REPO,
    SNAKEFILE,
    TINY_CONFIG,
    check_run_outputs,
    merged_config,
    missing_commands,
    snakemake_env,
)

pytestmark = [pytest.mark.workflow, pytest.mark.slurm]

CLUSTER = REPO / "tests" / "workflow" / "slurm_cluster.sh"
# A smaller grid than the local tiny run: every rule, fewer cells (each DAG level costs ~10 s).
SLURM_GRID = {
    "grid": {
        "models": ["transvg"],
        "inits": ["base", "agpt_syn"],
        "modes": ["lora"],
        "seeds": [1],
        "baselines": ["centre"],
    }
}
SNAKEMAKE_TIMEOUT_S = 900


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("the single-node SLURM cluster needs root (apt-get, /etc/slurm, munged)")
    state = tmp_path_factory.mktemp("slurm-state")
    start = subprocess.run(
        ["bash", str(CLUSTER), "start", str(state)], capture_output=True, text=True, timeout=600
    )
    try:
        assert start.returncode == 0, f"cluster did not start:\n{start.stdout}\n{start.stderr}"
        yield state
    finally:
        subprocess.run(["bash", str(CLUSTER), "stop", str(state)], timeout=120)


def test_tiny_run_through_slurm(slurm_cluster, tmp_path):
    if missing := missing_commands():
        pytest.skip(f"agpt commands not in this checkout yet: {', '.join(missing)}")
    overrides = tmp_path / "slurm_grid.yaml"
    overrides.write_text(yaml.safe_dump(SLURM_GRID))
    workdir = tmp_path / "run"
    workdir.mkdir()
    cmd = [
        "timeout", "-k", "30", str(SNAKEMAKE_TIMEOUT_S),
        sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--directory", str(workdir),
        "--profile", str(REPO / "profiles" / "slurm-ci"),
        "--configfile", str(TINY_CONFIG), str(overrides), "--", "all",
    ]
    env = snakemake_env()
    # Jobs re-run `python -m snakemake` with this interpreter: put its venv first on PATH.
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env["PATH"]])
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=workdir,
                          timeout=SNAKEMAKE_TIMEOUT_S + 60)
    logs = "\n".join(p.read_text()[-2000:] for p in (workdir / "logs").rglob("*.log")) if (
        workdir / "logs").exists() else ""
    assert proc.returncode == 0, (
        f"snakemake under SLURM failed ({proc.returncode}):\n{proc.stdout[-5000:]}\n"
        f"{proc.stderr[-5000:]}\n--- rule logs ---\n{logs[-5000:]}"
    )
    config = merged_config(TINY_CONFIG, overrides=SLURM_GRID)
    check_run_outputs(workdir, config)

    # Proof of submission: the jobs went through SLURM (MinJobAge keeps them in squeue).
    squeue = subprocess.run(["squeue", "--states=all", "-h", "-o", "%i %T %j"],
                            capture_output=True, text=True, check=True)
    completed = [line for line in squeue.stdout.splitlines() if " COMPLETED " in line]
    job_logs = list((workdir / ".snakemake" / "slurm_logs").rglob("*.log"))
    # phantom, prepare, cache, synonyms, pretrain, 2 finetune, 2 evaluate_finetuned,
    # evaluate_zeroshot, baseline, tables, report_html (effective_config and all run locally).
    assert len(job_logs) == 13, sorted(p.name for p in job_logs)
    assert len(completed) >= 13, squeue.stdout
