"""Every file of the phantom is in the documented real format, and ids, sizes and boxes agree across files."""

import csv
import gzip
import json
import re
from collections import Counter, defaultdict

import numpy as np
import pydicom
import pytest
from PIL import Image

from agpt.anatomy import ANATOMIES, FINDING_CATEGORIES, SILVER_BOX_NAMES
from agpt.phantom import FAKE_IDENTIFIER_MARKER
from agpt.phantom.dicom_writer import mimic_jpg_pixels

DICOM_ID = re.compile(r"^[0-9a-f]{8}(-[0-9a-f]{8}){4}$")
SUBJECT, STUDY = re.compile(r"^1\d{7}$"), re.compile(r"^5\d{7}$")


def _rows(path):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def meta(phantom_dir):
    return {r["dicom_id"]: r for r in _rows(phantom_dir / "mimic-cxr-jpg/mimic-cxr-2.0.0-metadata.csv.gz")}


@pytest.fixture(scope="module")
def mscxr_json(phantom_dir):
    return json.loads((phantom_dir / "ms-cxr/MS_CXR_Local_Alignment_v1.1.0.json").read_text())


def test_mimic_tables_and_ids(phantom_dir, meta):
    assert len(meta) == 50
    header = gzip.open(phantom_dir / "mimic-cxr-jpg/mimic-cxr-2.0.0-metadata.csv.gz", "rt").readline().strip()
    assert header.split(",")[:7] == ["dicom_id", "subject_id", "study_id", "PerformedProcedureStepDescription",
                                     "ViewPosition", "Rows", "Columns"]
    for r in meta.values():
        assert DICOM_ID.match(r["dicom_id"]) and len(r["dicom_id"]) == 44
        assert SUBJECT.match(r["subject_id"]) and STUDY.match(r["study_id"])
        assert r["ViewPosition"] in {"PA", "AP"} and r["StudyDate"].startswith("21")
        assert 512 <= max(int(r["Rows"]), int(r["Columns"])) <= 768
        float(r["StudyTime"])
    split = _rows(phantom_dir / "mimic-cxr-jpg/mimic-cxr-2.0.0-split.csv.gz")
    assert {r["dicom_id"] for r in split} == set(meta)
    assert {r["split"] for r in split} <= {"train", "validate", "test"}
    assert len({r["study_id"] for r in meta.values()}) == 50  # one frontal image per study


def test_dicom_headers_pixels_and_jpgs(phantom_dir, meta):
    photometric, bits, voi = Counter(), Counter(), Counter()
    for dicom_id, r in meta.items():
        rel = f"files/p{r['subject_id'][:2]}/p{r['subject_id']}/s{r['study_id']}/{dicom_id}"
        ds = pydicom.dcmread(phantom_dir / "mimic-cxr" / f"{rel}.dcm")
        assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
        assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.1.1" and ds.Modality == "DX"
        assert (ds.Rows, ds.Columns) == (int(r["Rows"]), int(r["Columns"]))
        assert ds.BitsAllocated == 16 and ds.BitsStored in (12, 16) and ds.HighBit == ds.BitsStored - 1
        assert ds.PixelRepresentation == 0 and ds.ViewPosition == r["ViewPosition"]
        assert ds.pixel_array.max() < 2 ** ds.BitsStored
        for tag in ("PatientName", "PatientID", "AccessionNumber", "InstitutionName"):
            assert FAKE_IDENTIFIER_MARKER in str(ds.get(tag)), tag
        assert str(ds.PatientName).startswith("PHANTOM^DONOTLEAK^") and ds.PatientBirthDate.startswith("1900")
        assert ("WindowCenter" in ds) != ("VOILUTSequence" in ds)
        photometric[ds.PhotometricInterpretation] += 1
        bits[ds.BitsStored] += 1
        voi["lut" if "VOILUTSequence" in ds else "rescale" if "RescaleSlope" in ds else "window"] += 1
        jpg = np.asarray(Image.open(phantom_dir / "mimic-cxr-jpg" / f"{rel}.jpg"))
        assert jpg.shape == (ds.Rows, ds.Columns) and jpg.dtype == np.uint8
        assert np.abs(jpg.astype(int) - mimic_jpg_pixels(ds)).mean() < 2.0  # JPEG q95 of the recipe
        # after MONOCHROME1 inversion the lungs are dark and the heart bright, where the scene graph says
        graph = json.loads((phantom_dir / "chest-imagenome/silver_dataset/scene_graph"
                            / f"{dicom_id}_SceneGraph.json").read_text())
        boxes = {o["bbox_name"]: o for o in graph["objects"]}

        def centre_patch(name):
            o = boxes[name]
            cx, cy = (o["original_x1"] + o["original_x2"]) // 2, (o["original_y1"] + o["original_y2"]) // 2
            return jpg[cy - 4:cy + 4, cx - 4:cx + 4].mean()

        lung = min(centre_patch("right mid lung zone"), centre_patch("left upper lung zone"))
        assert lung + 60 < centre_patch("cardiac silhouette"), dicom_id
    assert set(photometric) == {"MONOCHROME1", "MONOCHROME2"} and set(bits) == {12, 16}
    assert set(voi) == {"lut", "rescale", "window"}


