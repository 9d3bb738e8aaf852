"""Every baseline on a prepared directory built by ``agpt data prepare`` from raw files in the real formats."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

rawdata = pytest.importorskip("tests.unit.data.rawdata", reason="the data part's raw-format fixture")


def _run(*args):
    return subprocess.run([sys.executable, "-m", "agpt", *args], capture_output=True, text=True, timeout=120)


def test_baselines_on_real_format_data(tmp_path):
    raw = rawdata.write_raw_dataset(tmp_path / "raw")
    prepared = tmp_path / "prepared"
    res = _run("data", "prepare", "--mimic-root", str(raw["jpg_root"]), "--image-format", "jpg",
               "--imagenome-root", str(raw["imagenome"]), "--mscxr",
               str(raw["mscxr_dir"] / "MS_CXR_Local_Alignment_v1.1.0.csv"), "--split-source", "mscxr",
               "--skip-bad", "--out", str(prepared))
    assert res.returncode == 0, res.stderr
    for baseline in ("centre", "category", "anatomy"):
        out = tmp_path / baseline
        res = _run("baseline", baseline, "--prepared", str(prepared), "--split", "test", "--out", str(out))
        assert res.returncode == 0, res.stderr
        scored = _run("score", "--gold", str(prepared / "mscxr_test.csv"), "--pred", str(out / "predictions.csv"))
        assert scored.returncode == 0, scored.stderr
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["missing"] == 0 and metrics["n"] == json.loads(scored.stdout)["n"] > 0
    rules = json.loads((tmp_path / "anatomy" / "metrics.json").read_text())["rules"]
    assert rules.get("anatomy_image", 0) >= 1  # "Right lower lobe consolidation." -> this image's box
