"""Run directories: parameters from ``name~value`` path segments, metrics, predictions, train logs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from agpt.errors import DataError

# Display order of the parameters the workflow uses; any other name follows in path order.
PARAM_ORDER: tuple[str, ...] = ("baseline", "model", "init", "setting", "mode", "fraction", "seed")
SEED_PARAM = "seed"

INIT_LABELS: dict[str, str] = {"base": "base", "agpt": "AGPT", "agpt_syn": "AGPT + synonyms"}
SETTING_LABELS: dict[str, str] = {"zeroshot": "zero-shot", "finetune": "fine-tuned"}
# Spellings of the two settings that the aggregator accepts and normalises.
_SETTING_ALIASES: dict[str, str] = {
    "zeroshot": "zeroshot", "zero_shot": "zeroshot", "zero-shot": "zeroshot",
    "finetune": "finetune", "finetuned": "finetune", "fine_tune": "finetune", "fine-tuned": "finetune",
}


def parse_params(path: str | Path) -> dict[str, str]:
    """Parameters encoded as ``name~value`` segments of ``path`` (a file's ``.tsv``/``.json`` suffix is dropped).

    >>> parse_params("results/runs/model~transvg/init~agpt/setting~finetune/seed~1/eval")
    {'model': 'transvg', 'init': 'agpt', 'setting': 'finetune', 'seed': '1'}
    """
    params: dict[str, str] = {}
    for part in Path(path).parts:
        if "~" not in part:
            continue
        name, value = part.split("~", 1)
        for suffix in (".tsv", ".json", ".jsonl", ".txt", ".log"):
            if value.endswith(suffix):
                value = value[: -len(suffix)]
        if not name or not value:
            raise DataError(path, f"path segment {part!r} is not name~value")
        if name in params and params[name] != value:
            raise DataError(path, f"parameter {name!r} appears twice with different values")
        if name == "setting":
            value = _SETTING_ALIASES.get(value, value)
        params[name] = value
    return params


def order_params(names: set[str] | list[str]) -> list[str]:
    """``names`` in display order: :data:`PARAM_ORDER` first, then the rest alphabetically."""
    known = [n for n in PARAM_ORDER if n in names]
    return known + sorted(n for n in names if n not in PARAM_ORDER)


@dataclass
class RunDir:
    """One evaluated run: where it is, its parameters and its ``metrics.json``."""

    path: Path
    params: dict[str, str]
    metrics: dict
    train_logs: list[Path] = field(default_factory=list)

    @property
    def seed(self) -> str:
        return self.params.get(SEED_PARAM, "")

    @property
    def cell(self) -> tuple[tuple[str, str], ...]:
        """The run's cell: every parameter except the seed, sorted by name."""
        return tuple(sorted((k, v) for k, v in self.params.items() if k != SEED_PARAM))

    @property
    def predictions_path(self) -> Path:
        return self.path / "predictions.csv"

    @property
    def is_baseline(self) -> bool:
        return "baseline" in self.params


def read_run_dir(path: str | Path) -> RunDir:
    """Read one run directory (``metrics.json`` + ``predictions.csv``); raises DataError naming what is missing."""
    path = Path(path)
    if not path.is_dir():
        raise DataError(path, "run directory does not exist")
    params = parse_params(path)
    if not params:
        raise DataError(path, "run directory has no name~value path segments, so its parameters are unknown")
    metrics_path = path / "metrics.json"
    if not metrics_path.is_file():
        raise DataError(metrics_path, "missing (every run directory needs metrics.json and predictions.csv)")
    if not (path / "predictions.csv").is_file():
        raise DataError(path / "predictions.csv",
                        "missing (every run directory needs metrics.json and predictions.csv)")
    try:
        metrics = json.loads(metrics_path.read_text())
    except json.JSONDecodeError as err:
        raise DataError(metrics_path, f"not valid JSON: {err}") from None
    if not isinstance(metrics, dict):
        raise DataError(metrics_path, "must hold a JSON object")
    # The run's own training log: beside metrics.json, in the parent, or in the parent's train/ (workflow layout).
    logs = [p / "train_log.jsonl" for p in (path, path.parent, path.parent / "train")
            if (p / "train_log.jsonl").is_file()]
    return RunDir(path=path, params=params, metrics=metrics, train_logs=logs)


def read_run_dirs(paths: list[str | Path]) -> list[RunDir]:
    """Read every run directory; two directories with the same parameters are an error."""
    runs = [read_run_dir(p) for p in paths]
    seen: dict[tuple, Path] = {}
    for run in runs:
        key = tuple(sorted(run.params.items()))
        if key in seen:
            raise DataError(run.path, f"has the same parameters as {seen[key]}: {dict(key)}")
        seen[key] = run.path
    return runs


def read_train_log(path: str | Path) -> list[dict]:
    """Rows of a ``train_log.jsonl`` (one JSON object per epoch with at least ``epoch``)."""
    path = Path(path)
    rows = []
    try:
        lines = path.read_text().splitlines()
    except OSError as err:
        raise DataError(path, f"cannot read: {err.strerror}") from None
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(path, f"not a JSON line: {err}", row=i) from None
        if not isinstance(row, dict) or "epoch" not in row:
            raise DataError(path, "each line must be a JSON object with an 'epoch' key", row=i)
        rows.append(row)
    return rows


def cell_label(params: dict[str, str], skip: tuple[str, ...] = (SEED_PARAM,)) -> str:
    """Readable one-line label of a parameter set, e.g. ``transvg / AGPT / fine-tuned / lora / 1.0``."""
    parts = []
    for name in order_params(set(params)):
        if name in skip:
            continue
        value = params[name]
        if name == "init":
            value = INIT_LABELS.get(value, value)
        elif name == "setting":
            value = SETTING_LABELS.get(value, value)
        elif name == "baseline":
            value = f"baseline: {value}"
        elif name == "fraction":
            value = f"{float(value):.0%} train" if _is_float(value) else value
        parts.append(value)
    return " / ".join(parts)


def _is_float(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True
