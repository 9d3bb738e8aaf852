"""MS-CXR readers: the Local Alignment CSV and COCO-style JSON (v1.0.0 without ``split``, v1.1.0 with it).

One CSV row / JSON annotation is one box (COCO xywh, original pixels).  Boxes are grouped into
:class:`PhraseSample` by ``(dicom_id, label_text)``.  JSON category ids are mapped through the
file's own ``categories`` list, never through hard-coded ids.  Every row is checked: dicom_id
form, known category, non-empty phrase, MIMIC path layout, positive box inside its image, and one
image size / category / split per phrase.  A bad row raises :class:`DataError` naming file and row
(or, with ``RejectLog(skip_bad=True)``, drops its whole phrase and lists it in the rejects).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from agpt.anatomy import FINDING_CATEGORIES
from agpt.data.mimic import DICOM_ID_RE, parse_image_path
from agpt.data.records import MSCXR_COLUMNS, PhraseSample
from agpt.data.rejects import RejectLog
from agpt.errors import DataError

MSCXR_SPLITS: tuple[str, ...] = ("train", "val", "test")


@dataclass(frozen=True)
class BoxRow:
    """One MS-CXR box before grouping; ``row`` is the CSV line number or the JSON annotation index."""

    row: int
    dicom_id: str
    category_name: str
    label_text: str
    path: str
    x: float
    y: float
    w: float
    h: float
    image_width: int
    image_height: int
    split: str
    anno_id: int | None


def read_mscxr(path: str | Path, rejects: RejectLog | None = None) -> list[PhraseSample]:
    """Read an MS-CXR ``.csv`` or ``.json`` (either generation) into phrase samples, in file order."""
    p = Path(path)
    if not p.is_file():
        raise DataError(p, "MS-CXR file not found")
    suffix = p.suffix.lower()
    if suffix == ".csv":
        return read_mscxr_csv(p, rejects)
    if suffix == ".json":
        return read_mscxr_json(p, rejects)
    raise DataError(p, "MS-CXR file must end in .csv or .json")


def _int(value: object, what: str) -> int:
    f = float(value)
    if f != int(f):
        raise ValueError(f"{what} {value!r} is not an integer")
    return int(f)


def read_mscxr_csv(path: str | Path, rejects: RejectLog | None = None) -> list[PhraseSample]:
    """``MS_CXR_Local_Alignment_v1.x.0.csv``: columns by name; ``split`` optional (v1.1.0)."""
    rejects = rejects or RejectLog()
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as err:
        raise DataError(path, f"cannot read CSV: {err}") from err
    missing = [c for c in MSCXR_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(path, f"missing required column(s) {missing}; found {list(df.columns)}")
    has_split = "split" in df.columns
    rows: list[BoxRow] = []
    for i, rec in enumerate(df.to_dict("records"), start=2):  # line 1 is the header
        try:
            x, y, w, h = (float(rec[k]) for k in ("x", "y", "w", "h"))
            width, height = _int(rec["image_width"], "image_width"), _int(rec["image_height"], "image_height")
        except ValueError as err:
            rejects.bad(path, i, rec.get("dicom_id", ""), f"bad number: {err}")
            continue
        rows.append(
            BoxRow(
                i,
                rec["dicom_id"].strip(),
                rec["category_name"].strip(),
                rec["label_text"],
                rec["path"].strip(),
                x,
                y,
                w,
                h,
                width,
                height,
                rec["split"].strip() if has_split else "",
                None,
            )
        )
    return group_phrases(path, rows, rejects, require_split=has_split)


def read_mscxr_json(path: str | Path, rejects: RejectLog | None = None) -> list[PhraseSample]:
    """COCO-style ``MS_CXR_Local_Alignment_v1.x.0.json``; categories mapped through ``categories``."""
    rejects = rejects or RejectLog()
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise DataError(path, f"cannot read JSON: {err}") from err
    if not isinstance(doc, dict) or any(
        not isinstance(doc.get(k), list) for k in ("images", "annotations", "categories")
    ):
        raise DataError(
            path, "not a COCO-style MS-CXR JSON: needs lists 'images', 'annotations', 'categories'"
        )
    try:
        categories = {int(c["id"]): str(c["name"]) for c in doc["categories"]}
        images = {int(im["id"]): im for im in doc["images"]}
    except (KeyError, TypeError, ValueError) as err:
        raise DataError(path, f"malformed 'categories' or 'images' entry: {err!r}") from err
    rows: list[BoxRow] = []
    any_split = False
    for i, ann in enumerate(doc["annotations"]):
        where = f"annotations[{i}]"
        try:
            anno_id = int(ann["id"])
            image = images.get(int(ann["image_id"]))
            if image is None:
                rejects.bad(
                    path, where, anno_id, f"unknown image: image_id {ann['image_id']} not in 'images'"
                )
                continue
            cat_id = int(ann["category_id"])
            if cat_id not in categories:
                rejects.bad(
                    path, where, anno_id, f"unknown category: category_id {cat_id} not in 'categories'"
                )
                continue
            x, y, w, h = (float(v) for v in ann["bbox"])
            width, height = int(image["width"]), int(image["height"])
            if "width" in ann and (int(ann["width"]), int(ann["height"])) != (width, height):
                rejects.bad(
                    path,
                    where,
                    anno_id,
                    f"inconsistent image size: annotation says "
                    f"{ann['width']}x{ann['height']}, image says {width}x{height}",
                )
                continue
            file_name = str(image.get("file_name") or Path(str(image["path"])).name)
            split = str(ann.get("split", image.get("split", ""))).strip()
            any_split = any_split or bool(split)
            rows.append(
                BoxRow(
                    i,
                    Path(file_name).stem,
                    categories[cat_id],
                    str(ann.get("label_text", "")),
                    str(image.get("path", "")).strip(),
                    x,
                    y,
                    w,
                    h,
                    width,
                    height,
                    split,
                    anno_id,
                )
            )
        except (KeyError, TypeError, ValueError) as err:
            rejects.bad(
                path,
                where,
                ann.get("id", "") if isinstance(ann, dict) else "",
                f"malformed annotation: {err!r}",
            )
    return group_phrases(path, rows, rejects, require_split=any_split)


def _check_row(r: BoxRow, require_split: bool) -> str | None:
    """The reason a box row is bad, or None."""
    if not DICOM_ID_RE.match(r.dicom_id):
        return f"bad dicom_id: {r.dicom_id!r} is not 5 groups of 8 lowercase hex digits"
    if r.category_name not in FINDING_CATEGORIES:
        return f"unknown category: {r.category_name!r}; valid: {', '.join(FINDING_CATEGORIES)}"
    if not r.label_text.strip():
        return "empty phrase: label_text is empty"
    try:
        parsed = parse_image_path(r.path)
    except ValueError as err:
        return f"bad path: {err}"
    if parsed.dicom_id != r.dicom_id:
        return f"bad path: {r.path!r} does not name dicom_id {r.dicom_id}"
    if r.image_width <= 0 or r.image_height <= 0:
        return f"bad image size: {r.image_width}x{r.image_height}"
    if r.w <= 0 or r.h <= 0:
        return f"empty box: w={r.w:g}, h={r.h:g}"
    if r.x < 0 or r.y < 0 or r.x + r.w > r.image_width or r.y + r.h > r.image_height:
        return (
            f"box outside image: x={r.x:g} y={r.y:g} w={r.w:g} h={r.h:g} "
            f"in a {r.image_width}x{r.image_height} image"
        )
    if require_split and r.split not in MSCXR_SPLITS:
        return f"bad split: {r.split!r}; valid: {', '.join(MSCXR_SPLITS)}"
    return None


def group_phrases(
    path: object, rows: list[BoxRow], rejects: RejectLog, require_split: bool
) -> list[PhraseSample]:
    """Group box rows by ``(dicom_id, label_text)``; a phrase with any bad row is rejected whole."""
    groups: dict[tuple[str, str], list[BoxRow]] = {}
    bad_keys: set[tuple[str, str]] = set()
    for r in rows:
        key = (r.dicom_id, r.label_text)
        reason = _check_row(r, require_split)
        if reason:
            rejects.bad(path, r.row, f"{r.dicom_id} | {r.label_text}", reason)
            bad_keys.add(key)
        groups.setdefault(key, []).append(r)
    samples: list[PhraseSample] = []
    for key, group in groups.items():
        first = group[0]
        if key in bad_keys:
            for r in group:  # the good boxes of a rejected phrase are listed too
                if _check_row(r, require_split) is None:
                    rejects.drop(
                        path,
                        r.row,
                        f"{r.dicom_id} | {r.label_text}",
                        "phrase has a rejected box: dropped whole",
                    )
            continue
        for attr, what in (("category_name", "category"), ("split", "split"), ("path", "path")):
            values = {getattr(r, attr) for r in group}
            if len(values) > 1:
                rejects.bad(
                    path,
                    first.row,
                    f"{first.dicom_id} | {first.label_text}",
                    f"inconsistent phrase: one phrase with several {what} values {sorted(values)}",
                )
                break
        else:
            sizes = {(r.image_width, r.image_height) for r in group}
            if len(sizes) > 1:
                rejects.bad(
                    path,
                    first.row,
                    f"{first.dicom_id} | {first.label_text}",
                    f"inconsistent image size: one phrase with sizes {sorted(sizes)}",
                )
                continue
            samples.append(
                PhraseSample(
                    dicom_id=first.dicom_id,
                    label_text=first.label_text,
                    category_name=first.category_name,
                    path=first.path,
                    image_width=first.image_width,
                    image_height=first.image_height,
                    boxes_xyxy=tuple((r.x, r.y, r.x + r.w, r.y + r.h) for r in group),
                    split=first.split,
                    subject_id=parse_image_path(first.path).subject_id,
                    anno_ids=tuple(r.anno_id for r in group if r.anno_id is not None),
                )
            )
    return samples


def mscxr_subjects_by_dicom(path: str | Path) -> dict[str, str]:
    """``{dicom_id: subject_id}`` from every parseable ``path`` of an MS-CXR file, bad rows included.

    Lenient on purpose: the leakage guard must protect the patients of rows that the strict
    reader skipped.
    """
    out: dict[str, str] = {}
    try:
        if Path(path).suffix.lower() == ".json":
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
            paths = [str(im.get("path", "")) for im in doc.get("images", []) if isinstance(im, dict)]
        else:
            df = pd.read_csv(path, dtype=str, keep_default_na=False)
            paths = list(df["path"]) if "path" in df.columns else []
    except (OSError, ValueError, AttributeError):
        return out
    for rel in paths:
        try:
            parsed = parse_image_path(rel.strip())
        except ValueError:
            continue
        out[parsed.dicom_id] = parsed.subject_id
    return out
