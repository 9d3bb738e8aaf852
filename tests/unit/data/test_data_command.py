"""``agpt data prepare|check|cache`` through the real CLI (subprocesses)."""

from __future__ import annotations

import csv
import subprocess
import sys

import pytest

from agpt.data.cache import ImageCache
from agpt.errors import AgptError
from tests.unit.data.rawdata import PATIENTS


def _agpt(*args):
    return subprocess.run(
        [sys.executable, "-m", "agpt", "data", *map(str, args)], check=False, capture_output=True, text=True
    )


def _agpt_here(monkeypatch, capsys, *args):
    """The same CLI in this process (saves the interpreter start-up); returns (exit, stdout, stderr)."""
    from agpt.cli import main

    monkeypatch.setattr(sys, "argv", list(sys.argv))
    code = main(["data", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def _inputs(paths, fmt="dcm", mscxr="MS_CXR_Local_Alignment_v1.1.0.csv", source="mscxr"):
    root = paths["jpg_root" if fmt == "jpg" else "dcm_root"]
    return [
        "--mimic-root",
        root,
        "--image-format",
        fmt,
        "--imagenome-root",
        paths["imagenome"],
        "--mscxr",
        paths["mscxr_dir"] / mscxr,
        "--split-source",
        source,
        "--medrpg-split",
        paths["medrpg_split"],
    ]


def test_check_prepare_cache(raw, tmp_path):
    r = _agpt("check", *_inputs(raw), "--json", tmp_path / "c.json")
    assert r.returncode == 0, r.stderr
    for text in (
        "images: 8",
        "MS-CXR phrases (mscxr split): train 3, val 1, test 2",
        "Atelectasis       2/0/0",
        "right lung                3",
        "leakage guard: 2",
        "zero-area box: 1",
        "leakage guard (all-mscxr): 5 MS-CXR patients guarded; removed 2 images of 2 patients",
        "check passed",
    ):
        assert text in r.stdout
    r = _agpt(
        "prepare",
        *_inputs(raw, "jpg", "MS_CXR_Local_Alignment_v1.1.0.json", "medrpg"),
        "--out",
        tmp_path / "p",
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "p" / "manifest.json").is_file()
    r = _agpt(
        "cache",
        "--prepared",
        tmp_path / "p",
        "--image-root",
        raw["jpg_root"],
        "--size",
        40,
        "--out",
        tmp_path / "cache",
    )
    assert r.returncode == 0, r.stderr
    assert "images/s with 2 workers" in r.stdout
    assert ImageCache.open(tmp_path / "cache", size=40).size == 40


def test_bad_record_fails_with_file_and_row_or_is_listed_with_skip_bad(
    raw_copy, tmp_path, monkeypatch, capsys
):
    path = raw_copy["mscxr_dir"] / "MS_CXR_Local_Alignment_v1.1.0.csv"
    rows = list(csv.reader(path.read_text().splitlines()))
    rows[2][1] = "Fracture"
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    code, _, err = _agpt_here(monkeypatch, capsys, "check", *_inputs(raw_copy))
    assert code == 2
    assert err.strip() == (
        f"agpt data: error: {path}, row 3: unknown category: 'Fracture'; valid: Atelectasis, "
        "Cardiomegaly, Consolidation, Edema, Lung Opacity, Pleural Effusion, Pneumonia, "
        f"Pneumothorax [record {PATIENTS[1].dicom_id} | Bibasilar atelectasis, worse on the left.]"
    )
    code, _, err = _agpt_here(
        monkeypatch, capsys, "check", *_inputs(raw_copy), "--skip-bad", "--rejects", tmp_path / "rej.csv"
    )
    assert code == 1 and "1 bad record(s) skipped" in err
    code, _, err = _agpt_here(
        monkeypatch, capsys, "prepare", *_inputs(raw_copy), "--skip-bad", "--out", tmp_path / "p"
    )
    assert code == 0, err
    for rejects in (tmp_path / "rej.csv", tmp_path / "p" / "rejects.csv"):
        listed = list(csv.DictReader(rejects.read_text().splitlines()))
        bad = [x for x in listed if x["reason"].startswith("unknown category")]
        assert len(bad) == 1 and bad[0]["row"] == "3" and bad[0]["file"] == str(path)
        assert any(x["reason"].startswith("phrase has a rejected box") for x in listed)


def test_stale_cache_is_refused_by_name(raw_copy, tmp_path, monkeypatch, capsys):
    def prepare(mscxr):
        code, _, err = _agpt_here(
            monkeypatch, capsys, "prepare", *_inputs(raw_copy, "jpg", mscxr), "--out", tmp_path / "p"
        )
        assert code == 0, err

    prepare("MS_CXR_Local_Alignment_v1.1.0.csv")
    code, _, err = _agpt_here(
        monkeypatch,
        capsys,
        "cache",
        "--prepared",
        tmp_path / "p",
        "--image-root",
        raw_copy["jpg_root"],
        "--size",
        16,
        "--workers",
        1,
        "--out",
        tmp_path / "c",
    )
    assert code == 0, err
    ImageCache.open(tmp_path / "c")
    # MS-CXR without patient 10's phrase: one image fewer in images.csv
    path = raw_copy["mscxr_dir"] / "MS_CXR_Local_Alignment_v1.1.0.csv"
    rows = [r for r in csv.reader(path.read_text().splitlines()) if r[0] != PATIENTS[10].dicom_id]
    with open(raw_copy["mscxr_dir"] / "fewer.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)
    prepare("fewer.csv")
    with pytest.raises(AgptError, match="stale cache"):
        ImageCache.open(tmp_path / "c")
