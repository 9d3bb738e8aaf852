"""Split sources: the MedRPG split-ids file (JSON by anno_id, CSV by dicom_id + category) and v1.1.0 ``split``."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from agpt.data.medrpg_split import assign_splits, read_medrpg_split
from agpt.data.mscxr import read_mscxr
from agpt.data.prepare import default_medrpg_split
from agpt.errors import DataError
from tests.unit.data.rawdata import MEDRPG_SPLIT, PHRASES, phrase_anno_ids

SHARED = Path(os.environ.get("AGPT_MEDRPG_SPLIT", default_medrpg_split()))


def test_the_bundled_split_file_matches_the_project_copy():
    shared = Path(__file__).resolve().parents[3].parent / "shared" / "mscxr_medrpg_split_ids.csv"
    if not shared.is_file():
        pytest.skip("no ../shared copy beside this checkout to compare against")
    assert Path(default_medrpg_split()).read_bytes() == shared.read_bytes()


def test_the_shared_split_file_has_the_documented_counts():
    assert b"\r\n" in SHARED.read_bytes()[:400]  # CRLF
    pairs = read_medrpg_split(SHARED)
    assert Counter(p.split for p in pairs) == {"train": 638, "val": 85, "test": 167}
    assert all(p.subject_id.isdigit() and p.study_id.isdigit() for p in pairs)  # p/s prefixes stripped
    patients = {s: {p.subject_id for p in pairs if p.split == s} for s in ("train", "val", "test")}
    assert [len(patients[s]) for s in ("train", "val", "test")] == [466, 66, 135]
    assert Counter(p.category for p in pairs)["Edema"] == 5


@pytest.mark.parametrize("version", ["1.0.0", "1.1.0"])
@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_medrpg_split_joins_both_file_kinds(raw, version, fmt):
    path = raw["mscxr_dir"] / f"MS_CXR_Local_Alignment_v{version}.{fmt}"
    samples, n_out = assign_splits(read_mscxr(path), "medrpg", path, raw["medrpg_split"])
    want = {PHRASES[k][2]: s for k, s in MEDRPG_SPLIT.items()}
    assert {s.label_text: s.split for s in samples} == want
    assert n_out == len(PHRASES) - len(MEDRPG_SPLIT)  # the two-box phrase is not in the MedRPG split
    ids = phrase_anno_ids()
    by_text = {s.label_text: s.anno_ids for s in samples}
    for k in MEDRPG_SPLIT:
        assert by_text[PHRASES[k][2]] == (ids[k][0],)


def test_mscxr_source_uses_the_split_column_and_refuses_v1_0_0(raw):
    path = raw["mscxr_dir"] / "MS_CXR_Local_Alignment_v1.1.0.csv"
    samples, n_out = assign_splits(read_mscxr(path), "mscxr", path)
    assert [s.split for s in samples] == [p[4] for p in PHRASES] and n_out == 0
    old = raw["mscxr_dir"] / "MS_CXR_Local_Alignment_v1.0.0.csv"
    with pytest.raises(DataError, match="needs the v1.1.0 file"):
        assign_splits(read_mscxr(old), "mscxr", old)
    with pytest.raises(ValueError, match="unknown split source 'official'; valid: medrpg, mscxr"):
        assign_splits(read_mscxr(old), "official", old)


def _edit_split_file(raw, tmp_path, fn) -> Path:
    lines = raw["medrpg_split"].read_bytes().decode().split("\r\n")
    lines = fn(lines)
    out = tmp_path / "split.csv"
    out.write_bytes("\r\n".join(lines).encode())
    return out


def test_json_join_verifies_category_and_dicom(raw, tmp_path):
    path = raw["mscxr_dir"] / "MS_CXR_Local_Alignment_v1.1.0.json"
    bad = _edit_split_file(
        raw, tmp_path, lambda ls: [ls[0], ls[1].replace("Pneumothorax", "Pneumonia"), *ls[2:]]
    )
    with pytest.raises(DataError, match=r"row 2.*anno_id 100 is .*Pneumothorax.*Pneumonia"):
        assign_splits(read_mscxr(path), "medrpg", path, bad)
    multi = _edit_split_file(
        raw, tmp_path, lambda ls: [ls[0], ls[1].replace("train,100,", "train,101,"), *ls[2:]]
    )
    with pytest.raises(DataError, match="anno_id 101 is .*Atelectasis"):
        assign_splits(read_mscxr(path), "medrpg", path, multi)
    unknown = _edit_split_file(
        raw, tmp_path, lambda ls: [ls[0], ls[1].replace("train,100,", "train,5000,"), *ls[2:]]
    )
    with pytest.raises(DataError, match="anno_id 5000 is not an annotation id"):
        assign_splits(read_mscxr(path), "medrpg", path, unknown)


def test_csv_join_fails_loudly_when_ambiguous(raw, tmp_path):
    # a second single-box Pneumothorax phrase in the same image makes (dicom_id, category) ambiguous
    from tests.unit.data.rawdata import write_mscxr_csv

    phrases = PHRASES + [(1, "Pneumothorax", "Tiny right apical pneumothorax.", [(5, 5, 20, 20)], "train")]
    path = write_mscxr_csv(tmp_path / "amb.csv", "1.0.0", phrases)
    with pytest.raises(DataError, match=r"ambiguous or missing join.*1 split row\(s\) but 2 single-box"):
        assign_splits(read_mscxr(path), "medrpg", path, raw["medrpg_split"])


def test_split_file_errors(raw, tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_medrpg_split(tmp_path / "nope.csv")
    nocol = _edit_split_file(raw, tmp_path, lambda ls: [ls[0].replace("anno_id", "annotation")] + ls[1:])
    with pytest.raises(DataError, match=r"missing required column\(s\) \['anno_id'\]"):
        read_medrpg_split(nocol)
    dup = _edit_split_file(raw, tmp_path, lambda ls: [ls[0], ls[1], ls[1], *ls[2:]])
    with pytest.raises(DataError, match="row 3: duplicate anno_id"):
        read_medrpg_split(dup)
    badsplit = _edit_split_file(raw, tmp_path, lambda ls: [ls[0], "validate" + ls[1][5:], *ls[2:]])
    with pytest.raises(DataError, match="bad split 'validate'"):
        read_medrpg_split(badsplit)
