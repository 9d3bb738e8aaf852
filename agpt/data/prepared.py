"""The prepared directory's CSV files: writing them (``prepare``) and reading them back (engine, baselines).

Layout and columns: :mod:`agpt.data.records`.  Readers validate the header and every row and
raise :class:`DataError` naming file and line.  :func:`anatomy_pairs` is the synonym hook of AGPT
pre-training: one (phrase, anatomy, box) per anatomy, the phrase drawn by a synonym sampler.
"""

from __future__ import annotations

import csv
import json
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import numpy as np

from agpt.anatomy import ANATOMIES
from agpt.data.records import (
    ANATOMY_COLUMNS,
    IMAGE_COLUMNS,
    PREPARED_MSCXR_COLUMNS,
    AnatomyImage,
    BoxXYXY,
    PhraseSample,
)
from agpt.errors import DataError

MSCXR_SPLITS: tuple[str, ...] = ("train", "val", "test")
ANATOMY_SPLITS: tuple[str, ...] = ("train", "val", "mscxr")


class SynonymSampler(Protocol):
    def sample(self, anatomy: str, rng: np.random.Generator) -> str: ...


def _num(v: float) -> str:
    """Integers without ``.0`` (MS-CXR CSV style); other floats at full precision."""
    f = float(v)
    return str(int(f)) if f.is_integer() else repr(f)


