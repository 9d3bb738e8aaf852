"""Bad-record policy: raise a DataError, or (``--skip-bad``) log the record to ``rejects.csv``.

Two kinds of skipped record:

- *bad* records (malformed input: a box outside its image, an unknown category, an unreadable
  image...) raise :class:`agpt.errors.DataError` unless the user asked to skip them;
- *policy* drops (documented data-cleaning rules: a missing scene graph, a zero-area silver box,
  a lateral view, a patient removed by the leakage guard) are always applied.

Both are written to ``rejects.csv`` and counted by reason, so nothing is dropped silently.
A reason is ``"<kind>: <detail>"``; counts are keyed by ``kind``.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from agpt.data.records import REJECT_COLUMNS
from agpt.errors import DataError


@dataclass(frozen=True)
class Reject:
    file: str
    row: str
    record: str
    reason: str  # "<kind>: <detail>"
    bad: bool = False  # malformed input (skipped by --skip-bad), not a cleaning rule

    @property
    def kind(self) -> str:
        return reason_kind(self.reason)


def reason_kind(reason: str) -> str:
    """The counting key of a reason: the text before the first ``:``."""
    return reason.split(":", 1)[0].strip()


@dataclass
class RejectLog:
    """Collects skipped records; ``skip_bad=False`` turns bad records into errors."""

    skip_bad: bool = False
    rejects: list[Reject] = field(default_factory=list)

    def bad(self, file: object, row: object, record: object, reason: str) -> None:
        """A malformed record: raise unless skipping bad records."""
        if not self.skip_bad:
            raise DataError(file, reason if record in (None, "") else f"{reason} [record {record}]", row)
        self._add(file, row, record, reason, bad=True)

    def drop(self, file: object, row: object, record: object, reason: str) -> None:
        """A record removed by a documented cleaning rule (always applied, always listed)."""
        self._add(file, row, record, reason)

    def _add(self, file: object, row: object, record: object, reason: str, bad: bool = False) -> None:
        self.rejects.append(
            Reject(
                str(file), "" if row is None else str(row), "" if record is None else str(record), reason, bad
            )
        )

    @property
    def n_bad(self) -> int:
        """Malformed records that were skipped (``check`` fails when this is not zero)."""
        return sum(r.bad for r in self.rejects)

    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(r.kind for r in self.rejects).items()))

    def write_csv(self, path: str | Path) -> None:
        write_rejects(path, self.rejects)


def write_rejects(path: str | Path, rejects: list[Reject]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(REJECT_COLUMNS)
        for r in rejects:
            w.writerow([r.file, r.row, r.record, r.reason])
