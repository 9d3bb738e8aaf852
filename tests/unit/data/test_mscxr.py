"""MS-CXR readers: both generations, CSV and JSON, grouping, category mapping and bad rows."""

from __future__ import annotations

import csv
import json

import pytest

from agpt.data.mscxr import read_mscxr
from agpt.data.rejects import RejectLog
from agpt.errors import DataError
from tests.unit.data.rawdata import (
    MSCXR_HEADER,
    PATIENTS,
    PHRASES,
    mscxr_json_doc,
    phrase_anno_ids,
    write_mscxr_csv,
)


@pytest.mark.parametrize("version", ["1.0.0", "1.1.0"])
@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_both_generations_group_boxes_into_phrases(raw, version, fmt):
    samples = read_mscxr(raw["mscxr_dir"] / f"MS_CXR_Local_Alignment_v{version}.{fmt}")
    assert [(s.dicom_id, s.label_text) for s in samples] == [
        (PATIENTS[p].dicom_id, t) for p, _, t, _, _ in PHRASES
    ]
    for s, (pi, cat, text, boxes, split) in zip(samples, PHRASES):
        assert s.category_name == cat  # JSON ids 11..18 mapped through the file's categories
        assert s.split == (split if version == "1.1.0" else "")
        assert (s.image_width, s.image_height) == (PATIENTS[pi].width, PATIENTS[pi].height)
        assert s.subject_id == PATIENTS[pi].subject_id
        assert len(s.boxes_xyxy) == len(boxes)
        for got, (x, y, w, h) in zip(s.boxes_xyxy, boxes):
            want = (x, y, x + w, y + h) if fmt == "csv" else (x + 0.25, y + 0.5, x + w, y + h)
            assert got == pytest.approx(want)
    atelectasis = samples[1]
    assert (
        atelectasis.label_text == "Bibasilar atelectasis, worse on the left."
        and len(atelectasis.boxes_xyxy) == 2
    )
    assert samples[2].label_text == 'Moderate "cardiomegaly", stable.'
    if fmt == "json":
        assert [list(s.anno_ids) for s in samples] == phrase_anno_ids()


def test_csv_columns_read_by_name_in_any_order(tmp_path):
    src = write_mscxr_csv(tmp_path / "a.csv", "1.1.0")
    rows = list(csv.DictReader(src.read_text().splitlines()))
    cols = list(reversed(rows[0].keys()))
    with open(tmp_path / "b.csv", "w", newline="") as f:
        w = csv.DictWriter(f, cols)
        w.writeheader()
        w.writerows(rows)
    assert read_mscxr(tmp_path / "b.csv") == read_mscxr(src)


def _csv_with(tmp_path, mutate, version="1.1.0"):
    src = write_mscxr_csv(tmp_path / "src.csv", version)
    rows = list(csv.DictReader(src.read_text().splitlines()))
    header = list(rows[0].keys())
    header = mutate(rows, header) or header
    path = tmp_path / "bad.csv"
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, header, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


@pytest.mark.parametrize(
    "mutate, message, line",
    [
        (lambda rows, h: rows[0].update(category_name="Fracture"), "unknown category", 2),
        (lambda rows, h: rows[2].update(label_text="   "), "empty phrase", 4),
        (lambda rows, h: rows[3].update(x="100", w="50"), "box outside image", 5),
        (lambda rows, h: rows[0].update(y="-1"), "box outside image", 2),
        (lambda rows, h: rows[0].update(w="0"), "empty box", 2),
        (lambda rows, h: rows[2].update(image_width="999"), "inconsistent image size", 3),
        (lambda rows, h: rows[0].update(path="files/p10/p10000001/s50000001/other.jpg"), "bad path", 2),
        (lambda rows, h: rows[0].update(path="../../etc/passwd"), "bad path", 2),
        (lambda rows, h: rows[0].update(split="validate"), "bad split", 2),
        (lambda rows, h: rows[0].update(x="ten"), "bad number", 2),
        (lambda rows, h: rows[0].update(dicom_id="ABC"), "bad dicom_id", 2),
    ],
)
def test_bad_csv_rows_name_file_and_row(tmp_path, mutate, message, line):
    path = _csv_with(tmp_path, mutate)
    with pytest.raises(DataError) as err:
        read_mscxr(path)
    assert message in str(err.value) and str(path) in str(err.value) and err.value.row == line


def test_missing_required_column(tmp_path):
    path = _csv_with(tmp_path, lambda rows, h: [c for c in h if c != "image_height"])
    with pytest.raises(DataError, match=r"missing required column\(s\) \['image_height'\]"):
        read_mscxr(path)


def test_skip_bad_drops_the_whole_phrase_and_lists_every_box(tmp_path):
    # the second box of the two-box atelectasis phrase is outside its image
    path = _csv_with(tmp_path, lambda rows, h: rows[2].update(x="119"))
    log = RejectLog(skip_bad=True)
    samples = read_mscxr(path, log)
    assert [s.label_text for s in samples] == [t for i, (_, _, t, _, _) in enumerate(PHRASES) if i != 1]
    assert [(r.row, r.kind, r.bad) for r in log.rejects] == [
        ("4", "box outside image", True),
        ("3", "phrase has a rejected box", False),
    ]


def test_json_unknown_category_and_image(tmp_path):
    doc = mscxr_json_doc("1.1.0")
    doc["annotations"][0]["category_id"] = 99
    (tmp_path / "a.json").write_text(json.dumps(doc))
    with pytest.raises(DataError, match=r"annotations\[0\].*unknown category: category_id 99"):
        read_mscxr(tmp_path / "a.json")
    doc = mscxr_json_doc("1.1.0")
    doc["annotations"][1]["image_id"] = 12345
    (tmp_path / "b.json").write_text(json.dumps(doc))
    with pytest.raises(DataError, match="unknown image"):
        read_mscxr(tmp_path / "b.json")


def test_json_category_name_must_be_a_finding(tmp_path):
    doc = mscxr_json_doc("1.0.0")
    doc["categories"][0]["name"] = "Nodule"
    (tmp_path / "a.json").write_text(json.dumps(doc))
    with pytest.raises(DataError, match="unknown category: 'Nodule'"):
        read_mscxr(tmp_path / "a.json")


@pytest.mark.parametrize("text", ["{not json", json.dumps({"images": []}), json.dumps([1, 2])])
def test_malformed_json(tmp_path, text):
    (tmp_path / "a.json").write_text(text)
    with pytest.raises(DataError, match="a.json"):
        read_mscxr(tmp_path / "a.json")


def test_missing_file_and_wrong_suffix(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_mscxr(tmp_path / "nope.csv")
    (tmp_path / "x.txt").write_text("")
    with pytest.raises(DataError, match=".csv or .json"):
        read_mscxr(tmp_path / "x.txt")


def test_header_only_csv_is_empty(tmp_path):
    (tmp_path / "e.csv").write_text(",".join(MSCXR_HEADER) + "\n")
    assert read_mscxr(tmp_path / "e.csv") == []
