"""Writes a tiny raw data set in the real on-disk formats (MIMIC-CXR(-JPG), Chest ImaGenome, MS-CXR)."""

from __future__ import annotations

import csv
import gzip
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from agpt.anatomy import SILVER_BOX_NAMES
from tests.unit.data.dicoms import write_dicom

MEDRPG_IDS = {
    "Cardiomegaly": 1,
    "Lung Opacity": 2,
    "Edema": 3,
    "Consolidation": 4,
    "Pneumonia": 5,
    "Atelectasis": 6,
    "Pneumothorax": 7,
    "Pleural Effusion": 8,
}
# deliberately NOT the MedRPG ids: readers must map through the file's categories
JSON_CATEGORY_IDS = {
    "Atelectasis": 11,
    "Cardiomegaly": 12,
    "Consolidation": 13,
    "Edema": 14,
    "Lung Opacity": 15,
    "Pleural Effusion": 16,
    "Pneumonia": 17,
    "Pneumothorax": 18,
}


@dataclass(frozen=True)
class Patient:
    index: int
    width: int
    height: int
    view: str = "PA"

    @property
    def subject_id(self) -> str:
        return f"1{self.index:07d}"

    @property
    def study_id(self) -> str:
        return f"5{self.index:07d}"

    @property
    def dicom_id(self) -> str:
        h = f"{self.index:08x}"
        return f"{h}-a1b2c3d4-e5f60718-293a4b5c-{h}"

    def rel(self, ext: str) -> str:
        return f"files/p{self.subject_id[:2]}/p{self.subject_id}/s{self.study_id}/{self.dicom_id}.{ext}"


PATIENTS = [
    Patient(i, 120 + 10 * (i % 3), 100 + 12 * (i % 4), "LATERAL" if i == 9 else "PA") for i in range(12)
]
IMAGENOME_SPLITS = {"train": [0, 1, 2, 3, 4, 5, 9], "valid": [6, 7], "test": [8]}
AVOID = [5]
# (patient, category, phrase, boxes xywh, v1.1.0 split)
PHRASES = [
    (1, "Pneumothorax", "Small left apical pneumothorax.", [(70, 5, 30, 20)], "train"),
    (
        1,
        "Atelectasis",
        "Bibasilar atelectasis, worse on the left.",
        [(10, 60, 30, 25), (70, 62, 35, 24)],
        "train",
    ),
    (7, "Cardiomegaly", 'Moderate "cardiomegaly", stable.', [(40, 40, 50, 40)], "val"),
    (8, "Pleural Effusion", "Small right pleural effusion.", [(5, 70, 40, 20)], "test"),
    (10, "Consolidation", "Right lower lobe consolidation.", [(10, 50, 40, 30)], "test"),
    (11, "Pneumonia", "Left lower lobe pneumonia.", [(60, 40, 40, 30)], "train"),
]
MEDRPG_SPLIT = {
    0: "train",
    2: "val",
    3: "test",
    4: "test",
    5: "train",
}  # phrase index -> split (single-box only)
MSCXR_HEADER = [
    "dicom_id",
    "category_name",
    "label_text",
    "path",
    "x",
    "y",
    "w",
    "h",
    "image_width",
    "image_height",
]


