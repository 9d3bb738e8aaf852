"""Provenance for the report: Snakemake benchmark files, what was run, code version and hardware."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from agpt.errors import DataError
from agpt.report.runs import parse_params

# Manifest and config keys that may reach the report.  Everything else (paths, ids, raw headers)
# stays out: a whitelist, so that a new key can never leak identifying values by accident.
MANIFEST_KEYS: tuple[str, ...] = (
    "source", "data_source", "phantom", "image_format", "split_source", "leakage_guard", "pixel_mode",
    "counts", "hash", "version", "config", "n_rejects",
)
CONFIG_KEYS: tuple[str, ...] = (
    "data", "phantom", "models", "model", "preset", "presets", "seeds", "inits", "settings", "modes",
    "fractions", "train_fractions", "split_source", "image_format", "image_size", "epochs", "baselines",
    "grid", "pretrain", "finetune", "evaluation", "report",
)


@dataclass(frozen=True)
class Benchmark:
    """One Snakemake ``benchmark:`` TSV: its rule (first folder under the benchmarks root) and parameters."""

    path: Path
    rule: str
    params: dict[str, str]
    seconds: float  # summed over the file's rows (repeats)
    max_rss_mb: float  # peak over rows; NaN when the column is missing or "-"


def read_benchmarks(root: str | Path | None) -> list[Benchmark]:
    """Every ``*.tsv`` under ``root`` (recursively); the column ``s`` is required."""
    if root is None:
        return []
    root = Path(root)
    if not root.is_dir():
        raise DataError(root, "benchmarks directory does not exist")
    out = []
    for path in sorted(root.rglob("*.tsv")):
        try:
            frame = pd.read_csv(path, sep="\t")
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
            raise DataError(path, f"not a benchmark TSV: {err}") from None
        if "s" not in frame.columns:
            raise DataError(path, f"benchmark TSV has no 's' column (columns: {', '.join(frame.columns)})")
        seconds = pd.to_numeric(frame["s"], errors="coerce")
        if seconds.isna().any():
            row = int(seconds.isna().to_numpy().argmax()) + 2
            raise DataError(path, "non-numeric value in column 's'", row=row)
        rss = pd.to_numeric(frame.get("max_rss", pd.Series(dtype=float)), errors="coerce")
        rel = path.relative_to(root)
        rule = next((p for p in rel.parts[:-1] if "~" not in p), rel.parts[0] if len(rel.parts) > 1 else "")
        params = parse_params(rel)
        if "setting" not in params and "zeroshot" in rule.replace("_", "").replace("-", ""):
            params["setting"] = "zeroshot"  # e.g. benchmarks/evaluate_zeroshot/model~M/init~I.tsv
        out.append(Benchmark(path=path, rule=rule, params=params, seconds=float(seconds.sum()),
                             max_rss_mb=float(rss.max()) if rss.notna().any() else float("nan")))
    return out


def benchmarks_for_run(params: dict[str, str], benchmarks: list[Benchmark]) -> list[Benchmark]:
    """The benchmark files whose parameters equal the run's exactly (e.g. its fine-tuning and evaluation).

    Shared steps (a pre-training used by many cells) match no single run; they count in the total only.
    """
    return [b for b in benchmarks if b.params == params]


def git_version(start: str | Path = ".") -> str:
    """``git describe --always --dirty`` of the repository containing ``start``, else the package version."""
    from agpt import __version__

    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=start, capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return f"agpt {__version__} (no git)"
    return f"agpt {__version__}, git {out.stdout.strip()}" if out.returncode == 0 else f"agpt {__version__} (no git)"


def hardware_summary() -> str:
    """CPU model, cores, memory and NVIDIA GPUs of the machine that builds the report (no torch import)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    parts = [f"{cpu}, {os.cpu_count()} logical cores"]
    try:
        pages, page = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        parts.append(f"{pages * page / 2**30:.0f} GiB RAM")
    except (ValueError, OSError, AttributeError):
        pass
    gpu_dir = Path("/proc/driver/nvidia/gpus")
    gpus = []
    if gpu_dir.is_dir():
        for info in gpu_dir.glob("*/information"):
            for line in info.read_text().splitlines():
                if line.startswith("Model:"):
                    gpus.append(line.split(":", 1)[1].strip())
    parts.append(", ".join(gpus) if gpus else "no GPU")
    return "; ".join(parts) + f"; {platform.system()} {platform.release()}"


def read_manifest_summary(path: str | Path | None) -> dict:
    """Whitelisted keys of the prepared directory's ``manifest.json`` ({} without one)."""
    if path is None:
        return {}
    path = Path(path)
    try:
        manifest = json.loads(path.read_text())
    except OSError as err:
        raise DataError(path, f"cannot read manifest: {err.strerror}") from None
    except json.JSONDecodeError as err:
        raise DataError(path, f"manifest is not valid JSON: {err}") from None
    return _whitelist(manifest, MANIFEST_KEYS)


def read_config_summary(path: str | Path | None) -> dict:
    """Whitelisted keys of the workflow's ``config.yaml`` ({} without one)."""
    if path is None:
        return {}
    path = Path(path)
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except OSError as err:
        raise DataError(path, f"cannot read config: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise DataError(path, f"config is not valid YAML: {err}") from None
    if not isinstance(config, dict):
        raise DataError(path, "config must be a YAML mapping")
    return _whitelist(config, CONFIG_KEYS)


def _whitelist(mapping: dict, keys: tuple[str, ...]) -> dict:
    out = {}
    for key in keys:
        if key in mapping:
            value = mapping[key]
            if isinstance(value, dict):
                # Nested sections: keep scalars and lists of scalars, drop anything that looks like a path.
                value = {k: v for k, v in value.items() if _is_plain(v) and not _looks_like_path(k, v)}
            if isinstance(value, (dict, list, str, int, float, bool)) or value is None:
                out[key] = value
    return out


def _is_plain(value) -> bool:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return True
    return isinstance(value, list) and all(isinstance(v, (str, int, float, bool)) for v in value)


def _looks_like_path(key: str, value) -> bool:
    text = f"{key} {value}".lower()
    return any(t in text for t in ("root", "path", "dir", "/", "file"))


def is_phantom(manifest: dict, config: dict) -> bool | None:
    """True/False where the manifest or config says whether the data are the synthetic phantom, else None."""
    for source in (manifest, config):
        for key in ("phantom", "data_source", "source"):
            value = source.get(key)
            if isinstance(value, bool):
                return value
            if isinstance(value, str):
                return "phantom" in value.lower()
            if isinstance(value, dict) and isinstance(value.get("phantom"), bool):
                return value["phantom"]
        data = source.get("data")
        if isinstance(data, dict):
            for key in ("phantom", "source", "kind"):
                value = data.get(key)
                if isinstance(value, bool):
                    return value
                if isinstance(value, str):
                    return "phantom" in value.lower()
    return None


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
