"""The published MS-CXR results (``agpt/resources/published_results.csv``), as reported by their authors."""

from __future__ import annotations

import csv
import math
from importlib import resources

import pandas as pd

from agpt.errors import DataError

PUBLISHED_COLUMNS: tuple[str, ...] = ("system", "setting", "split", "n_test", "acc@0.5", "miou", "source", "caveat")
RESOURCE = "published_results.csv"


def load_published_results() -> pd.DataFrame:
    """One row per published system: ``PUBLISHED_COLUMNS``; ``acc@0.5``/``miou`` in percent as published
    (NaN where not reported), ``n_test`` an integer.  Every row names its source."""
    where = f"<bundled {RESOURCE}>"
    text = resources.files("agpt").joinpath("resources", RESOURCE).read_text(encoding="utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    if not rows or tuple(rows[0]) != PUBLISHED_COLUMNS:
        raise DataError(where, f"expected columns {list(PUBLISHED_COLUMNS)}")
    out = []
    for i, row in enumerate(rows, start=2):
        if not row["system"].strip() or not row["source"].strip():
            raise DataError(where, "every row needs a system and a source", i)
        record = dict(row)
        for key in ("acc@0.5", "miou"):
            value = float(row[key]) if row[key].strip() else math.nan
            if not (math.isnan(value) or 0.0 <= value <= 100.0):
                raise DataError(where, f"{key} must be a percentage, got {row[key]!r}", i)
            record[key] = value
        record["n_test"] = int(row["n_test"])
        out.append(record)
    return pd.DataFrame(out, columns=list(PUBLISHED_COLUMNS))
