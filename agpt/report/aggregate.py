"""Collected results: every run scored against the gold table; ablation, per-category, runs and comparison tables.

Statistics (see ``docs/report.md``):
- a *cell* is a run's parameters minus the seed; its mean +- std are over seeds (std with ddof=1,
  NaN for one seed), of each seed's metric over all test phrases;
- its bootstrap 95% interval resamples *phrases*: each phrase's value is averaged over the cell's
  seeds first (its IoU for mIoU, its hit rate ``mean(IoU >= t)`` for Acc@t), so the interval is
  centred on the same seed-averaged mean that the table shows;
- comparisons pair two cells on the same phrases (seed-averaged per-phrase values on each side)
  with a paired bootstrap of the difference.
All table values are x100 (column names end in ``_x100``); metrics.json files hold fractions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from agpt import metrics, scoring
from agpt.errors import DataError
from agpt.report.runs import SEED_PARAM, RunDir, cell_label, order_params

METRICS: tuple[str, ...] = metrics.METRIC_KEYS  # miou, acc@0.3, acc@0.5, acc@0.7
CHECK_TOLERANCE = 1e-6  # metrics.json vs predictions.csv rescored here


@dataclass(frozen=True)
class Comparison:
    """Treatment vs control: cells that differ only in ``param`` (``treatment`` vs ``control``)."""

    name: str
    title: str
    param: str
    treatment: str
    control: str


COMPARISONS: tuple[Comparison, ...] = (
    Comparison("agpt_vs_base", "AGPT vs base initialisation", "init", "agpt", "base"),
    Comparison("synonyms_vs_agpt", "AGPT + synonyms vs AGPT", "init", "agpt_syn", "agpt"),
    Comparison("lora_vs_full", "LoRA vs full fine-tuning", "mode", "lora", "full"),
)


@dataclass
class ScoredRun:
    """A run with its per-phrase IoUs (``metrics.per_pair_iou`` rows, aligned with the gold phrases)."""

    run: RunDir
    pairs: pd.DataFrame

    @property
    def ious(self) -> np.ndarray:
        return self.pairs["iou"].to_numpy(dtype=np.float64)


@dataclass
class Cell:
    """All seeds of one parameter combination; ``ious`` is ``float[n_seeds, n_phrases]``."""

    params: dict[str, str]
    runs: list[ScoredRun]

    @property
    def label(self) -> str:
        return cell_label(self.params)

    @property
    def seeds(self) -> list[str]:
        return [r.run.seed for r in self.runs]

    @property
    def ious(self) -> np.ndarray:
        return np.stack([r.ious for r in self.runs])

    def phrase_values(self, metric: str) -> np.ndarray:
        """``float[n_phrases]``: per-phrase IoU (mIoU) or hit rate (Acc@t), averaged over seeds."""
        ious = self.ious
        if metric == "miou":
            return ious.mean(axis=0)
        threshold = float(metric.split("@", 1)[1])
        return (ious >= threshold).mean(axis=0)


def read_gold(path: str | Path) -> pd.DataFrame:
    """The validated gold MS-CXR CSV (``agpt.scoring.read_gold``: one row per box, xywh original pixels)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "gold file does not exist")
    return scoring.read_gold(path)


def read_predictions(path: Path, gold: pd.DataFrame) -> pd.DataFrame:
    """A run's validated ``predictions.csv`` (``agpt.scoring.read_predictions``)."""
    return scoring.read_predictions(path, gold)


def score_run(gold: pd.DataFrame, gold_path: Path, run: RunDir, protocol: str = "merged") -> ScoredRun:
    """Score ``run``'s predictions against ``gold`` and check them against its ``metrics.json``."""
    try:
        pairs = metrics.per_pair_iou(gold, read_predictions(run.predictions_path, gold), protocol)
    except ValueError as err:
        raise DataError(run.predictions_path, f"cannot be scored against {gold_path}: {err}") from None
    own = metrics.summarize_ious(pairs["iou"].to_numpy())
    for key in ("miou", "acc@0.5"):
        if key in run.metrics and abs(float(run.metrics[key]) - own[key]) > CHECK_TOLERANCE:
            raise DataError(run.path / "metrics.json",
                            f"{key} = {run.metrics[key]} but predictions.csv scored against {gold_path} gives "
                            f"{own[key]:.6f}: was this run evaluated on another gold file or protocol?")
    return ScoredRun(run=run, pairs=pairs)