def test_scene_graphs(phantom_dir, meta):
    graphs = sorted((phantom_dir / "chest-imagenome/silver_dataset/scene_graph").glob("*_SceneGraph.json"))
    assert {g.name.removesuffix("_SceneGraph.json") for g in graphs} == set(meta)
    quirky = 0
    for path in graphs:
        g = json.loads(path.read_text())
        assert set(g) == {"image_id", "viewpoint", "patient_id", "study_id", "gender", "age_decile",
                          "reason_for_exam", "objects", "attributes", "relationships"}
        r = meta[g["image_id"]]
        assert str(g["patient_id"]) == r["subject_id"] and str(g["study_id"]) == r["study_id"]
        W, H = int(r["Columns"]), int(r["Rows"])
        ratio = 224 / max(W, H)
        left, top = (224 - int(W * ratio)) // 2, (224 - int(H * ratio)) // 2
        names = [o["bbox_name"] for o in g["objects"]]
        assert set(ANATOMIES) <= set(names) <= set(SILVER_BOX_NAMES) and len(names) == len(set(names))
        for o in g["objects"]:
            assert o["object_id"] == f"{g['image_id']}_{o['bbox_name']}"
            x1, y1, x2, y2 = (o[f"original_{k}"] for k in ("x1", "y1", "x2", "y2"))
            assert x2 > x1 and y2 > y1
            assert -0.06 * H <= y1 and y2 <= 1.06 * H and -8 <= x1 and x2 <= W + 8
            quirky += x1 < 0 or y1 < 0 or x2 > W or y2 > H
            assert abs(o["x1"] - (x1 * ratio + left)) <= 0.5 and abs(o["y2"] - (y2 * ratio + top)) <= 0.5
            assert o["width"] == o["x2"] - o["x1"] and abs(o["original_width"] - (x2 - x1)) <= 1
        b = {o["bbox_name"]: o for o in g["objects"]}
        # patient's right lung is on the image left; zones stack from top to bottom
        assert b["right lung"]["original_x2"] < b["left lung"]["original_x2"]
        assert b["right upper lung zone"]["original_y1"] < b["right lower lung zone"]["original_y1"]
    assert 0 < quirky < 0.2 * 36 * len(graphs)


def test_imagenome_splits(phantom_dir, meta):
    root = phantom_dir / "chest-imagenome/silver_dataset/splits"
    seen = []
    for name in ("train", "valid", "test"):
        lines = (root / f"{name}.csv").read_text().splitlines()
        assert lines[0] == ",subject_id,study_id,dicom_id,path,ViewPosition"
        for i, row in enumerate(_rows(root / f"{name}.csv")):
            assert row[""] == str(i) and row["path"].endswith(f"{row['dicom_id']}.dcm")
            assert row["path"].startswith(f"files/p{row['subject_id'][:2]}/p{row['subject_id']}/s{row['study_id']}/")
            seen.append(row["dicom_id"])
    assert sorted(seen) == sorted(meta)
    avoid = (root / "images_to_avoid.csv").read_text().splitlines()
    assert avoid[0] == "subject_id,study_id,dicom_id,path,ViewPosition"


