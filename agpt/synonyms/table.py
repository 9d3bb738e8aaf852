"""Synonym tables: the JSON file format, strict loading, cleaning of generated entries, the bundled table.

File format (``agpt-synonyms/1``)::

    {"format": "agpt-synonyms/1",
     "provenance": {...},                       # who/how/when; for generated tables the model etc.
     "synonyms": {"right lung": ["right lung", "right hemithorax", ...], ...},
     "rejected": [{"anatomy": ..., "synonym": ..., "reason": ...}]}   # optional, generated tables

Every anatomy of ``agpt.anatomy.ANATOMIES`` must be present; the other Chest ImaGenome names
(``SILVER_BOX_NAMES``) may be.  Each list starts with the canonical name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from agpt.anatomy import ANATOMIES, SILVER_BOX_NAMES
from agpt.errors import DataError
from agpt.synonyms.validate import Rejection, check_synonym, normalise

FORMAT = "agpt-synonyms/1"
BUNDLED_NAME = "synonyms_curated.json"


@dataclass
class SynonymTable:
    """Synonyms per anatomy (canonical name first), the table's provenance and any rejected entries."""

    entries: dict[str, list[str]]
    provenance: dict = field(default_factory=dict)
    rejected: list[Rejection] = field(default_factory=list)

    def synonyms(self, anatomy: str) -> list[str]:
        """The synonyms of ``anatomy``, canonical name first; ValueError for an unknown anatomy."""
        if anatomy not in self.entries:
            raise ValueError(f"no synonyms for anatomy {anatomy!r}; the table has: {', '.join(self.entries)}")
        return list(self.entries[anatomy])

    @property
    def anatomies(self) -> list[str]:
        return list(self.entries)

    def name_owners(self) -> dict[str, str]:
        """Normalised name -> the anatomy it belongs to, over every entry of the table."""
        owners: dict[str, str] = {}
        for anatomy, names in self.entries.items():
            for name in names:
                owners.setdefault(normalise(name), anatomy)
        return owners

    def to_dict(self) -> dict:
        out = {"format": FORMAT, "provenance": dict(self.provenance), "synonyms": {a: list(s) for a, s in self.entries.items()}}
        if self.rejected:
            out["rejected"] = [r.to_dict() for r in self.rejected]
        return out

    @classmethod
    def from_dict(cls, d: dict) -> SynonymTable:
        return cls(
            entries={str(a): list(s) for a, s in d["synonyms"].items()},
            provenance=dict(d.get("provenance", {})),
            rejected=[Rejection.from_dict(r) for r in d.get("rejected", [])],
        )

    def save(self, path: str | Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        tmp.replace(path)


def table_problems(entries: dict, reference_owners: dict[str, str] | None = None) -> tuple[list[str], list[Rejection]]:
    """Check a whole ``{anatomy: [names]}`` mapping.

    Returns ``(fatal, rejections)``: fatal problems make the table unusable (missing or unknown
    anatomies, a list that is not a list, canonical name not first); rejections are single bad
    synonyms (empty, duplicate, other side, another anatomy's name, a wrong structure, a typo).
    ``reference_owners`` (normalised name -> anatomy, e.g. from the curated table) widens the
    "names another anatomy" check beyond canonical names.
    """
    fatal: list[str] = []
    rejections: list[Rejection] = []
    if not isinstance(entries, dict):
        return [f"'synonyms' must be an object mapping anatomy -> list, got {type(entries).__name__}"], []
    missing = [a for a in ANATOMIES if a not in entries]
    if missing:
        fatal.append(f"missing anatomies: {', '.join(missing)}")
    unknown = [a for a in entries if a not in SILVER_BOX_NAMES]
    if unknown:
        fatal.append(f"unknown anatomies: {', '.join(map(repr, unknown))} (valid: the Chest ImaGenome box names)")
    owners = {k: v for k, v in (reference_owners or {}).items()}
    for anatomy, names in entries.items():
        if anatomy not in SILVER_BOX_NAMES:
            continue
        if not isinstance(names, list) or not names:
            fatal.append(f"{anatomy!r}: synonyms must be a non-empty list of strings")
            continue
        if names[0] != anatomy:
            fatal.append(f"{anatomy!r}: the canonical name must come first, got {names[0]!r}")
        seen: set[str] = set()
        for name in names:
            if isinstance(name, str) and normalise(name) in seen:
                rejections.append(Rejection(anatomy, name, "duplicate"))
                continue
            if isinstance(name, str) and name == anatomy:
                seen.add(normalise(name))
                continue
            reason = check_synonym(anatomy, name, owners)
            if reason is not None:
                rejections.append(Rejection(anatomy, str(name), reason))
                continue
            seen.add(normalise(name))
    # The same name under two anatomies (within this table) names another anatomy.
    first_owner: dict[str, str] = {}
    for anatomy, names in entries.items():
        if anatomy not in SILVER_BOX_NAMES or not isinstance(names, list):
            continue
        for name in names:
            if not isinstance(name, str):
                continue
            owner = first_owner.setdefault(normalise(name), anatomy)
            if owner != anatomy and Rejection(anatomy, name, "duplicate") not in rejections:
                rejections.append(Rejection(anatomy, name, f"names another anatomy (also listed under {owner!r})"))
    return fatal, rejections


def parse_table(data: object, source: str) -> SynonymTable:
    """A validated table from decoded JSON; DataError naming ``source`` and the first problems."""
    if not isinstance(data, dict) or "synonyms" not in data:
        raise DataError(source, "not a synonym table (expected a JSON object with a 'synonyms' mapping)")
    if data.get("format", FORMAT) != FORMAT:
        raise DataError(source, f"unsupported format {data.get('format')!r} (expected {FORMAT!r})")
    fatal, rejections = table_problems(data["synonyms"])
    if fatal:
        raise DataError(source, "; ".join(fatal))
    if rejections:
        shown = "; ".join(f"{r.anatomy!r}: {r.synonym!r} ({r.reason})" for r in rejections[:5])
        more = f" and {len(rejections) - 5} more" if len(rejections) > 5 else ""
        raise DataError(source, f"invalid synonyms: {shown}{more}")
    try:
        return SynonymTable.from_dict(data)
    except (KeyError, TypeError, AttributeError) as err:
        raise DataError(source, f"malformed 'rejected' or 'provenance' section: {err}") from None


def read_bundled_text() -> str:
    return resources.files("agpt").joinpath("resources", BUNDLED_NAME).read_text(encoding="utf-8")


def load_synonym_table(path: str | Path | None = None) -> SynonymTable:
    """Load and validate a table; ``None`` or ``"bundled"`` is the curated table shipped with agpt."""
    if path is None or str(path) == "bundled":
        source, text = f"<bundled {BUNDLED_NAME}>", read_bundled_text()
    else:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as err:
            raise DataError(source, f"cannot read synonym table: {err.strerror or err}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(source, f"not valid JSON: {err.msg}", row=f"line {err.lineno}") from None
    return parse_table(data, source)