def group_cells(scored: list[ScoredRun]) -> list[Cell]:
    """Group runs by their parameters minus the seed; cells and their seeds in a stable order."""
    groups: dict[tuple, list[ScoredRun]] = {}
    for s in scored:
        groups.setdefault(s.run.cell, []).append(s)
    cells = [Cell(params=dict(key), runs=sorted(runs, key=lambda r: _seed_key(r.run.seed)))
             for key, runs in groups.items()]
    names = order_params({k for c in cells for k in c.params})
    # Model cells first, baselines (no model) last.
    return sorted(cells, key=lambda c: ("baseline" in c.params,
                                        *(_sort_value(n, c.params.get(n, "")) for n in names)))


def _seed_key(seed: str):
    return (0, int(seed), "") if seed.isdigit() else (1, 0, seed)


_INIT_ORDER = {"base": 0, "agpt": 1, "agpt_syn": 2}
_SETTING_ORDER = {"zeroshot": 0, "finetune": 1}


def _sort_value(name: str, value: str):
    order = {"init": _INIT_ORDER, "setting": _SETTING_ORDER}.get(name, {})
    try:
        number = float(value)
    except ValueError:
        number = 0.0
    return (value == "", order.get(value, len(order)), number, value)


def param_columns(cells: list[Cell], include_seed: bool = False) -> list[str]:
    names = {k for c in cells for k in c.params}
    if include_seed:
        names.add(SEED_PARAM)
    return order_params(names)


def ablation_table(cells: list[Cell], n_resamples: int, seed: int) -> pd.DataFrame:
    """One row per cell: parameters, ``label``, ``n_seeds``, ``seeds``, ``n_phrases`` and for each metric
    ``{m}_mean_x100``, ``{m}_std_x100`` (over seeds), ``{m}_ci95_low_x100``, ``{m}_ci95_high_x100``."""
    names = param_columns(cells)
    rows = []
    for cell in cells:
        row = {n: cell.params.get(n, "") for n in names}
        row.update(label=cell.label, n_seeds=len(cell.runs), seeds=";".join(cell.seeds),
                   n_phrases=cell.ious.shape[1],
                   missing_mean=float(np.mean([r.pairs["missing"].sum() for r in cell.runs])))
        row.update(_metric_columns(cell.ious, lambda m: cell.phrase_values(m), n_resamples, seed))
        rows.append(row)
    return pd.DataFrame(rows)


def _metric_columns(ious: np.ndarray, phrase_values, n_resamples: int, seed: int) -> dict:
    out = {}
    for m in METRICS:
        per_seed = [metrics.summarize_ious(row)[m] for row in ious]
        mean, std = metrics.mean_std_over_seeds(per_seed)
        lo, hi = metrics.bootstrap_ci(phrase_values(m), metrics.mean_iou, n_resamples, seed)
        out.update({f"{m}_mean_x100": 100 * mean, f"{m}_std_x100": 100 * std,
                    f"{m}_ci95_low_x100": 100 * lo, f"{m}_ci95_high_x100": 100 * hi})
    return out


def per_category_table(cells: list[Cell], n_resamples: int, seed: int) -> pd.DataFrame:
    """One row per (cell, category): the same columns as :func:`ablation_table`, on that category's phrases."""
    names = param_columns(cells)
    rows = []
    for cell in cells:
        categories = cell.runs[0].pairs["category_name"].to_numpy()
        for category in sorted(set(categories)):
            mask = categories == category
            row = {n: cell.params.get(n, "") for n in names}
            row.update(label=cell.label, category=category, n_seeds=len(cell.runs), n_phrases=int(mask.sum()))
            row.update(_metric_columns(cell.ious[:, mask], lambda m, mask=mask: cell.phrase_values(m)[mask],
                                       n_resamples, seed))
            rows.append(row)
    return pd.DataFrame(rows)


def runs_table(scored: list[ScoredRun]) -> pd.DataFrame:
    """Every run: parameters (with seed), ``run_dir``, ``n_phrases``, ``missing``, metrics x100,
    and from ``metrics.json`` its ``checkpoint`` and evaluation ``seconds``."""
    names = order_params({k for s in scored for k in s.run.params})
    rows = []
    for s in scored:
        row = {n: s.run.params.get(n, "") for n in names}
        summary = metrics.summarize_ious(s.ious)
        row.update(label=cell_label(s.run.params, skip=()), run_dir=str(s.run.path), n_phrases=len(s.ious),
                   missing=int(s.pairs["missing"].sum()))
        row.update({f"{m}_x100": 100 * summary[m] for m in METRICS})
        row.update(checkpoint=str(s.run.metrics.get("checkpoint", "")),
                   eval_seconds=s.run.metrics.get("seconds", np.nan))
        rows.append(row)
    return pd.DataFrame(rows)