def test_mscxr_csv_json_agree(phantom_dir, meta, mscxr_json):
    rows = _rows(phantom_dir / "ms-cxr/MS_CXR_Local_Alignment_v1.1.0.csv")
    assert list(rows[0]) == ["dicom_id", "category_name", "label_text", "path", "x", "y", "w", "h",
                             "image_width", "image_height", "split"]
    cats = {c["id"]: c["name"] for c in mscxr_json["categories"]}
    assert sorted(cats.values()) == sorted(FINDING_CATEGORIES)
    images = {im["id"]: im for im in mscxr_json["images"]}
    assert len(rows) == len(mscxr_json["annotations"]) and len(images) == 20
    for row, ann in zip(rows, mscxr_json["annotations"]):
        im = images[ann["image_id"]]
        m = meta[row["dicom_id"]]
        assert im["file_name"] == f"{row['dicom_id']}.jpg" and im["path"] == row["path"]
        assert (int(row["image_width"]), int(row["image_height"])) == (im["width"], im["height"]) \
            == (int(m["Columns"]), int(m["Rows"]))
        assert [int(row[k]) for k in "xywh"] == [int(v) for v in ann["bbox"]]  # converter truncation
        assert cats[ann["category_id"]] == row["category_name"] and ann["label_text"] == row["label_text"]
        x, y, w, h = ann["bbox"]
        assert x >= 0 and y >= 0 and w > 0 and h > 0 and x + w <= im["width"] and y + h <= im["height"]
        assert row["split"] in {"train", "val", "test"} and row["label_text"].endswith(".")
        assert (phantom_dir / "mimic-cxr-jpg" / row["path"]).is_file()


def test_mscxr_split_by_patient_and_patients_in_imagenome(phantom_dir, mscxr_json):
    rows = _rows(phantom_dir / "ms-cxr/MS_CXR_Local_Alignment_v1.1.0.csv")
    split_of = defaultdict(set)
    for r in rows:
        split_of[r["path"].split("/")[2]].add(r["split"])
    assert all(len(s) == 1 for s in split_of.values())
    imagenome = set()
    for name in ("train", "valid", "test"):
        imagenome |= {"p" + r["subject_id"] for r in _rows(phantom_dir / f"chest-imagenome/silver_dataset/splits/{name}.csv")}
    assert set(split_of) <= imagenome
    summary = json.loads((phantom_dir / "phantom.json").read_text())
    assert summary["counts"]["pretrain_images_of_mscxr_patients"] > 0  # the leakage guard has work to do


def test_multibox_phrases_and_laterality(phantom_dir):
    rows = _rows(phantom_dir / "ms-cxr/MS_CXR_Local_Alignment_v1.1.0.csv")
    groups = defaultdict(list)
    for r in rows:
        groups[(r["dicom_id"], r["label_text"])].append(r)
    assert any(len(g) > 1 for g in groups.values()) and any(len(g) == 1 for g in groups.values())
    for (_, text), g in groups.items():
        words = text.lower().replace(".", " ").replace(",", " ").split()
        for r in g:
            cx = (int(r["x"]) + int(r["w"]) / 2) / int(r["image_width"])
            if "left" in words and "right" not in words and "both" not in words and "bilateral" not in words:
                assert cx > 0.45, text  # the patient's left is on the image right
            if "right" in words and "left" not in words and "bilateral" not in words:
                assert cx < 0.55, text


def test_every_planned_finding_became_a_phrase(phantom_dir):
    from agpt.phantom import PhantomConfig, make_plan

    summary = json.loads((phantom_dir / "phantom.json").read_text())
    plan = make_plan(PhantomConfig.from_dict(summary["config"]))
    planned = sum(len(s.categories) for s in plan.images if s.subset == "mscxr")
    assert summary["counts"]["mscxr_phrases"] == planned and summary["counts"]["mscxr_dropped_findings"] == 0
    assert summary["counts"]["mscxr_boxes"] >= planned
