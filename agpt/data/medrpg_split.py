"""Split sources for MS-CXR: the MedRPG split (638/85/167 single-box phrases) and the v1.1.0 ``split`` column.

The MedRPG split-ids file (``mscxr_medrpg_split_ids.csv``: CRLF, ``p``/``s`` id prefixes, one
row per single-box pair) is joined to MS-CXR phrases:

- from the JSON (annotation ids known): by ``anno_id``, verifying ``category`` and ``dicom_id``;
- from the CSV (no ids): by ``(dicom_id, category)`` among single-box phrases.  Each dicom_id lies
  in exactly one split, so a key with k split rows and exactly k single-box candidate phrases is
  unambiguous at the split level (anno ids are then left empty); any other count is an error.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from agpt.data.mimic import strip_prefix
from agpt.data.mscxr import MSCXR_SPLITS
from agpt.data.records import PhraseSample
from agpt.errors import DataError

SPLIT_SOURCES: tuple[str, ...] = ("medrpg", "mscxr")
MEDRPG_COLUMNS: tuple[str, ...] = ("split", "anno_id", "category", "subject_id", "study_id", "dicom_id")
# The MedRPG split ids (ids only, no phrases or boxes) ship with agpt, so the paper's split
# works from any installation.
DEFAULT_MEDRPG_SPLIT = "resources/mscxr_medrpg_split_ids.csv"  # relative to the agpt package


@dataclass(frozen=True)
class MedrpgPair:
    row: int  # line number in the split-ids file
    split: str
    anno_id: int
    category: str
    subject_id: str  # prefix stripped
    study_id: str
    dicom_id: str


def read_medrpg_split(path: str | Path) -> list[MedrpgPair]:
    """Read the split-ids CSV (CRLF or LF); columns by name; ``p``/``s`` prefixes stripped."""
    if not Path(path).is_file():
        raise DataError(path, "MedRPG split-ids file not found (set --medrpg-split)")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as err:
        raise DataError(path, f"cannot read CSV: {err}") from err
    df.columns = [c.strip() for c in df.columns]
    missing = [c for c in MEDRPG_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(path, f"missing required column(s) {missing}; found {list(df.columns)}")
    pairs, seen = [], set()
    for i, rec in enumerate(df.to_dict("records"), start=2):
        split = rec["split"].strip()
        if split not in MSCXR_SPLITS:
            raise DataError(path, f"bad split {split!r}; valid: {', '.join(MSCXR_SPLITS)}", i)
        try:
            anno_id = int(rec["anno_id"])
        except ValueError:
            raise DataError(path, f"anno_id {rec['anno_id']!r} is not an integer", i) from None
        if anno_id in seen:
            raise DataError(path, f"duplicate anno_id {anno_id}", i)
        seen.add(anno_id)
        pairs.append(
            MedrpgPair(
                i,
                split,
                anno_id,
                rec["category"].strip(),
                strip_prefix(rec["subject_id"], "p"),
                strip_prefix(rec["study_id"], "s"),
                rec["dicom_id"].strip(),
            )
        )
    dicom_splits: dict[str, set[str]] = defaultdict(set)
    for p in pairs:
        dicom_splits[p.dicom_id].add(p.split)
    crossing = sorted(d for d, s in dicom_splits.items() if len(s) > 1)
    if crossing:
        raise DataError(
            path, f"dicom_id {crossing[0]} lies in several splits {sorted(dicom_splits[crossing[0]])}"
        )
    return pairs


def apply_medrpg_split(
    samples: list[PhraseSample], pairs: list[MedrpgPair], split_path: object, mscxr_path: object
) -> tuple[list[PhraseSample], int]:
    """Assign MedRPG splits; returns (samples in the split, number of MS-CXR phrases not in it).

    Raises :class:`DataError` when a split row matches no phrase, a multi-box phrase, a phrase of
    another category/image, or (CSV input) matches ambiguously.
    """
    has_ids = any(s.anno_ids for s in samples)
    out: list[PhraseSample] = []
    if has_ids:
        by_anno = {a: s for s in samples for a in s.anno_ids}
        for p in pairs:
            s = by_anno.get(p.anno_id)
            if s is None:
                raise DataError(
                    split_path, f"anno_id {p.anno_id} is not an annotation id of {mscxr_path}", p.row
                )
            if s.category_name != p.category or s.dicom_id != p.dicom_id:
                raise DataError(
                    split_path,
                    f"anno_id {p.anno_id} is ({s.dicom_id}, {s.category_name}) in "
                    f"{mscxr_path}, but ({p.dicom_id}, {p.category}) here",
                    p.row,
                )
            if len(s.boxes_xyxy) != 1:
                raise DataError(
                    split_path,
                    f"anno_id {p.anno_id} belongs to a {len(s.boxes_xyxy)}-box phrase; "
                    "the MedRPG split has single-box phrases only",
                    p.row,
                )
            out.append(replace(s, split=p.split, anno_ids=(p.anno_id,)))
        return out, len(samples) - len(out)
    candidates: dict[tuple[str, str], list[tuple[int, PhraseSample]]] = defaultdict(list)
    for i, s in enumerate(samples):
        if len(s.boxes_xyxy) == 1:
            candidates[(s.dicom_id, s.category_name)].append((i, s))
    rows: dict[tuple[str, str], list[MedrpgPair]] = defaultdict(list)
    for p in pairs:
        rows[(p.dicom_id, p.category)].append(p)
    indexed: list[tuple[int, PhraseSample]] = []
    for key, key_rows in rows.items():
        found = candidates.get(key, [])
        if len(found) != len(key_rows):
            raise DataError(
                split_path,
                f"ambiguous or missing join on (dicom_id, category) = {key}: "
                f"{len(key_rows)} split row(s) but {len(found)} single-box phrase(s) in {mscxr_path}; "
                "use the MS-CXR JSON (joins by anno_id)",
                key_rows[0].row,
            )
        single_id = key_rows[0].anno_id if len(key_rows) == 1 else None
        for i, s in found:
            indexed.append(
                (
                    i,
                    replace(
                        s, split=key_rows[0].split, anno_ids=(single_id,) if single_id is not None else ()
                    ),
                )
            )
    out = [s for _, s in sorted(indexed, key=lambda t: t[0])]  # keep file order
    return out, len(samples) - len(out)


def assign_splits(
    samples: list[PhraseSample], source: str, mscxr_path: object, medrpg_split: str | Path | None = None
) -> tuple[list[PhraseSample], int]:
    """Resolve the split of every phrase by ``source`` (``medrpg`` or ``mscxr``).

    Returns (phrases with ``split`` set, number of phrases outside the chosen split).
    """
    if source == "medrpg":
        if medrpg_split is None:
            raise ValueError("split source 'medrpg' needs the split-ids file (medrpg_split)")
        return apply_medrpg_split(samples, read_medrpg_split(medrpg_split), medrpg_split, mscxr_path)
    if source == "mscxr":
        unsplit = [s for s in samples if s.split not in MSCXR_SPLITS]
        if unsplit:
            raise DataError(
                mscxr_path,
                "split source 'mscxr' needs the v1.1.0 file with a 'split' column "
                f"({len(unsplit)} phrase(s) have none); use --split-source medrpg for v1.0.0",
            )
        return list(samples), 0
    raise ValueError(f"unknown split source {source!r}; valid: {', '.join(SPLIT_SOURCES)}")
