"""User-facing errors: printed by the CLI as one line naming the file and record."""

from __future__ import annotations


class AgptError(Exception):
    """Any error caused by the user's input or configuration (CLI exit status 2)."""


class DataError(AgptError):
    """Bad input data; the message names the file and, where there is one, the row or record."""

    def __init__(self, path: object, problem: str, row: object | None = None):
        self.path = str(path)
        self.row = row
        self.problem = problem
        where = f"{self.path}, row {row}" if row is not None else self.path
        super().__init__(f"{where}: {problem}")
