"""Review a synonym table against a reference (the curated table): additions, removals, rejected entries."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from agpt.errors import DataError
from agpt.synonyms.table import SynonymTable, load_synonym_table
from agpt.synonyms.validate import Rejection, check_synonym, normalise


@dataclass
class AnatomyDiff:
    """What a table adds to and removes from the reference for one anatomy."""

    anatomy: str
    additions: list[str] = field(default_factory=list)
    removals: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"anatomy": self.anatomy, "additions": self.additions, "removals": self.removals}


@dataclass
class Review:
    """Per-anatomy diffs plus every rejected entry (recorded at generation or found now) with its reason."""

    table: str
    against: str
    diffs: list[AnatomyDiff]
    rejected: list[Rejection]
    missing_anatomies: list[str]

    def to_dict(self) -> dict:
        return {
            "table": self.table, "against": self.against,
            "n_additions": sum(len(d.additions) for d in self.diffs),
            "n_removals": sum(len(d.removals) for d in self.diffs),
            "n_rejected": len(self.rejected),
            "missing_anatomies": self.missing_anatomies,
            "diffs": [d.to_dict() for d in self.diffs if d.additions or d.removals],
            "rejected": [r.to_dict() for r in self.rejected],
        }

    def to_text(self) -> str:
        d = self.to_dict()
        lines = [f"review of {self.table} against {self.against}",
                 f"{d['n_additions']} additions, {d['n_removals']} removals, {d['n_rejected']} rejected"]
        if self.missing_anatomies:
            lines.append(f"anatomies of the reference missing from the table: {', '.join(self.missing_anatomies)}")
        for diff in self.diffs:
            if not (diff.additions or diff.removals):
                continue
            lines.append(f"{diff.anatomy}:")
            lines += [f"  + {s}" for s in diff.additions]
            lines += [f"  - {s}" for s in diff.removals]
        if self.rejected:
            lines.append("rejected:")
            lines += [f"  ! {r.anatomy}: {r.synonym!r}: {r.reason}" for r in self.rejected]
        return "\n".join(lines)


def read_table_unchecked(path: str | Path) -> SynonymTable:
    """Read a table file without rejecting it, so that a bad table can still be reviewed."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise DataError(path, f"cannot read synonym table: {err.strerror or err}") from None
    except json.JSONDecodeError as err:
        raise DataError(path, f"not valid JSON: {err.msg}", row=f"line {err.lineno}") from None
    if not isinstance(data, dict) or not isinstance(data.get("synonyms"), dict):
        raise DataError(path, "not a synonym table (expected a JSON object with a 'synonyms' mapping)")
    try:
        return SynonymTable.from_dict(data)
    except (KeyError, TypeError, AttributeError) as err:
        raise DataError(path, f"malformed table: {err}") from None


def review_tables(table: SynonymTable, reference: SynonymTable, table_name: str, reference_name: str) -> Review:
    """Diff ``table`` against ``reference`` and re-check every entry of ``table``."""
    owners = reference.name_owners()
    diffs: list[AnatomyDiff] = []
    rejected = list(table.rejected)
    for anatomy, names in table.entries.items():
        ref = {normalise(s) for s in reference.entries.get(anatomy, [])}
        mine = [s for s in names if isinstance(s, str)]
        mine_norm = {normalise(s) for s in mine}
        seen: set[str] = set()
        additions = []
        for name in names:
            reason = None if name == anatomy else check_synonym(anatomy, name, owners)
            if reason is None and isinstance(name, str) and normalise(name) in seen:
                reason = "duplicate"
            if reason is not None:
                rejected.append(Rejection(anatomy, str(name), reason))
                continue
            seen.add(normalise(name))
            if normalise(name) not in ref:
                additions.append(name)
        removals = [s for s in reference.entries.get(anatomy, []) if normalise(s) not in mine_norm]
        diffs.append(AnatomyDiff(anatomy, additions, removals))
    missing = [a for a in reference.entries if a not in table.entries]
    return Review(table_name, reference_name, diffs, rejected, missing)


def review_file(table_path: str | Path, against: str | Path = "curated") -> Review:
    reference_path = None if str(against) in ("curated", "bundled") else against
    reference = load_synonym_table(reference_path)
    name = "the curated table" if reference_path is None else str(reference_path)
    return review_tables(read_table_unchecked(table_path), reference, str(table_path), name)
