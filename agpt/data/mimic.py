"""MIMIC-CXR(-JPG) layout: image paths ``files/pXX/pSUBJECT/sSTUDY/<dicom_id>.ext`` and the metadata CSV."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pandas as pd

from agpt.errors import DataError

DICOM_ID_RE = re.compile(r"^[0-9a-f]{8}(-[0-9a-f]{8}){4}$")
SUBJECT_RE = re.compile(r"^1\d{7}$")
STUDY_RE = re.compile(r"^5\d{7}$")
IMAGE_EXTENSIONS: tuple[str, ...] = (".dcm", ".jpg", ".png")
FRONTAL_VIEWS: frozenset[str] = frozenset({"PA", "AP"})
METADATA_NAMES: tuple[str, ...] = ("mimic-cxr-2.0.0-metadata.csv.gz", "mimic-cxr-2.0.0-metadata.csv")
METADATA_COLUMNS: tuple[str, ...] = ("dicom_id", "subject_id", "study_id", "ViewPosition", "Rows", "Columns")


@dataclass(frozen=True)
class ImagePath:
    """The parts of a MIMIC image path; ``str(self)`` is the relative path (posix)."""

    subject_id: str  # 8 digits, no "p"
    study_id: str  # 8 digits, no "s"
    dicom_id: str
    ext: str  # ".dcm", ".jpg" or ".png"

    def __str__(self) -> str:
        return image_relpath(self.subject_id, self.study_id, self.dicom_id, self.ext)

    def with_ext(self, ext: str) -> ImagePath:
        return ImagePath(self.subject_id, self.study_id, self.dicom_id, normalise_ext(ext))


def normalise_ext(ext: str) -> str:
    ext = ext.lower() if ext.startswith(".") else "." + ext.lower()
    if ext not in IMAGE_EXTENSIONS:
        raise ValueError(f"unknown image extension {ext!r}; valid: {', '.join(IMAGE_EXTENSIONS)}")
    return ext


def strip_prefix(value: object, prefix: str) -> str:
    """``"p10000032"`` -> ``"10000032"`` (MedRPG ids carry ``p``/``s`` prefixes); ints become strings."""
    text = str(value).strip()
    if text.endswith(".0") and text[:-2].isdigit():  # pandas float round-trip
        text = text[:-2]
    return text[1:] if text.startswith(prefix) else text


def image_relpath(subject_id: str, study_id: str, dicom_id: str, ext: str) -> str:
    """``files/p10/p10000032/s50414267/<dicom_id>.jpg`` from its parts."""
    subject_id, study_id = strip_prefix(subject_id, "p"), strip_prefix(study_id, "s")
    return f"files/p{subject_id[:2]}/p{subject_id}/s{study_id}/{dicom_id}{normalise_ext(ext)}"


def parse_image_path(rel: str) -> ImagePath:
    """Parse a relative MIMIC image path; ``ValueError`` saying what is wrong otherwise."""
    parts = PurePosixPath(str(rel).replace("\\", "/")).parts
    if len(parts) != 5 or parts[0] != "files":
        raise ValueError(f"image path {rel!r} is not files/pXX/pSUBJECT/sSTUDY/<dicom_id>.ext")
    _, group, subject, study, name = parts
    subject_id, study_id = subject[1:], study[1:]
    if not (subject.startswith("p") and SUBJECT_RE.match(subject_id)):
        raise ValueError(f"image path {rel!r}: {subject!r} is not p + 8-digit subject id")
    if group != f"p{subject_id[:2]}":
        raise ValueError(f"image path {rel!r}: folder {group!r} does not match subject {subject_id}")
    if not (study.startswith("s") and STUDY_RE.match(study_id)):
        raise ValueError(f"image path {rel!r}: {study!r} is not s + 8-digit study id")
    stem, dot, ext = name.rpartition(".")
    if not dot:
        raise ValueError(f"image path {rel!r} has no extension")
    if not DICOM_ID_RE.match(stem):
        raise ValueError(f"image path {rel!r}: {stem!r} is not a dicom_id (5 groups of 8 hex digits)")
    return ImagePath(subject_id, study_id, stem, normalise_ext(ext))


def resolve_image_path(root: str | Path, rel: str) -> Path:
    """``root / rel``, refusing absolute paths and paths that leave ``root``.

    The check is lexical (``..`` segments), so data sets linked in file by file (symlinks into
    an annex or a read-only store) still work.
    """
    rel_text = str(rel).replace("\\", "/")
    if (
        not rel_text
        or rel_text.startswith("/")
        or Path(rel_text).is_absolute()
        or ":" in rel_text.split("/")[0]
    ):
        raise DataError(rel, f"image path must be relative to the image root {root}")
    root_abs = os.path.normpath(os.path.abspath(root))
    full = os.path.normpath(os.path.join(root_abs, rel_text))
    if full != root_abs and not full.startswith(root_abs.rstrip(os.sep) + os.sep):
        raise DataError(rel, f"image path leaves the image root {root}")
    return Path(full)


def find_metadata(mimic_root: str | Path) -> Path | None:
    """The metadata CSV(.gz) directly under a MIMIC(-JPG) root, or None."""
    for name in METADATA_NAMES:
        p = Path(mimic_root) / name
        if p.is_file():
            return p
    return None


@dataclass(frozen=True)
class ImageMeta:
    dicom_id: str
    subject_id: str
    study_id: str
    view_position: str  # "" when blank
    rows: int  # height
    columns: int  # width


def read_metadata(path: str | Path) -> dict[str, ImageMeta]:
    """``mimic-cxr-2.0.0-metadata.csv(.gz)`` read by column name -> ``{dicom_id: ImageMeta}``."""
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as err:  # pandas raises many types for unreadable files
        raise DataError(path, f"cannot read metadata CSV: {err}") from err
    missing = [c for c in METADATA_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(path, f"missing required column(s) {missing}; found {list(df.columns)}")
    out: dict[str, ImageMeta] = {}
    for i, rec in enumerate(df[list(METADATA_COLUMNS)].itertuples(index=False), start=2):
        try:
            rows, cols = int(float(rec.Rows)), int(float(rec.Columns))
        except ValueError:
            raise DataError(path, f"Rows/Columns not integers: {rec.Rows!r}, {rec.Columns!r}", i) from None
        if rows <= 0 or cols <= 0:
            raise DataError(path, f"non-positive image size {cols}x{rows}", i)
        out[rec.dicom_id] = ImageMeta(
            rec.dicom_id,
            strip_prefix(rec.subject_id, "p"),
            strip_prefix(rec.study_id, "s"),
            rec.ViewPosition.strip().upper(),
            rows,
            cols,
        )
    return out


def is_frontal(view_position: str) -> bool:
    return view_position.strip().upper() in FRONTAL_VIEWS
