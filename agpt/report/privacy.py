"""The report's privacy guard: no patient identifier (beyond the image id) may appear in its text."""

from __future__ import annotations

import re

import pandas as pd

from agpt.errors import AgptError

_DATA_URI = re.compile(r"data:[a-z]+/[a-z0-9.+-]+;base64,[A-Za-z0-9+/=]+")
_PATH_IDS = re.compile(r"\b([ps]\d{7,9})\b")


def identifiers_from_gold(gold: pd.DataFrame) -> set[str]:
    """Subject and study ids that the gold table knows (``subject_id``; ``pNNNNNNNN``/``sNNNNNNNN`` in ``path``)."""
    found: set[str] = set()
    if "subject_id" in gold.columns:
        found |= {str(v).strip() for v in gold["subject_id"] if str(v).strip() not in ("", "nan")}
    if "path" in gold.columns:
        for path in gold["path"].astype(str):
            found |= set(_PATH_IDS.findall(path))
    return {f for f in found if len(f) >= 6}


def visible_text(html: str) -> str:
    """``html`` without embedded base64 images (whose random characters are not text)."""
    return _DATA_URI.sub("data:", html)


def check_no_identifiers(html: str, forbidden: set[str]) -> None:
    """Raise AgptError if any ``forbidden`` value occurs in the report outside its embedded images."""
    text = visible_text(html)
    # Whole tokens only: an 8-digit id inside a longer hex hash or number is not that id.
    leaked = sorted(v for v in forbidden if v and re.search(rf"(?<![0-9A-Za-z]){re.escape(v)}(?![0-9A-Za-z])", text))
    if leaked:
        raise AgptError(f"report would contain {len(leaked)} patient identifier(s) (e.g. {leaked[0][:3]}...); "
                        "refusing to write it")
