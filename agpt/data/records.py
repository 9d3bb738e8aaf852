"""Records shared by the readers, the engine and the baselines, and the prepared-directory layout.

``agpt data prepare`` turns the users' raw files into a *prepared directory*; everything
downstream (cache, training, evaluation, baselines, report) reads only that directory:

- ``mscxr_{train,val,test}.csv``: MS-CXR v1.1.0 CSV columns (one row per box, pixel xywh,
  top-left origin) with ``split`` resolved by the chosen split source, plus ``subject_id``
  and ``anno_id`` (empty where unknown).  Each file is a valid ``agpt score --gold``.
- ``anatomy_{train,val}.csv``: AGPT pre-training boxes, long format, one row per
  (image, anatomy): ``ANATOMY_COLUMNS``; xyxy in original pixels; leakage-filtered.
- ``anatomy_mscxr.csv``: the same columns for the MS-CXR images (never used for training;
  the anatomy-lookup baseline reads it).
- ``images.csv``: every image the above refer to: ``IMAGE_COLUMNS``; ``path`` relative to the
  image root, with the extension of the chosen image format (``.dcm`` or ``.jpg``).
- ``manifest.json``: inputs, settings, counts, rejects by reason, leakage-guard removals, ``hash``.
- ``rejects.csv``: ``file,row,record,reason`` for every skipped record (empty when none).
"""

from __future__ import annotations

from dataclasses import dataclass, field

MSCXR_COLUMNS: tuple[str, ...] = (
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
)
PREPARED_MSCXR_COLUMNS: tuple[str, ...] = (*MSCXR_COLUMNS, "split", "subject_id", "anno_id")
ANATOMY_COLUMNS: tuple[str, ...] = (
    "dicom_id",
    "subject_id",
    "study_id",
    "path",
    "image_width",
    "image_height",
    "split",
    "anatomy",
    "x1",
    "y1",
    "x2",
    "y2",
)
IMAGE_COLUMNS: tuple[str, ...] = ("dicom_id", "subject_id", "path", "image_width", "image_height")
REJECT_COLUMNS: tuple[str, ...] = ("file", "row", "record", "reason")

BoxXYXY = tuple[float, float, float, float]


@dataclass(frozen=True)
class PhraseSample:
    """One MS-CXR phrase in one image with all of its gold boxes (grouped by ``(dicom_id, label_text)``)."""

    dicom_id: str
    label_text: str
    category_name: str
    path: str  # relative to the MIMIC-CXR(-JPG) root, as written in MS-CXR
    image_width: int
    image_height: int
    boxes_xyxy: tuple[BoxXYXY, ...]  # original pixels
    split: str = ""  # train / val / test, "" when the source has no split
    subject_id: str = ""  # 8 digits, no "p" prefix
    anno_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class AnatomyImage:
    """One frontal image with its Chest ImaGenome anatomy boxes (xyxy, original pixels)."""

    dicom_id: str
    subject_id: str
    study_id: str
    path: str
    image_width: int
    image_height: int
    split: str
    boxes: dict[str, BoxXYXY] = field(default_factory=dict)
