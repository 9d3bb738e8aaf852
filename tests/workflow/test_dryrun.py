"""Dry runs plan exactly the grid's jobs, per rule, for the default, real and tiny configs."""

from __future__ import annotations

import pytest
import yaml

from tests.workflow.conftest import (
    DEFAULT_CONFIG,
    REAL_CONFIG,
    TINY_CONFIG,
    job_counts,
    merged_config,
    run_snakemake,
)


def expected_jobs(config: dict) -> dict[str, int]:
    """Jobs per rule of `all`, computed from the grid (independently of rules/common.smk)."""
    grid = config["grid"]
    n_models = len(grid["models"])
    pretrained = [i for i in grid["inits"] if i in ("agpt", "agpt_syn")]
    n_cells = (
        n_models * len(grid["inits"]) * len(grid["modes"]) * len(grid["fractions"]) * len(grid["seeds"])
        if "finetune" in grid["settings"]
        else 0
    )
    n_zeroshot = n_models * len(pretrained) if "zeroshot" in grid["settings"] else 0
    counts = {
        "phantom": int(config["data"]["source"] == "phantom"),
        "prepare": 1,
        "cache": 1,
        "synonyms": int("agpt_syn" in pretrained),
        "pretrain": n_models * len(pretrained),
        "finetune": n_cells,
        "evaluate_finetuned": n_cells,
        "evaluate_zeroshot": n_zeroshot,
        "baseline": len(grid["baselines"]),
        "effective_config": 1,
        "tables": 1,
        "report_html": 1,
        "all": 1,
    }
    return {rule: n for rule, n in counts.items() if n}


CASES = {
    "default": ([DEFAULT_CONFIG], {}),
    # The real-data config dry-runs without the data: data paths are not Snakemake inputs.
    "real": ([REAL_CONFIG], {}),
    "tiny": ([TINY_CONFIG], {}),
    "data-efficiency": ([DEFAULT_CONFIG], {"grid": {"fractions": [0.1, 0.25, 0.5, 1.0]}}),
    "finetune-only": ([DEFAULT_CONFIG], {"grid": {"settings": ["finetune"], "inits": ["base", "agpt"]}}),
}


def config_args(files, overrides, workdir) -> list[str]:
    """--configfile arguments; overrides go through a YAML file (keeps numbers numbers)."""
    files = list(files)
    if overrides:
        files.append(workdir / "overrides.yaml")
        files[-1].write_text(yaml.safe_dump(overrides))
    return ["--configfile", *map(str, files)]


@pytest.mark.parametrize("case", CASES)
def test_dry_run_plans_the_grid(case, workdir):
    files, overrides = CASES[case]
    proc = run_snakemake(["-n", "--cores", "2", *config_args(files, overrides, workdir)], workdir)
    assert job_counts(proc.stdout) == expected_jobs(merged_config(*files, overrides=overrides))
    if case == "default":
        # One pre-training run per model and synonym setting is the input of its zero-shot
        # evaluation and of all 6 fine-tuning cells (2 modes x 3 seeds) that start from it.
        ckpt = "results/pretrain/model~transvg/init~agpt/done.json"
        inputs = f"input: results/data/prepared/manifest.json, results/data/cache, {ckpt}"
        assert proc.stdout.count(inputs) == 7


def test_real_config_is_the_papers_grid(workdir):
    config = merged_config(REAL_CONFIG)
    assert config["model"]["preset"] == "paper" and config["data"]["source"] == "real"
    counts = expected_jobs(config)
    # 3 models x 3 inits x 2 modes x 3 seeds fine-tuned, 3 x 2 zero-shot, 3 baselines.
    assert (counts["finetune"], counts["evaluate_zeroshot"], counts["pretrain"]) == (54, 6, 6)


STAGES = {
    "data": {"phantom", "prepare", "cache", "data"},
    "pretraining": {"phantom", "prepare", "cache", "synonyms", "pretrain", "pretraining"},
    "zeroshot": {"phantom", "prepare", "cache", "synonyms", "pretrain", "evaluate_zeroshot", "zeroshot"},
    "baselines": {"phantom", "prepare", "baseline", "baselines"},
    "reports/ablation.html": set(expected_jobs(merged_config(DEFAULT_CONFIG))) - {"all"},
}


@pytest.mark.parametrize("target", STAGES)
def test_stage_targets(target, workdir):
    proc = run_snakemake(
        [target, "-n", "--cores", "2", "--configfile", str(DEFAULT_CONFIG)], workdir
    )
    assert set(job_counts(proc.stdout)) == STAGES[target]


@pytest.mark.parametrize(
    "override, message",
    [
        ({"grid": {"modelz": ["transvg"]}}, "modelz"),
        ({"grid": {"models": ["resnet"]}}, "resnet"),
        ({"model": {"preset": "huge"}}, "huge"),
        ({"pretrain": {"epochs": 0}}, "epochs"),
        ({"grid": {"fractions": [1.5]}}, "1.5"),
    ],
)
def test_bad_config_gets_a_clear_message(override, message, workdir):
    args = config_args([DEFAULT_CONFIG], override, workdir)
    proc = run_snakemake(["-n", "--cores", "1", *args], workdir, check=False)
    assert proc.returncode != 0
    assert "Error validating config file" in proc.stdout + proc.stderr
    assert message in proc.stdout + proc.stderr


def test_real_config_with_empty_path_names_the_key(workdir):
    args = config_args([REAL_CONFIG], {"data": {"real": {"mimic_root": ""}}}, workdir)
    proc = run_snakemake(["-n", "--cores", "1", *args], workdir, check=False)
    assert proc.returncode != 0
    assert "data.real.mimic_root" in proc.stdout + proc.stderr