@contextmanager
def _writer(path: Path, columns: tuple[str, ...]):
    """A csv writer on ``path`` with the header row written."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(columns)
        yield w


def write_mscxr_csv(path: str | Path, samples: list[PhraseSample]) -> Path:
    """One row per box: MS-CXR v1.1.0 columns + ``subject_id``, ``anno_id``."""
    path = Path(path)
    with _writer(path, PREPARED_MSCXR_COLUMNS) as w:
        for s in samples:
            ids = list(s.anno_ids) if len(s.anno_ids) == len(s.boxes_xyxy) else [""] * len(s.boxes_xyxy)
            for (x1, y1, x2, y2), anno_id in zip(s.boxes_xyxy, ids):
                w.writerow(
                    [
                        s.dicom_id,
                        s.category_name,
                        s.label_text,
                        s.path,
                        _num(x1),
                        _num(y1),
                        _num(x2 - x1),
                        _num(y2 - y1),
                        s.image_width,
                        s.image_height,
                        s.split,
                        s.subject_id,
                        anno_id,
                    ]
                )
    return path


def write_anatomy_csv(path: str | Path, images: list[AnatomyImage]) -> Path:
    """Long format: one row per (image, anatomy), ANATOMIES order, xyxy original pixels."""
    path = Path(path)
    with _writer(path, ANATOMY_COLUMNS) as w:
        for img in images:
            for name in ANATOMIES:
                if name in img.boxes:
                    w.writerow(
                        [
                            img.dicom_id,
                            img.subject_id,
                            img.study_id,
                            img.path,
                            img.image_width,
                            img.image_height,
                            img.split,
                            name,
                            *(_num(v) for v in img.boxes[name]),
                        ]
                    )
    return path


def write_images_csv(path: str | Path, images: list[AnatomyImage]) -> Path:
    path = Path(path)
    with _writer(path, IMAGE_COLUMNS) as w:
        for img in images:
            w.writerow([img.dicom_id, img.subject_id, img.path, img.image_width, img.image_height])
    return path


def _rows(path: Path, columns: tuple[str, ...]):
    """``(line, dict)`` per data row after checking the header has ``columns``."""
    if not path.is_file():
        raise DataError(path, "prepared file not found (run agpt data prepare)")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(path, f"missing required column(s) {missing}; found {reader.fieldnames}")
        yield from enumerate(reader, start=2)


def _floats(path: Path, line: int, row: dict, keys: tuple[str, ...]) -> tuple[float, ...]:
    try:
        return tuple(float(row[k]) for k in keys)
    except (TypeError, ValueError):
        raise DataError(path, f"non-numeric value in {keys}: {[row.get(k) for k in keys]}", line) from None


def _check_split(path: Path, split: str, valid: tuple[str, ...]) -> None:
    if split not in valid:
        raise ValueError(f"unknown split {split!r} for {path.name}; valid: {', '.join(valid)}")


def read_prepared_mscxr(prepared_dir: str | Path, split: str) -> list[PhraseSample]:
    """``mscxr_<split>.csv`` -> phrases (boxes grouped by ``(dicom_id, label_text)``, file order)."""
    _check_split(Path(prepared_dir), split, MSCXR_SPLITS)
    path = Path(prepared_dir) / f"mscxr_{split}.csv"
    groups: dict[tuple[str, str], dict] = {}
    for line, row in _rows(path, PREPARED_MSCXR_COLUMNS):
        x, y, w, h, width, height = _floats(
            path, line, row, ("x", "y", "w", "h", "image_width", "image_height")
        )
        if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > width or y + h > height:
            raise DataError(
                path, f"box outside image or empty: {x:g},{y:g},{w:g},{h:g} in {width:g}x{height:g}", line
            )
        g = groups.setdefault((row["dicom_id"], row["label_text"]), {"row": row, "boxes": [], "ids": []})
        g["boxes"].append((x, y, x + w, y + h))
        if row["anno_id"]:
            g["ids"].append(int(row["anno_id"]))
    return [
        PhraseSample(
            dicom_id=g["row"]["dicom_id"],
            label_text=g["row"]["label_text"],
            category_name=g["row"]["category_name"],
            path=g["row"]["path"],
            image_width=int(float(g["row"]["image_width"])),
            image_height=int(float(g["row"]["image_height"])),
            boxes_xyxy=tuple(g["boxes"]),
            split=g["row"]["split"],
            subject_id=g["row"]["subject_id"],
            anno_ids=tuple(g["ids"]),
        )
        for g in groups.values()
    ]


def read_prepared_anatomy(prepared_dir: str | Path, split: str) -> list[AnatomyImage]:
    """``anatomy_<split>.csv`` (``split`` in train/val/mscxr) -> images with their anatomy boxes."""
    _check_split(Path(prepared_dir), split, ANATOMY_SPLITS)
    path = Path(prepared_dir) / ("anatomy_mscxr.csv" if split == "mscxr" else f"anatomy_{split}.csv")
    images: dict[str, dict] = {}
    for line, row in _rows(path, ANATOMY_COLUMNS):
        if row["anatomy"] not in ANATOMIES:
            raise DataError(path, f"unknown anatomy {row['anatomy']!r}", line)
        box = _floats(path, line, row, ("x1", "y1", "x2", "y2"))
        width, height = _floats(path, line, row, ("image_width", "image_height"))
        if not (0 <= box[0] < box[2] <= width and 0 <= box[1] < box[3] <= height):
            raise DataError(path, f"box {box} empty or outside the {width:g}x{height:g} image", line)
        g = images.setdefault(row["dicom_id"], {"row": row, "boxes": {}})
        g["boxes"][row["anatomy"]] = box
    out = []
    for dicom_id, g in images.items():
        r = g["row"]
        boxes: dict[str, BoxXYXY] = {a: g["boxes"][a] for a in ANATOMIES if a in g["boxes"]}
        out.append(
            AnatomyImage(
                dicom_id,
                r["subject_id"],
                r["study_id"],
                r["path"],
                int(float(r["image_width"])),
                int(float(r["image_height"])),
                r["split"],
                boxes,
            )
        )
    return out


def read_prepared_images(prepared_dir: str | Path) -> list[AnatomyImage]:
    """``images.csv`` -> one record per image (``boxes`` empty, ``split``/``study_id`` empty)."""
    path = Path(prepared_dir) / "images.csv"
    out = []
    for line, row in _rows(path, IMAGE_COLUMNS):
        width, height = _floats(path, line, row, ("image_width", "image_height"))
        if width <= 0 or height <= 0:
            raise DataError(path, f"bad image size {width:g}x{height:g}", line)
        out.append(
            AnatomyImage(row["dicom_id"], row["subject_id"], "", row["path"], int(width), int(height), "")
        )
    return out


def read_manifest(prepared_dir: str | Path) -> dict:
    path = Path(prepared_dir) / "manifest.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(path, "manifest not found (run agpt data prepare)") from None
    except ValueError as err:
        raise DataError(path, f"manifest is not valid JSON: {err}") from err


def anatomy_pairs(
    image: AnatomyImage, sampler: SynonymSampler | None, rng: np.random.Generator
) -> list[tuple[str, str, BoxXYXY]]:
    """``[(phrase, anatomy, box_xyxy)]`` for every anatomy of ``image``, in ANATOMIES order.

    ``phrase`` is ``sampler.sample(anatomy, rng)`` (a synonym), or the canonical name when
    ``sampler`` is None.  Boxes are xyxy in original pixels.
    """
    return [
        (anatomy if sampler is None else sampler.sample(anatomy, rng), anatomy, image.boxes[anatomy])
        for anatomy in ANATOMIES
        if anatomy in image.boxes
    ]