def comparisons_table(cells: list[Cell], n_resamples: int, seed: int,
                      comparisons: tuple[Comparison, ...] = COMPARISONS) -> pd.DataFrame:
    """Paired comparisons of cells that differ in one parameter, on the same test phrases.

    One row per (comparison, matched pair of cells, metric in mIoU / Acc@0.5): the shared
    parameters, ``treatment_x100``, ``control_x100``, ``diff_x100`` and its paired-bootstrap
    ``ci95_low_x100`` / ``ci95_high_x100`` and two-sided ``p_value``.
    """
    names = param_columns(cells)
    index = {tuple(sorted(c.params.items())): c for c in cells}
    rows = []
    for comp in comparisons:
        for cell in cells:
            if cell.params.get(comp.param) != comp.treatment:
                continue
            control = index.get(tuple(sorted({**cell.params, comp.param: comp.control}.items())))
            if control is None:
                continue
            shared = {n: cell.params.get(n, "") for n in names if n != comp.param}
            for m in ("miou", "acc@0.5"):
                res = metrics.paired_bootstrap(cell.phrase_values(m), control.phrase_values(m),
                                               metrics.mean_iou, n_resamples, seed)
                rows.append({
                    "comparison": comp.name, "title": comp.title, **shared,
                    "label": cell_label({k: v for k, v in cell.params.items() if k != comp.param}),
                    "treatment": comp.treatment, "control": comp.control, "metric": m,
                    "n_phrases": res["n"], "n_seeds_treatment": len(cell.runs), "n_seeds_control": len(control.runs),
                    "treatment_x100": 100 * res["a"], "control_x100": 100 * res["b"],
                    "diff_x100": 100 * res["diff"], "ci95_low_x100": 100 * res["ci"][0],
                    "ci95_high_x100": 100 * res["ci"][1], "p_value": res["p_value"],
                })
    columns = ["comparison", "title", *[n for n in names], "label", "treatment", "control", "metric", "n_phrases",
               "n_seeds_treatment", "n_seeds_control", "treatment_x100", "control_x100", "diff_x100",
               "ci95_low_x100", "ci95_high_x100", "p_value"]
    return pd.DataFrame(rows, columns=columns)


@dataclass
class Tables:
    ablation: pd.DataFrame
    per_category: pd.DataFrame
    runs: pd.DataFrame
    comparisons: pd.DataFrame
    cells: list[Cell]


def build_tables(gold_path: str | Path, run_dirs: list[RunDir], n_resamples: int = 1000, seed: int = 0,
                 protocol: str = "merged") -> Tables:
    """Score every run and build all tables (see the module docstring for the statistics)."""
    if not run_dirs:
        raise DataError(gold_path, "no run directories given")
    if n_resamples < 1:
        raise ValueError(f"--bootstrap must be >= 1, got {n_resamples}")
    gold = read_gold(gold_path)
    scored = [score_run(gold, Path(gold_path), r, protocol) for r in run_dirs]
    cells = group_cells(scored)
    return Tables(ablation=ablation_table(cells, n_resamples, seed),
                  per_category=per_category_table(cells, n_resamples, seed),
                  runs=runs_table(scored), comparisons=comparisons_table(cells, n_resamples, seed), cells=cells)


TABLE_FILES: tuple[str, ...] = ("ablation.csv", "ablation.md", "ablation.tex", "per_category.csv", "runs.csv",
                                "comparisons.csv")


def write_tables(tables: Tables, out_dir: str | Path) -> list[Path]:
    """Write :data:`TABLE_FILES` under ``out_dir``; returns their paths."""
    from agpt.report.render import ablation_latex, ablation_markdown

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tables.ablation.to_csv(out / "ablation.csv", index=False)
    (out / "ablation.md").write_text(ablation_markdown(tables.ablation))
    (out / "ablation.tex").write_text(ablation_latex(tables.ablation))
    tables.per_category.to_csv(out / "per_category.csv", index=False)
    tables.runs.to_csv(out / "runs.csv", index=False)
    tables.comparisons.to_csv(out / "comparisons.csv", index=False)
    return [out / name for name in TABLE_FILES]


def read_tables(tables_dir: str | Path) -> dict[str, pd.DataFrame]:
    """The CSV tables written by :func:`write_tables` (parameter columns as strings)."""
    tables_dir = Path(tables_dir)
    out = {}
    for name in ("ablation", "per_category", "runs", "comparisons"):
        path = tables_dir / f"{name}.csv"
        if not path.is_file():
            raise DataError(path, "missing: run `agpt report tables` first")
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        for col in frame.columns:
            if col.endswith("_x100") or col in ("n_seeds", "n_phrases", "missing_mean", "missing", "p_value",
                                                "eval_seconds", "n_seeds_treatment", "n_seeds_control"):
                frame[col] = pd.to_numeric(frame[col].replace("", "nan"), errors="coerce")
        out[name] = frame
    return out
