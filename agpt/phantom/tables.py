"""Write the phantom's tables in the real formats: ImaGenome scene graphs and splits, MIMIC CSVs, MS-CXR v1.1.0."""

from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from pathlib import Path

import numpy as np

from agpt.anatomy import ANATOMIES, SILVER_BOX_NAMES
from agpt.phantom.plan import Plan, relative_path

# MS-CXR category ids as in MedRPG (datasets.md section 5); readers must map them through `categories`.
MSCXR_CATEGORY_IDS: dict[str, int] = {
    "Cardiomegaly": 1, "Lung Opacity": 2, "Edema": 3, "Consolidation": 4, "Pneumonia": 5,
    "Atelectasis": 6, "Pneumothorax": 7, "Pleural Effusion": 8,
}
SPLIT_COLUMNS = ("subject_id", "study_id", "dicom_id", "path", "ViewPosition")
METADATA_COLUMNS = ("dicom_id", "subject_id", "study_id", "PerformedProcedureStepDescription", "ViewPosition",
                    "Rows", "Columns", "StudyDate", "StudyTime", "ProcedureCodeSequence_CodeMeaning",
                    "ViewCodeSequence_CodeMeaning", "PatientOrientationCodeSequence_CodeMeaning")
MSCXR_CSV_COLUMNS = ("dicom_id", "category_name", "label_text", "path", "x", "y", "w", "h",
                     "image_width", "image_height", "split")


def letterbox_224(width: int, height: int) -> tuple[float, int, int]:
    """Chest ImaGenome's 224 frame: ``ratio``, ``left``, ``top`` (datasets.md section 2.3)."""
    ratio = 224 / max(width, height)
    new_w, new_h = int(width * ratio), int(height * ratio)
    return ratio, (224 - new_w) // 2, (224 - new_h) // 2


def _fake_cui(name: str) -> str:
    """Placeholder concept id (NOT a real UMLS CUI): stable per box name."""
    return f"C{zlib.crc32(name.encode()) % 10_000_000:07d}"


