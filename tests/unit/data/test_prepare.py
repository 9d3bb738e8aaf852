"""``prepare``: the prepared directory end to end, read back, leakage guard, and bad input."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from agpt.anatomy import ANATOMIES
from agpt.data.prepare import PrepareConfig, build_prepared, write_prepared
from agpt.data.prepared import (
    anatomy_pairs,
    read_manifest,
    read_prepared_anatomy,
    read_prepared_images,
    read_prepared_mscxr,
)
from agpt.data.records import ANATOMY_COLUMNS, IMAGE_COLUMNS, PREPARED_MSCXR_COLUMNS, REJECT_COLUMNS
from agpt.errors import DataError
from tests.unit.data.conftest import make_config
from tests.unit.data.rawdata import MEDRPG_SPLIT, PATIENTS, PHRASES

IDS = [p.dicom_id for p in PATIENTS]


def _header(path):
    return tuple(next(csv.reader(path.read_text().splitlines())))


@pytest.mark.parametrize(
    "fmt, mscxr, source",
    [
        ("jpg", "MS_CXR_Local_Alignment_v1.1.0.json", "medrpg"),
        ("dcm", "MS_CXR_Local_Alignment_v1.0.0.csv", "medrpg"),
        ("jpg", "MS_CXR_Local_Alignment_v1.1.0.csv", "mscxr"),
    ],
)
def test_prepare_writes_the_documented_layout_and_reads_back(raw, tmp_path, fmt, mscxr, source):
    data = build_prepared(make_config(raw, fmt, mscxr, split_source=source))
    manifest = write_prepared(data, tmp_path / "prep")
    out = tmp_path / "prep"
    for split in ("train", "val", "test"):
        assert _header(out / f"mscxr_{split}.csv") == PREPARED_MSCXR_COLUMNS
        assert read_prepared_mscxr(out, split) == data.mscxr[split]
    for split in ("train", "val"):
        assert _header(out / f"anatomy_{split}.csv") == ANATOMY_COLUMNS
        assert read_prepared_anatomy(out, split) == data.anatomy[split]
    assert read_prepared_anatomy(out, "mscxr") == data.anatomy["mscxr"]
    assert _header(out / "images.csv") == IMAGE_COLUMNS and _header(out / "rejects.csv") == REJECT_COLUMNS
    images = read_prepared_images(out)
    assert all(img.path.endswith("." + fmt) for img in images)
    assert read_manifest(out) == manifest and len(manifest["hash"]) == 64
    if source == "medrpg":
        got = {s.label_text: split for split in data.mscxr for s in data.mscxr[split]}
        assert got == {PHRASES[k][2]: v for k, v in MEDRPG_SPLIT.items()}
    else:
        assert sum(len(v) for v in data.mscxr.values()) == len(PHRASES)
    # pre-training: 0 and 2 survive; 1 (MS-CXR patient), 3 (zero-area box -> incomplete), 4 (no graph),
    # 5 (images_to_avoid), 9 (lateral) do not; val: 6 survives, 7 (MS-CXR patient) does not
    assert [i.dicom_id for i in data.anatomy["train"]] == [IDS[0], IDS[2]]
    assert [i.dicom_id for i in data.anatomy["val"]] == [IDS[6]]
    assert all(list(i.boxes) == list(ANATOMIES) for i in data.anatomy["train"])
    assert manifest["rejects"] == {
        "images to avoid": 1,
        "incomplete anatomy": 1,
        "leakage guard": 2,
        "missing scene graph": 1,
        "not frontal": 1,
        "zero-area box": 1,
    }
    assert manifest["leakage_guard"]["removed_patients"] == 2
    assert manifest["counts"]["imagenome_boxes"] == {
        "clipped_negative": 1,
        "clipped_outside": 1,
        "dropped_zero_area": 1,
        "kept": 3 * 29 + 28,
    }
    assert len(manifest["counts"]["anatomy_pairs_per_anatomy"]) == 29
    n_rejects = len((out / "rejects.csv").read_text().splitlines()) - 1
    assert n_rejects == manifest["n_rejects"] == 7
    for f in out.iterdir():  # the fixture DICOMs carry PatientName "Doe^Jane": it must reach no output
        assert "Doe" not in f.read_text()


@pytest.mark.parametrize("level", ["exists", "decode"])
def test_verify_levels_give_the_same_result(raw, level):
    default = build_prepared(make_config(raw))
    other = build_prepared(make_config(raw, verify_images=level))
    assert other.mscxr == default.mscxr and other.anatomy == default.anatomy


def test_exists_level_needs_metadata_for_sizes(raw):
    with pytest.raises(DataError, match="image size unknown: no MIMIC metadata row"):
        build_prepared(make_config(raw, "dcm", verify_images="exists"))
    jpg_meta = str(raw["jpg_root"] / "mimic-cxr-2.0.0-metadata.csv.gz")
    data = build_prepared(make_config(raw, "dcm", verify_images="exists", metadata=jpg_meta))
    assert data.counts["images"] == 8


def test_prepare_is_deterministic(raw, tmp_path):
    cfg = make_config(raw)
    a = write_prepared(build_prepared(cfg), tmp_path / "a")
    b = write_prepared(build_prepared(cfg), tmp_path / "b")
    assert a["hash"] == b["hash"]


@pytest.mark.parametrize(
    "mode, train, val, guarded",
    [
        ("all-mscxr", [0, 2], [6], 5),
        ("eval", [0, 1, 2], [6], 3),  # medrpg val/test patients: 7, 8, 10
        ("none", [0, 1, 2], [6, 7], 0),
    ],
)
def test_leakage_guard_modes(raw, mode, train, val, guarded):
    data = build_prepared(make_config(raw, leakage_guard=mode))
    assert [i.dicom_id for i in data.anatomy["train"]] == [IDS[k] for k in train]
    assert [i.dicom_id for i in data.anatomy["val"]] == [IDS[k] for k in val]
    assert data.leakage.guarded_patients == guarded
    assert data.leakage.removed_images_to_avoid == 1  # images_to_avoid.csv applies in every mode
    pretrain = {i.subject_id for s in ("train", "val") for i in data.anatomy[s]}
    evaluation = {s.subject_id for split in ("val", "test") for s in data.mscxr[split]}
    if mode != "none":
        assert not pretrain & evaluation


def test_anatomy_pairs_hook(raw):
    image = build_prepared(make_config(raw)).anatomy["train"][0]
    pairs = anatomy_pairs(image, None, np.random.default_rng(0))
    assert [p[0] for p in pairs] == list(ANATOMIES) and [p[1] for p in pairs] == list(ANATOMIES)
    assert pairs[0][2] == image.boxes["right lung"]

    class Upper:
        def sample(self, anatomy, rng):
            return f"{anatomy.upper()} {rng.integers(10)}"

    a = anatomy_pairs(image, Upper(), np.random.default_rng(1))
    b = anatomy_pairs(image, Upper(), np.random.default_rng(1))
    assert a == b and a[0][0].startswith("RIGHT LUNG ") and a[0][1] == "right lung"


def _remove_image(paths, k, ext="jpg"):
    (paths["jpg_root" if ext == "jpg" else "dcm_root"] / PATIENTS[k].rel(ext)).unlink()


@pytest.mark.parametrize(
    "damage, message, lost",
    [
        (lambda p: _remove_image(p, 0), "image file not found", 0),
        (
            lambda p: (p["jpg_root"] / PATIENTS[0].rel("jpg")).write_text("not an image"),
            "unreadable image",
            0,
        ),
        (lambda p: _remove_image(p, 8), "image file not found", 8),  # an MS-CXR test image
    ],
)
def test_bad_images_fail_or_are_skipped(raw_copy, tmp_path, damage, message, lost):
    damage(raw_copy)
    with pytest.raises(DataError, match=message):
        build_prepared(make_config(raw_copy))
    data = build_prepared(make_config(raw_copy, skip_bad=True))
    kinds = data.rejects.counts()
    assert kinds["bad image"] == 1 and data.rejects.n_bad == 1
    all_ids = {i.dicom_id for i in data.images()}
    assert IDS[lost] not in all_ids and ({IDS[0], IDS[8]} - {IDS[lost]}) <= all_ids
    write_prepared(data, tmp_path / "p")
    text = (tmp_path / "p" / "rejects.csv").read_text()
    assert message in text


def test_image_size_must_match_metadata_and_mscxr(raw_copy):
    from PIL import Image

    p = PATIENTS[6]
    Image.new("L", (p.width + 1, p.height)).save(raw_copy["jpg_root"] / p.rel("jpg"))
    with pytest.raises(DataError, match="image size mismatch: file is 121x"):
        build_prepared(make_config(raw_copy))
    # without metadata the header size is compared with MS-CXR's image_width/height
    p = PATIENTS[7]
    cfg = make_config(raw_copy, "dcm", skip_bad=True)
    from tests.unit.data.dicoms import write_dicom

    write_dicom(raw_copy["dcm_root"] / p.rel("dcm"), np.zeros((p.height + 2, p.width), np.uint16))
    data = build_prepared(cfg)
    assert any("MS-CXR says" in r.reason for r in data.rejects.rejects)


def test_view_position_from_imagenome_first_then_metadata(raw_copy):
    # blank the split CSV's ViewPosition of patient 0: the metadata (PA) decides; patient 9 stays lateral
    path = raw_copy["imagenome"] / "silver_dataset" / "splits" / "train.csv"
    rows = list(csv.reader(path.read_text().splitlines()))
    rows[1][5] = ""
    rows[-1][5] = ""
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    data = build_prepared(make_config(raw_copy))
    assert IDS[0] in {i.dicom_id for i in data.anatomy["train"]}
    assert [r.record for r in data.rejects.rejects if r.kind == "not frontal"] == [IDS[9]]


def test_imagenome_path_leaving_the_root(raw_copy):
    path = raw_copy["imagenome"] / "silver_dataset" / "splits" / "train.csv"
    rows = list(csv.reader(path.read_text().splitlines()))
    rows[1][4] = "files/../../../etc/passwd.dcm"
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    with pytest.raises(DataError, match=r"train.csv, row 2: bad path"):
        build_prepared(make_config(raw_copy))


def test_malformed_graph_through_prepare(raw_copy):
    p = PATIENTS[0]
    graph = raw_copy["imagenome"] / "silver_dataset" / "scene_graph" / f"{p.dicom_id}_SceneGraph.json"
    graph.write_text("{")
    with pytest.raises(DataError, match="SceneGraph.json: malformed scene graph"):
        build_prepared(make_config(raw_copy))
    data = build_prepared(make_config(raw_copy, skip_bad=True))
    assert data.rejects.counts()["malformed scene graph"] == 1
    assert IDS[0] not in {i.dicom_id for i in data.anatomy["train"]}


def test_config_validation_and_round_trip(raw):
    cfg = make_config(raw)
    assert PrepareConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown image_format 'png'; valid: jpg, dcm"):
        make_config(raw, "png")
    with pytest.raises(ValueError, match="unknown leakage_guard 'some'"):
        make_config(raw, leakage_guard="some")
    with pytest.raises(ValueError, match=r"unknown PrepareConfig field\(s\) \['colour'\]"):
        PrepareConfig.from_dict({**cfg.to_dict(), "colour": 1})


def test_prepared_readers_validate(tmp_path, raw):
    write_prepared(build_prepared(make_config(raw)), tmp_path)
    path = tmp_path / "anatomy_train.csv"
    lines = path.read_text().splitlines()
    lines[3] = lines[3].replace("right lung", "left ear", 1) if "right lung" in lines[3] else lines[3] + "x"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="anatomy_train.csv, row 4"):
        read_prepared_anatomy(tmp_path, "train")
    with pytest.raises(ValueError, match="unknown split 'test'"):
        read_prepared_anatomy(tmp_path, "test")
    (tmp_path / "manifest.json").unlink()
    with pytest.raises(DataError, match="manifest not found"):
        read_manifest(tmp_path)
    json.dumps(read_prepared_images(tmp_path)[0].__dict__)


@pytest.mark.parametrize("mode", ["all-mscxr", "eval"])
def test_patients_of_skipped_mscxr_records_stay_guarded(raw_copy, mode):
    # patient 7's only phrase (val) has an unknown category: skipped, but 7 is still an MS-CXR patient
    path = raw_copy["mscxr_dir"] / "MS_CXR_Local_Alignment_v1.1.0.csv"
    rows = list(csv.reader(path.read_text().splitlines()))
    for r in rows[1:]:
        if r[0] == IDS[7]:
            r[1] = "Fracture"
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    cfg = make_config(raw_copy, mscxr=path.name, split_source="mscxr", skip_bad=True, leakage_guard=mode)
    data = build_prepared(cfg)
    assert data.rejects.n_bad == 1
    assert IDS[7] not in {i.dicom_id for i in data.anatomy["val"]}
    none = build_prepared(
        make_config(raw_copy, mscxr=path.name, split_source="mscxr", skip_bad=True, leakage_guard="none")
    )
    assert IDS[7] in {i.dicom_id for i in none.anatomy["val"]}


def test_zipped_scene_graphs_and_crlf_csv_give_the_same_prepared_data(raw, tmp_path):
    from tests.unit.data.rawdata import write_raw_dataset

    zipped = write_raw_dataset(tmp_path / "z", graphs="zip")
    assert (zipped["imagenome"] / "silver_dataset" / "scene_graph.zip").is_file()
    csv_path = zipped["mscxr_dir"] / "MS_CXR_Local_Alignment_v1.1.0.csv"
    csv_path.write_bytes(csv_path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    a = build_prepared(make_config(raw, mscxr="MS_CXR_Local_Alignment_v1.1.0.csv", split_source="mscxr"))
    b = build_prepared(make_config(zipped, mscxr="MS_CXR_Local_Alignment_v1.1.0.csv", split_source="mscxr"))
    assert a.mscxr == b.mscxr and a.anatomy == b.anatomy and a.rejects.counts() == b.rejects.counts()