def anatomy_objects(p: Patient) -> list[dict]:
    """36 silver objects on a grid; patient 2 gets clippable boxes, patient 3 a zero-area box."""
    objs = []
    for k, name in enumerate(SILVER_BOX_NAMES):
        x1, y1 = 2 + (k % 6) * (p.width // 7), 2 + (k // 6) * (p.height // 7)
        box = [x1, y1, x1 + p.width // 8, y1 + p.height // 8]
        if p.index == 2 and name == "trachea":
            box[0] = -7  # negative: clipped
        if p.index == 2 and name == "spine":
            box[3] = p.height + 30  # past the bottom edge: clipped
        if p.index == 3 and name == "abdomen":
            box = [p.width + 5, 10, p.width + 20, 30]  # entirely outside: zero area after clipping
        objs.append(
            {
                "object_id": f"{p.dicom_id}_{name}",
                "bbox_name": name,
                "name": name.capitalize(),
                "synsets": ["C0000000"],
                "x1": 0,
                "y1": 0,
                "x2": 1,
                "y2": 1,
                "width": 1,
                "height": 1,
                "original_x1": box[0],
                "original_y1": box[1],
                "original_x2": box[2],
                "original_y2": box[3],
                "original_width": box[2] - box[0],
                "original_height": box[3] - box[1],
            }
        )
    return objs


def image_array(p: Patient) -> np.ndarray:
    rng = np.random.default_rng(p.index)
    return rng.integers(0, 4096, size=(p.height, p.width), dtype=np.uint16)


def write_mscxr_csv(path: Path, version: str, phrases=PHRASES) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(MSCXR_HEADER + (["split"] if version == "1.1.0" else []))
        for pi, cat, text, boxes, split in phrases:
            p = PATIENTS[pi]
            for x, y, bw, bh in boxes:
                w.writerow(
                    [p.dicom_id, cat, text, p.rel("jpg"), x, y, bw, bh, p.width, p.height]
                    + ([split] if version == "1.1.0" else [])
                )
    return path


def mscxr_json_doc(version: str, phrases=PHRASES) -> dict:
    images, annotations, image_ids = [], [], {}
    anno_id = 100
    for pi, cat, text, boxes, split in phrases:
        p = PATIENTS[pi]
        if p.dicom_id not in image_ids:
            image_ids[p.dicom_id] = 300 + len(image_ids)
            images.append(
                {
                    "id": image_ids[p.dicom_id],
                    "file_name": f"{p.dicom_id}.jpg",
                    "width": p.width,
                    "height": p.height,
                    "path": p.rel("jpg"),
                }
            )
        for x, y, bw, bh in boxes:
            ann = {
                "id": anno_id,
                "image_id": image_ids[p.dicom_id],
                "category_id": JSON_CATEGORY_IDS[cat],
                "bbox": [x + 0.25, y + 0.5, bw - 0.25, bh - 0.5],
                "label_text": text,
                "width": p.width,
                "height": p.height,
                "area": bw * bh,
                "iscrowd": 0,
            }
            if version == "1.1.0":
                ann["split"] = split
            annotations.append(ann)
            anno_id += 1
    categories = [{"id": i, "name": n, "supercategory": "finding"} for n, i in JSON_CATEGORY_IDS.items()]
    return {"images": images, "annotations": annotations, "categories": categories[::-1]}


def phrase_anno_ids() -> list[list[int]]:
    out, anno_id = [], 100
    for _, _, _, boxes, _ in PHRASES:
        out.append(list(range(anno_id, anno_id + len(boxes))))
        anno_id += len(boxes)
    return out


def write_medrpg_split(path: Path) -> Path:
    ids = phrase_anno_ids()
    lines = ["split,anno_id,image_id,category_id,category,subject_id,study_id,dicom_id,relative_path"]
    for split in ("train", "val", "test"):
        for k, s in MEDRPG_SPLIT.items():
            if s != split:
                continue
            pi, cat = PHRASES[k][0], PHRASES[k][1]
            p = PATIENTS[pi]
            lines.append(
                f"{split},{ids[k][0]},{pi + 3},{MEDRPG_IDS[cat]},{cat},p{p.subject_id},s{p.study_id},"
                f"{p.dicom_id},{p.rel('jpg')}"
            )
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    return path


def write_raw_dataset(root: Path, graphs: str = "dir") -> dict[str, Path]:
    """Writes the tiny data set under ``root``; ``graphs`` is ``dir`` or ``zip``."""
    jpg_root, dcm_root = root / "mimic-cxr-jpg", root / "mimic-cxr"
    meta_rows = []
    for p in PATIENTS:
        arr = image_array(p)
        for base, ext in ((jpg_root, "jpg"), (dcm_root, "dcm")):
            (base / p.rel(ext)).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray((arr >> 4).astype(np.uint8)).save(jpg_root / p.rel("jpg"), quality=95)
        write_dicom(dcm_root / p.rel("dcm"), arr, bits_stored=12, photometric="MONOCHROME2")
        meta_rows.append(
            [
                p.dicom_id,
                p.subject_id,
                p.study_id,
                "CHEST (PA AND LAT)",
                p.view,
                p.height,
                p.width,
                21530917,
                73412.25,
                "CHEST (PA AND LAT)",
                "postero-anterior",
                "Erect",
            ]
        )
    header = (
        "dicom_id,subject_id,study_id,PerformedProcedureStepDescription,ViewPosition,Rows,Columns,StudyDate,"
        "StudyTime,ProcedureCodeSequence_CodeMeaning,ViewCodeSequence_CodeMeaning,"
        "PatientOrientationCodeSequence_CodeMeaning"
    )
    with gzip.open(jpg_root / "mimic-cxr-2.0.0-metadata.csv.gz", "wt", newline="") as f:
        w = csv.writer(f)
        w.writerow(header.split(","))
        w.writerows(meta_rows)
    ig = root / "chest-imagenome" / "silver_dataset"
    (ig / "splits").mkdir(parents=True)
    graph_docs = {}
    for p in PATIENTS:
        if p.index == 4:
            continue  # missing scene graph
        graph_docs[p.dicom_id] = {
            "image_id": p.dicom_id,
            "viewpoint": p.view,
            "patient_id": int(p.subject_id),
            "study_id": int(p.study_id),
            "gender": "F",
            "age_decile": "60-70",
            "reason_for_exam": "",
            "objects": anatomy_objects(p),
            "attributes": [],
            "relationships": [],
        }
    if graphs == "dir":
        (ig / "scene_graph").mkdir()
        for dicom_id, doc in graph_docs.items():
            (ig / "scene_graph" / f"{dicom_id}_SceneGraph.json").write_text(json.dumps(doc))
    else:
        import zipfile

        with zipfile.ZipFile(ig / "scene_graph.zip", "w") as z:
            for dicom_id, doc in graph_docs.items():
                z.writestr(f"scene_graph/{dicom_id}_SceneGraph.json", json.dumps(doc))
    cols = ["subject_id", "study_id", "dicom_id", "path", "ViewPosition"]
    for name, members in (*IMAGENOME_SPLITS.items(), ("images_to_avoid", AVOID)):
        with open(ig / "splits" / f"{name}.csv", "w", newline="") as f:
            w = csv.writer(f)
            indexed = name != "images_to_avoid"
            w.writerow(([""] if indexed else []) + cols)
            for k, pi in enumerate(members):
                p = PATIENTS[pi]
                w.writerow(
                    ([k] if indexed else []) + [p.subject_id, p.study_id, p.dicom_id, p.rel("dcm"), p.view]
                )
    ms = root / "ms-cxr"
    ms.mkdir()
    for version in ("1.0.0", "1.1.0"):
        write_mscxr_csv(ms / f"MS_CXR_Local_Alignment_v{version}.csv", version)
        (ms / f"MS_CXR_Local_Alignment_v{version}.json").write_text(json.dumps(mscxr_json_doc(version)))
    return {
        "jpg_root": jpg_root,
        "dcm_root": dcm_root,
        "imagenome": root / "chest-imagenome",
        "mscxr_dir": ms,
        "medrpg_split": write_medrpg_split(root / "medrpg_split_ids.csv"),
    }
