"""MIMIC-CXR layout: path building/parsing, the data-root guard, the metadata CSV."""

from __future__ import annotations

import gzip

import pytest

from agpt.data.mimic import image_relpath, is_frontal, parse_image_path, read_metadata, resolve_image_path
from agpt.errors import DataError

DICOM = "0f1e2d3c-4b5a6978-8796a5b4-c3d2e1f0-01234567"


def test_build_and_parse_round_trip():
    rel = image_relpath("p18888802", "s58888802", DICOM, "jpg")
    assert rel == f"files/p18/p18888802/s58888802/{DICOM}.jpg"
    parsed = parse_image_path(rel)
    assert (parsed.subject_id, parsed.study_id, parsed.dicom_id, parsed.ext) == (
        "18888802",
        "58888802",
        DICOM,
        ".jpg",
    )
    assert str(parsed.with_ext("dcm")) == rel[:-4] + ".dcm"


@pytest.mark.parametrize(
    "rel",
    [
        f"files/p19/p18888802/s58888802/{DICOM}.jpg",  # wrong group folder
        f"files/p18/p18888802/58888802/{DICOM}.jpg",  # no s prefix
        f"files/p18/p18888802/s58888802/{DICOM}.gif",  # unknown extension
        f"files/p18/p18888802/s58888802/{DICOM}",  # no extension
        f"files/p18/p18888802/s58888802/../{DICOM}.jpg",
        f"/files/p18/p18888802/s58888802/{DICOM}.jpg",
        "files/p18/p18888802/s58888802/NOT-A-DICOM-ID.jpg",
    ],
)
def test_parse_refuses_malformed_paths(rel):
    with pytest.raises(ValueError):
        parse_image_path(rel)


def test_resolve_refuses_paths_leaving_the_root(tmp_path):
    assert resolve_image_path(tmp_path, "files/a.jpg") == tmp_path / "files" / "a.jpg"
    for rel in ("../outside.jpg", "files/../../outside.jpg", "/etc/passwd", ""):
        with pytest.raises(DataError, match="image root"):
            resolve_image_path(tmp_path, rel)


def test_metadata_read_by_column_name(tmp_path):
    path = tmp_path / "m.csv.gz"
    with gzip.open(path, "wt") as f:
        f.write("Columns,ViewPosition,dicom_id,Rows,study_id,subject_id,StudyTime\n")
        f.write(f"2544,PA,{DICOM},3056,58888802,18888802,73412.25\n")
        f.write(f"2000,,{DICOM[:-1]}8,2000,58888802,18888802,1.0\n")
    meta = read_metadata(path)
    m = meta[DICOM]
    assert (m.columns, m.rows, m.view_position, m.subject_id) == (2544, 3056, "PA", "18888802")
    assert is_frontal(m.view_position) and not is_frontal(meta[DICOM[:-1] + "8"].view_position)


def test_metadata_errors(tmp_path):
    (tmp_path / "m.csv").write_text(f"dicom_id,subject_id,study_id,ViewPosition,Rows\n{DICOM},1,5,PA,10\n")
    with pytest.raises(DataError, match=r"missing required column\(s\) \['Columns'\]"):
        read_metadata(tmp_path / "m.csv")
    (tmp_path / "n.csv").write_text(
        f"dicom_id,subject_id,study_id,ViewPosition,Rows,Columns\n{DICOM},1,5,PA,10,x\n"
    )
    with pytest.raises(DataError, match="n.csv, row 2: Rows/Columns not integers"):
        read_metadata(tmp_path / "n.csv")
