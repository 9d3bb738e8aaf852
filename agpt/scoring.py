"""Reading and validating MS-CXR gold and prediction CSVs, and ``score_files()`` for ``agpt score``.

Files are parsed with the standard ``csv`` module (phrases contain commas, quotes and may
contain line breaks); every value is read as a string and numbers are converted explicitly,
so ids never lose leading zeros and phrases are never turned into NaN.  Every problem raises
:class:`agpt.errors.DataError` naming the file, the record as ``row R (line L)`` (R: 1-based
data row, header not counted; L: 1-based physical line of the CSV where the record starts)
and the problem.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pandas as pd

from agpt.data.records import MSCXR_COLUMNS
from agpt.errors import DataError
from agpt.metrics import PRED_REQUIRED, score

GOLD_COLUMNS: tuple[str, ...] = MSCXR_COLUMNS
GOLD_NUMERIC: tuple[str, ...] = ("x", "y", "w", "h", "image_width", "image_height")
PRED_NUMERIC: tuple[str, ...] = ("x", "y", "w", "h")


def _where(data_row: int, line: int) -> str:
    return f"{data_row} (line {line})"


def _read_records(path: str | Path, required: tuple[str, ...], what: str) -> tuple[list[str], list]:
    """Header and ``[(where, {column: str})]`` of a CSV; checks presence, header and field counts."""
    try:
        handle = open(path, newline="", encoding="utf-8-sig")
    except OSError as err:
        raise DataError(path, f"cannot open {what} file: {err.strerror}") from None
    records = []
    with handle:
        reader = csv.reader(handle, strict=True)
        header: list[str] | None = None
        data_row = 0
        try:
            while True:
                start = reader.line_num + 1
                try:
                    fields = next(reader)
                except StopIteration:
                    break
                if not fields:  # a blank line, skipped as pandas does
                    continue
                if header is None:
                    header = fields
                    dupes = sorted({c for c in header if header.count(c) > 1})
                    if dupes:
                        raise DataError(path, f"duplicate column(s) {dupes} in the header")
                    absent = [c for c in required if c not in header]
                    if absent:
                        raise DataError(
                            path,
                            f"{what} file lacks column(s) {absent}; "
                            f"found {header}, required {list(required)}",
                        )
                    continue
                data_row += 1
                if len(fields) != len(header):
                    raise DataError(
                        path,
                        f"expected {len(header)} fields as in the header, found "
                        f"{len(fields)} (unquoted comma in a phrase?)",
                        _where(data_row, start),
                    )
                records.append((_where(data_row, start), dict(zip(header, fields, strict=True))))
        except csv.Error as err:
            raise DataError(path, f"malformed CSV: {err}", _where(data_row + 1, start)) from None
        except UnicodeDecodeError as err:
            raise DataError(path, f"not UTF-8 text: {err.reason}") from None
    if header is None:
        raise DataError(path, f"empty {what} file (no header, no rows)")
    if not records:
        raise DataError(path, f"{what} file has a header but no data rows")
    return header, records


def _number(path, where: str, record: dict, column: str) -> float:
    text = record[column].strip()
    try:
        value = float(text)
    except ValueError:
        raise DataError(path, f"{column} is not a number: {record[column]!r}", where) from None
    if not math.isfinite(value):
        raise DataError(path, f"{column} is not finite: {record[column]!r}", where)
    return value


def _text(path, where: str, record: dict, column: str) -> str:
    if record[column] == "":
        raise DataError(path, f"empty {column}", where)
    return record[column]


def read_gold(path: str | Path) -> pd.DataFrame:
    """Validated MS-CXR gold table, one row per box (xywh, top-left origin, original pixels).

    Columns ``dicom_id, category_name, label_text, path, x, y, w, h, image_width,
    image_height`` are required (any others, e.g. ``split``, ``subject_id``, ``anno_id``, are
    kept as strings); numbers become float64.  Raises DataError on a missing column, an empty
    id/phrase/category, a non-numeric or non-finite number, a negative w or h, a non-positive
    image size, a box outside ``[0, image_width] x [0, image_height]``, or rows of one phrase
    ``(dicom_id, label_text)`` (or one image) that disagree on category or image size.
    """
    header, records = _read_records(path, GOLD_COLUMNS, "gold")
    phrase_first: dict[tuple[str, str], tuple[str, str, tuple[float, float]]] = {}
    image_first: dict[str, tuple[str, tuple[float, float]]] = {}
    rows = []
    for where, rec in records:
        dicom_id, label = _text(path, where, rec, "dicom_id"), _text(path, where, rec, "label_text")
        category = _text(path, where, rec, "category_name")
        x, y, w, h, width, height = (_number(path, where, rec, c) for c in GOLD_NUMERIC)
        if w < 0 or h < 0:
            raise DataError(path, f"negative box size w={w:g}, h={h:g}", where)
        if width <= 0 or height <= 0:
            raise DataError(path, f"image size must be positive, got {width:g} x {height:g}", where)
        if x < 0 or y < 0 or x + w > width or y + h > height:
            raise DataError(
                path,
                f"box x={x:g}, y={y:g}, w={w:g}, h={h:g} lies outside the image {width:g} x {height:g}",
                where,
            )
        size = (width, height)
        first = phrase_first.setdefault((dicom_id, label), (where, category, size))
        if first[1] != category:
            raise DataError(
                path,
                f"phrase {label!r} in {dicom_id} has category {category!r} here but "
                f"{first[1]!r} in row {first[0]}",
                where,
            )
        seen = image_first.setdefault(dicom_id, (where, size))
        if seen[1] != size:
            raise DataError(
                path,
                f"image {dicom_id} is {width:g} x {height:g} here but "
                f"{seen[1][0]:g} x {seen[1][1]:g} in row {seen[0]}",
                where,
            )
        rows.append({**rec, "x": x, "y": y, "w": w, "h": h, "image_width": width, "image_height": height})
    return pd.DataFrame(rows, columns=header)


def read_predictions(path: str | Path, gold: pd.DataFrame) -> pd.DataFrame:
    """Validated predictions: one row per phrase, ``dicom_id, label_text, x, y, w, h`` (xywh,
    original pixels; any other column, e.g. ``score``, kept as strings).

    Raises DataError on a missing column, a non-numeric or non-finite number, a negative w or
    h, a second prediction for one phrase, or a prediction for a phrase not in ``gold``.
    Predictions may extend beyond the image: they are clamped when scored.
    """
    header, records = _read_records(path, PRED_REQUIRED, "prediction")
    gold_phrases = set(zip(gold["dicom_id"].astype(str), gold["label_text"].astype(str), strict=True))
    first_row: dict[tuple[str, str], str] = {}
    rows = []
    for where, rec in records:
        key = (rec["dicom_id"], rec["label_text"])
        x, y, w, h = (_number(path, where, rec, c) for c in PRED_NUMERIC)
        if w < 0 or h < 0:
            raise DataError(path, f"negative box size w={w:g}, h={h:g}", where)
        if key in first_row:
            raise DataError(
                path,
                f"second prediction for phrase {key[1]!r} in {key[0]} (first in row {first_row[key]})",
                where,
            )
        if key not in gold_phrases:
            raise DataError(
                path, f"prediction for phrase {key[1]!r} in {key[0]!r}, which is not in the gold file", where
            )
        first_row[key] = where
        rows.append({**rec, "x": x, "y": y, "w": w, "h": h})
    return pd.DataFrame(rows, columns=header)


def score_files(
    gold_path: str | Path, pred_path: str | Path, protocol: str = "merged", bootstrap: int = 0, seed: int = 0
) -> dict:
    """Read and validate both files and return :func:`agpt.metrics.score`'s dict plus the
    ``gold`` and ``pred`` paths as given."""
    gold = read_gold(gold_path)
    pred = read_predictions(pred_path, gold)
    return {
        "gold": str(gold_path),
        "pred": str(pred_path),
        **score(gold, pred, protocol=protocol, bootstrap=bootstrap, seed=seed),
    }
