"""The conda environments: valid, pinned, consistent with pyproject.toml, wired to every rule.

`--use-conda` cannot create environments on these machines (no conda channels), so the wiring
is dry-run with a stub `conda` on PATH (platform.md §8), which is what Snakemake asks before
it would create anything.
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.workflow.conftest import DEFAULT_CONFIG, REAL_CONFIG, REPO, job_counts, run_snakemake

ENV_FILES = sorted((REPO / "envs").glob("*.yaml"))
# Runs Snakemake itself, not a rule; it stays out of the rule environments.
NOT_IN_RULE_ENVS = {"snakemake"}


def pyproject_requirements() -> dict[str, Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = (Requirement(r) for r in project["dependencies"])
    return {canonicalize_name(r.name): r for r in reqs}


def env_pins(path: Path) -> dict[str, Version]:
    """{package: pinned version} of an environment's pip section (every entry must be ==)."""
    env = yaml.safe_load(path.read_text())
    pip = [d for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip) == 1, f"{path.name}: expected one pip: section"
    pins = {}
    for line in pip[0]["pip"]:
        req = Requirement(line)
        specs = list(req.specifier)
        assert len(specs) == 1 and specs[0].operator == "==", f"{path.name}: {line} is not pinned"
        pins[canonicalize_name(req.name)] = Version(specs[0].version)
    return pins


def test_there_is_an_environment_per_rule_group():
    assert {p.stem for p in ENV_FILES} == {"data", "torch", "report"}


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_environment_is_valid_and_pinned(path):
    env = yaml.safe_load(path.read_text())
    assert set(env) == {"channels", "dependencies"}
    assert "conda-forge" in env["channels"]
    conda_pkgs = [d for d in env["dependencies"] if isinstance(d, str)]
    assert all(re.fullmatch(r"[a-z0-9_.-]+=[0-9][0-9.]*", d) for d in conda_pkgs), conda_pkgs
    assert "python=3.11" in conda_pkgs
    assert env_pins(path)


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_environment_pins_satisfy_pyproject(path):
    reqs = pyproject_requirements()
    for name, version in env_pins(path).items():
        assert name in reqs, f"{path.name}: {name} is not a dependency in pyproject.toml"
        assert reqs[name].specifier.contains(version, prereleases=True), (
            f"{path.name}: {name}=={version} violates pyproject's {reqs[name]}"
        )


def test_environments_cover_every_runtime_dependency():
    pinned = set().union(*(env_pins(p) for p in ENV_FILES))
    missing = set(pyproject_requirements()) - pinned - NOT_IN_RULE_ENVS
    assert not missing, f"pyproject dependencies in no envs/*.yaml: {sorted(missing)}"


def test_environments_pin_the_same_versions():
    seen: dict[str, tuple[Version, str]] = {}
    for path in ENV_FILES:
        for name, version in env_pins(path).items():
            if name in seen:
                assert seen[name][0] == version, f"{name}: {path.name} vs {seen[name][1]}"
            seen[name] = (version, path.name)


def test_every_job_rule_names_an_existing_environment():
    for smk in (REPO / "rules").glob("*.smk"):
        text = smk.read_text()
        n_jobs = len(re.findall(r"^    shell:", text, re.M))
        envs = re.findall(r'^    conda:\n        "([^"]+)"', text, re.M)
        assert len(envs) == n_jobs, f"{smk.name}: {n_jobs} shell rules, {len(envs)} conda:"
        for env in envs:
            assert (smk.parent / env).resolve() in [p.resolve() for p in ENV_FILES], env


STUB_CONDA = """#!/bin/sh
echo "$@" >> "{log}"
case "$*" in
  "--version") echo "conda 24.7.1";;
  "info --json") echo '{info}';;
  "config --get channel_priority --json") echo '{{"get": {{"channel_priority": "strict"}}}}';;
  *) echo "stub conda: refuses $*" >&2; exit 1;;
esac
"""


@pytest.fixture
def stub_conda(workdir, monkeypatch) -> Path:
    """A `conda` first on PATH that answers Snakemake's checks; returns the log of its calls."""
    bin_dir = workdir / "bin"
    bin_dir.mkdir()
    log = workdir / "conda_calls.log"
    info = json.dumps({"conda_prefix": str(workdir / "conda"), "platform": "linux-64"})
    conda = bin_dir / "conda"
    conda.write_text(STUB_CONDA.format(log=log, info=info))
    conda.chmod(conda.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return log


def test_conda_wiring_dry_runs_with_a_stub_conda(workdir, stub_conda):
    proc = run_snakemake(
        ["-n", "-p", "--cores", "2", "--sdm", "conda", "--configfile", str(DEFAULT_CONFIG)],
        workdir / "run",
    )
    out = proc.stdout + proc.stderr
    for env in ("data", "torch", "report"):
        assert f"envs/{env}.yaml will be created" in out
    # Inside a conda environment the rules use that environment's python.
    assert re.search(r"^Shell command: rm -rf \S+ && python -m agpt pretrain ", out, re.M)
    assert "info --json" in stub_conda.read_text()


def test_slurm_profile_dry_runs_the_real_grid_with_gpus(workdir, stub_conda):
    """profiles/slurm (conda, GPUs for training/evaluation) plans the paper's grid; submits nothing."""
    proc = run_snakemake(
        ["-n", "--profile", str(REPO / "profiles" / "slurm"), "--configfile", str(REAL_CONFIG)],
        workdir / "run",
    )
    counts = job_counts(proc.stdout)
    assert (counts["pretrain"], counts["finetune"], counts["evaluate_finetuned"]) == (6, 54, 54)
    jobs = proc.stdout.split("\nrule ")[1:]
    for job in jobs:
        rule = job.split(":", 1)[0]
        gpus = re.search(r"resources: .*\bgpu=(\d+)", job)
        wants_gpu = rule in ("pretrain", "finetune", "evaluate_zeroshot", "evaluate_finetuned")
        assert (gpus is not None and gpus.group(1) == "1") == wants_gpu, job[:400]


def test_without_conda_rules_use_the_interpreter_that_runs_snakemake(workdir):
    proc = run_snakemake(["-n", "-p", "--cores", "2", "--configfile", str(DEFAULT_CONFIG)], workdir)
    assert f" && {sys.executable} -m agpt pretrain " in proc.stdout
