"""The phantom read back through the real readers (`agpt data check`) with zero bad records."""

import subprocess
import sys

import pytest


@pytest.mark.parametrize("fmt", ["jpg", "dcm"])
def test_data_check_accepts_phantom(phantom_dir, fmt):
    root = phantom_dir / ("mimic-cxr-jpg" if fmt == "jpg" else "mimic-cxr")
    args = [sys.executable, "-m", "agpt", "data", "check", "--mimic-root", str(root), "--image-format", fmt,
            "--imagenome-root", str(phantom_dir / "chest-imagenome"),
            "--mscxr", str(phantom_dir / "ms-cxr/MS_CXR_Local_Alignment_v1.1.0.json"), "--split-source", "mscxr",
            "--metadata", str(phantom_dir / "mimic-cxr-jpg/mimic-cxr-2.0.0-metadata.csv.gz"),
            "--verify-images", "decode"]
    run = subprocess.run(args, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "bad records skipped: 0" in run.stdout and "check passed" in run.stdout
    assert "leakage guard (all-mscxr)" in run.stdout


def test_data_prepare_only_excludes_by_design_and_leaks_nothing(phantom_dir, tmp_path):
    import csv

    from agpt.phantom import FAKE_IDENTIFIER_MARKER

    out = tmp_path / "prepared"
    args = [sys.executable, "-m", "agpt", "data", "prepare", "--mimic-root", str(phantom_dir / "mimic-cxr"),
            "--image-format", "dcm", "--imagenome-root", str(phantom_dir / "chest-imagenome"),
            "--mscxr", str(phantom_dir / "ms-cxr/MS_CXR_Local_Alignment_v1.1.0.csv"), "--split-source", "mscxr",
            "--metadata", str(phantom_dir / "mimic-cxr-jpg/mimic-cxr-2.0.0-metadata.csv.gz"), "--out", str(out)]
    run = subprocess.run(args, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    with open(out / "rejects.csv", newline="") as fh:
        reasons = [r["reason"] for r in csv.DictReader(fh)]
    # the only exclusions are the leakage guard and images_to_avoid.csv, never a bad record
    assert reasons and all(r.startswith(("leakage guard", "images to avoid", "images_to_avoid")) for r in reasons), \
        sorted(set(reasons))[:5]
    for path in out.rglob("*"):
        if path.is_file():
            assert FAKE_IDENTIFIER_MARKER not in path.read_text(errors="ignore"), path
