"""Same seed -> byte-identical files (whatever the worker count); another seed -> different files."""

import hashlib
import subprocess
import sys

from agpt.phantom import PhantomConfig, generate_phantom

SMALL = dict(n_pretrain=30, n_mscxr_images=20)  # same sizes as conftest.py




def _digest(root):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_is_byte_identical(phantom_dir, tmp_path):
    generate_phantom(tmp_path, PhantomConfig(seed=1, workers=1, **SMALL))
    a, b = _digest(phantom_dir), _digest(tmp_path)
    assert a.keys() == b.keys()
    assert [k for k in a if a[k] != b[k]] == []
    assert len(a) == 50 * 3 + 4 + 2 + 2 + 1  # dcm, jpg, graph per image; 4 splits, 2 gz, 2 ms-cxr, phantom.json


def test_different_seed_differs(phantom_dir, tmp_path):
    generate_phantom(tmp_path, PhantomConfig(seed=2, workers=2, n_pretrain=5, n_mscxr_images=5))
    a, b = _digest(phantom_dir), _digest(tmp_path)
    assert a["ms-cxr/MS_CXR_Local_Alignment_v1.1.0.csv"] != b["ms-cxr/MS_CXR_Local_Alignment_v1.1.0.csv"]
    assert not set(a) & {k for k in b if "files/" in k}  # new ids


def test_cli_refuses_to_overwrite_silently(phantom_dir):
    args = [sys.executable, "-m", "agpt", "phantom", "--out", str(phantom_dir), "--seed", "1",
            "--n-pretrain", "30", "--n-mscxr-images", "20"]
    run = subprocess.run(args, capture_output=True, text=True)
    assert run.returncode == 2 and "--overwrite" in run.stderr


def test_cli_rejects_bad_sizes(tmp_path):
    args = [sys.executable, "-m", "agpt", "phantom", "--out", str(tmp_path / "x"), "--n-mscxr-images", "0"]
    run = subprocess.run(args, capture_output=True, text=True)
    assert run.returncode == 2 and "n_mscxr_images" in run.stderr
