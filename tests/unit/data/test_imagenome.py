"""Chest ImaGenome: split CSVs (with/without index column), scene graphs (folder or zip), odd boxes."""

from __future__ import annotations

import json
import shutil
from collections import Counter

import pytest

from agpt.anatomy import ANATOMIES
from agpt.data.imagenome import (
    SceneGraphStore,
    anatomy_boxes,
    read_images_to_avoid,
    read_split_csv,
    splits_dir,
)
from agpt.data.rejects import RejectLog
from agpt.errors import DataError
from tests.unit.data.rawdata import AVOID, IMAGENOME_SPLITS, PATIENTS, write_raw_dataset


def test_split_csvs_with_and_without_index_column(raw):
    d = splits_dir(raw["imagenome"])
    assert (d / "train.csv").read_text().startswith(",subject_id,study_id,dicom_id,path,ViewPosition")
    rows = read_split_csv(d / "train.csv")
    assert [r.dicom_id for r in rows] == [PATIENTS[i].dicom_id for i in IMAGENOME_SPLITS["train"]]
    assert rows[0].path.endswith(".dcm") and rows[0].subject_id == PATIENTS[0].subject_id
    assert read_images_to_avoid(raw["imagenome"]) == {PATIENTS[i].dicom_id for i in AVOID}


def test_split_csv_missing_column(tmp_path):
    (tmp_path / "t.csv").write_text(",subject_id,study_id,path\n0,10000001,50000001,files/x.dcm\n")
    with pytest.raises(DataError, match=r"t.csv: missing required column\(s\) \['dicom_id'\]"):
        read_split_csv(tmp_path / "t.csv")


@pytest.mark.parametrize("graphs", ["dir", "zip"])
def test_scene_graphs_from_folder_or_zip_give_the_29_anatomies_in_order(tmp_path, graphs):
    paths = write_raw_dataset(tmp_path, graphs=graphs)
    store = SceneGraphStore(paths["imagenome"])
    p = PATIENTS[0]
    assert p.dicom_id in store and PATIENTS[4].dicom_id not in store
    counts = Counter()
    boxes = anatomy_boxes(store.load(p.dicom_id), "g", p.dicom_id, p.width, p.height, counts, RejectLog())
    assert list(boxes) == list(ANATOMIES)
    obj = next(o for o in store.load(p.dicom_id)["objects"] if o["bbox_name"] == "carina")
    assert boxes["carina"] == tuple(
        float(obj[k]) for k in ("original_x1", "original_y1", "original_x2", "original_y2")
    )
    assert counts == {"kept": 29}
    with pytest.raises(DataError, match="missing scene graph"):
        store.load(PATIENTS[4].dicom_id)


def test_odd_boxes_are_clipped_or_dropped_and_counted(raw):
    store = SceneGraphStore(raw["imagenome"])
    p2, p3 = PATIENTS[2], PATIENTS[3]
    counts, log = Counter(), RejectLog()
    b2 = anatomy_boxes(store.load(p2.dicom_id), "g2", p2.dicom_id, p2.width, p2.height, counts, log)
    assert b2["trachea"][0] == 0.0 and b2["spine"][3] == p2.height
    assert counts == {"clipped_negative": 1, "clipped_outside": 1, "kept": 29}
    b3 = anatomy_boxes(store.load(p3.dicom_id), "g3", p3.dicom_id, p3.width, p3.height, counts, log)
    assert "abdomen" not in b3 and len(b3) == 28
    assert counts["dropped_zero_area"] == 1
    assert [(r.file, r.row, r.kind) for r in log.rejects] == [("g3", "objects[34]", "zero-area box")]


def _damage_graph(raw_copy, fn):
    p = PATIENTS[0]
    path = raw_copy["imagenome"] / "silver_dataset" / "scene_graph" / f"{p.dicom_id}_SceneGraph.json"
    path.write_text(fn(json.loads(path.read_text())) if callable(fn) else fn)
    return p, path


@pytest.mark.parametrize(
    "damage, message",
    [
        ("{truncated", "invalid JSON"),
        (lambda d: json.dumps([d]), "top level is not an object"),
        (lambda d: json.dumps({**d, "objects": None}), "no 'objects' list"),
        (lambda d: json.dumps({**d, "objects": [{"bbox_name": "trachea", "original_x1": 1}]}), "bad object"),
        (lambda d: json.dumps({**d, "objects": d["objects"] + d["objects"][:1]}), "duplicate bbox_name"),
        (lambda d: json.dumps({**d, "image_id": "something-else"}), "image_id"),
    ],
)
def test_malformed_scene_graphs_raise_naming_the_file(raw_copy, damage, message):
    p, path = _damage_graph(raw_copy, damage)
    store = SceneGraphStore(raw_copy["imagenome"])
    with pytest.raises(DataError, match=message) as err:
        doc = store.load(p.dicom_id)
        anatomy_boxes(doc, str(path), p.dicom_id, p.width, p.height, Counter(), RejectLog())
    assert str(path) in str(err.value)


def test_no_scene_graphs_at_all(raw_copy):
    shutil.rmtree(raw_copy["imagenome"] / "silver_dataset" / "scene_graph")
    with pytest.raises(
        DataError, match="no silver_dataset/scene_graph/ folder or silver_dataset/scene_graph.zip"
    ):
        SceneGraphStore(raw_copy["imagenome"])


def test_corrupt_zip(tmp_path):
    (tmp_path / "silver_dataset").mkdir()
    (tmp_path / "silver_dataset" / "scene_graph.zip").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="cannot open scene-graph zip"):
        SceneGraphStore(tmp_path)