def quirky_silver_box(box, width: int, height: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """Integer silver box with detector-like jitter (sd 1.5 % of its size per edge, at most 4 px); ~3 % of
    boxes near an edge are pushed a few px outside it, as in the real data."""
    bx1, by1, bx2, by2 = box
    jx, jy = min(4.0, 0.015 * (bx2 - bx1)), min(4.0, 0.015 * (by2 - by1))
    x1, x2 = int(round(bx1 + rng.normal(0, jx))), int(round(bx2 + rng.normal(0, jx)))
    y1, y2 = int(round(by1 + rng.normal(0, jy))), int(round(by2 + rng.normal(0, jy)))
    if rng.random() < 0.03:
        k = int(rng.integers(1, 6))
        if x1 < 0.06 * width:
            x1 = -k
        elif x2 > 0.94 * width:
            x2 = width + k
        elif y2 > 0.94 * height:
            y2 = height + k
    return x1, y1, x2, y2


def scene_graph(spec, patient, study, boxes: dict, findings: list, rng: np.random.Generator) -> dict:
    """One ``<dicom_id>_SceneGraph.json`` object (findings: ``(category, sides, phrase)``)."""
    ratio, left, top = letterbox_224(spec.columns, spec.rows)
    objects = []
    for name in SILVER_BOX_NAMES:
        if name not in ANATOMIES and rng.random() < 0.02:
            continue  # a few non-AGPT boxes are missing, as in the real graphs
        ox1, oy1, ox2, oy2 = quirky_silver_box(boxes[name], spec.columns, spec.rows, rng)
        x1, y1 = int(round(ox1 * ratio + left)), int(round(oy1 * ratio + top))
        x2, y2 = int(round(ox2 * ratio + left)), int(round(oy2 * ratio + top))
        off_by_one = 1 if rng.random() < 0.05 else 0
        objects.append({
            "object_id": f"{spec.dicom_id}_{name}", "x1": x1, "y1": y1, "x2": x2, "y2": y2,
            "width": x2 - x1, "height": y2 - y1, "bbox_name": name, "synsets": [_fake_cui(name)],
            "name": name[0].upper() + name[1:], "original_x1": ox1, "original_y1": oy1,
            "original_x2": ox2, "original_y2": oy2, "original_width": ox2 - ox1 + off_by_one,
            "original_height": oy2 - oy1,
        })
    attributes = []
    for category, sides, phrase in findings:
        region = "left lung" if sides == ["left"] else "right lung" if sides == ["right"] else "lungs"
        if category == "Cardiomegaly":
            region = "cardiac silhouette"
        attributes.append({
            region: True, "bbox_name": region, "synsets": [_fake_cui(region)], "name": region.capitalize(),
            "attributes": [[f"anatomicalfinding|yes|{category.lower()}"]], "attributes_ids": [[_fake_cui(category)]],
            "phrases": [phrase or f"{category}."], "phrase_IDs": [f"{spec.study_id}|{len(attributes) + 1}"],
            "sections": ["finalreport"], "comparison_cues": [[]], "temporal_cues": [[]],
            "severity_cues": [[]], "texture_cues": [[]], "object_id": f"{spec.dicom_id}_{region}",
        })
    return {
        "image_id": spec.dicom_id, "viewpoint": spec.view, "patient_id": int(spec.subject_id),
        "study_id": int(spec.study_id), "gender": patient.sex, "age_decile": patient.age_decile,
        "reason_for_exam": study.reason, "objects": objects, "attributes": attributes, "relationships": [],
    }


def _write_csv(path: Path, header, rows, index: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["", *header] if index else list(header))
        for i, row in enumerate(rows):
            w.writerow([i, *row] if index else list(row))


def _write_csv_gz(path: Path, header, rows) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        gz.write(buf.getvalue().encode())  # mtime=0 and no name: byte-identical across runs


def write_imagenome_splits(root: Path, plan: Plan) -> None:
    by_split: dict[str, list] = {"train": [], "valid": [], "test": []}
    avoid = []
    for spec in plan.images:
        patient = plan.patients[spec.subject_id]
        row = (spec.subject_id, spec.study_id, spec.dicom_id, relative_path(spec, "dcm"), spec.view)
        by_split[patient.imagenome_split].append(row)
        if patient.avoid:
            avoid.append(row)
    for split, rows in by_split.items():
        _write_csv(root / f"{split}.csv", SPLIT_COLUMNS, rows, index=True)
    _write_csv(root / "images_to_avoid.csv", SPLIT_COLUMNS, avoid)


def write_mimic_tables(root: Path, plan: Plan) -> None:
    meta, split = [], []
    for spec in plan.images:
        study = plan.studies[spec.study_id]
        pa = spec.view == "PA"
        meta.append((spec.dicom_id, spec.subject_id, spec.study_id, "CHEST (PA AND LAT)" if pa else "CHEST (PORTABLE AP)",
                     spec.view, spec.rows, spec.columns, study.date, f"{study.time:g}",
                     "CHEST (PA AND LAT)" if pa else "CHEST (PORTABLE AP)",
                     "postero-anterior" if pa else "antero-posterior", "Erect"))
        split.append((spec.dicom_id, spec.study_id, spec.subject_id, plan.patients[spec.subject_id].mimic_split))
    _write_csv_gz(root / "mimic-cxr-2.0.0-metadata.csv.gz", METADATA_COLUMNS, meta)
    _write_csv_gz(root / "mimic-cxr-2.0.0-split.csv.gz", ("dicom_id", "study_id", "subject_id", "split"), split)


def write_mscxr(root: Path, plan: Plan, findings_by_id: dict[str, list]) -> tuple[int, int]:
    """MS_CXR_Local_Alignment_v1.1.0.{json,csv}; returns (phrases, boxes)."""
    images, annotations, rows = [], [], []
    n_phrases = 0
    for spec in plan.images:
        if spec.subset != "mscxr":
            continue
        image_id = len(images) + 1
        path = relative_path(spec, "jpg")
        images.append({"id": image_id, "file_name": f"{spec.dicom_id}.jpg", "width": spec.columns,
                       "height": spec.rows, "path": path})
        split = plan.patients[spec.subject_id].mscxr_split
        for category, phrase, boxes in findings_by_id[spec.dicom_id]:
            n_phrases += 1
            for x1, y1, x2, y2 in boxes:
                x1, y1 = max(0.0, x1), max(0.0, y1)
                x2, y2 = min(float(spec.columns), x2), min(float(spec.rows), y2)
                bbox = [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)]
                annotations.append({"id": len(annotations) + 1, "image_id": image_id,
                                    "category_id": MSCXR_CATEGORY_IDS[category], "bbox": bbox,
                                    "area": round(bbox[2] * bbox[3], 2), "iscrowd": 0, "label_text": phrase,
                                    "width": spec.columns, "height": spec.rows, "split": split})
                # the official converter casts the JSON floats with int() (truncation)
                rows.append((spec.dicom_id, category, phrase, path, *(int(v) for v in bbox),
                             spec.columns, spec.rows, split))
    categories = [{"id": i, "name": n} for n, i in sorted(MSCXR_CATEGORY_IDS.items(), key=lambda kv: kv[1])]
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "MS_CXR_Local_Alignment_v1.1.0.json", "w") as fh:
        json.dump({"info": {"description": "agpt phantom MS-CXR-like local alignment set", "version": "1.1.0"},
                   "images": images, "annotations": annotations, "categories": categories}, fh, indent=1)
    _write_csv(root / "MS_CXR_Local_Alignment_v1.1.0.csv", MSCXR_CSV_COLUMNS, rows)
    return n_phrases, len(annotations)
