"""Table renderings: ablation.md / ablation.tex, and the paper-shaped main table (model x initialisation by setting)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from agpt.report.runs import INIT_LABELS, SETTING_LABELS, order_params

METRIC_TITLES: dict[str, str] = {"miou": "mIoU", "acc@0.3": "Acc@0.3", "acc@0.5": "Acc@0.5", "acc@0.7": "Acc@0.7"}
_META_COLUMNS = {"label", "n_seeds", "seeds", "n_phrases", "missing_mean", "category", "missing", "eval_seconds",
                 "run_dir", "checkpoint", "p_value"}


def fmt(value: float, digits: int = 1) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def fmt_mean_std(mean: float, std: float) -> str:
    """``61.2 ± 0.8``; a single seed has no spread: ``61.2 ± –``."""
    return f"{fmt(mean)} ± {fmt(std)}"


def fmt_ci(lo: float, hi: float) -> str:
    return f"[{fmt(lo)}, {fmt(hi)}]"


def param_names(table: pd.DataFrame) -> list[str]:
    """Parameter columns of an ablation-like table that are set in at least one row."""
    names = [c for c in table.columns if c not in _META_COLUMNS and not c.endswith("_x100")]
    return order_params([n for n in names if (table[n].astype(str) != "").any()])


def _metric_text(row: pd.Series, m: str) -> str:
    return (f"{fmt_mean_std(row[f'{m}_mean_x100'], row[f'{m}_std_x100'])} "
            f"{fmt_ci(row[f'{m}_ci95_low_x100'], row[f'{m}_ci95_high_x100'])}")


def ablation_markdown(ablation: pd.DataFrame) -> str:
    """Markdown table: one row per cell, each metric as ``mean ± std [95% CI]`` x100."""
    names = param_names(ablation)
    header = [*names, "seeds", *METRIC_TITLES.values()]
    lines = [
        "Metrics x100: mean ± std over seeds [bootstrap 95% CI over test phrases, seed-averaged].",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    for _, row in ablation.iterrows():
        cells = [str(row[n]) or "–" for n in names] + [str(row["n_seeds"])]
        cells += [_metric_text(row, m) for m in METRIC_TITLES]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _tex_escape(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("%", r"\%"), ("&", r"\&"), ("#", r"\#"),
                 ("~", r"\textasciitilde{}"), ("^", r"\textasciicircum{}"), ("$", r"\$")):
        text = text.replace(a, b)
    return text


def ablation_latex(ablation: pd.DataFrame) -> str:
    """A booktabs ``tabular`` of the same content as :func:`ablation_markdown`."""
    names = param_names(ablation)
    header = [*names, "seeds", *METRIC_TITLES.values()]
    lines = [
        "% Metrics x100: mean $\\pm$ std over seeds [bootstrap 95% CI over test phrases, seed-averaged].",
        "\\begin{tabular}{" + "l" * len(names) + "r" + "c" * len(METRIC_TITLES) + "}",
        "\\toprule",
        " & ".join(_tex_escape(h) for h in header) + " \\\\",
        "\\midrule",
    ]
    for _, row in ablation.iterrows():
        cells = [_tex_escape(str(row[n]) or "--") for n in names] + [str(row["n_seeds"])]
        cells += [_metric_text(row, m).replace("±", "$\\pm$").replace("–", "--") for m in METRIC_TITLES]
        lines.append(" & ".join(cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"


@dataclass
class MainCell:
    """One cell of the main table: Acc@0.5 and mIoU, mean/std over seeds and bootstrap CI (x100)."""

    values: dict[str, float]  # e.g. "miou_mean_x100" -> 61.2
    n_seeds: int
    best: set[str] = field(default_factory=set)  # metrics ("miou", "acc@0.5") best in its column


@dataclass
class MainColumn:
    setting: str
    mode: str
    fraction: str
    title: str


@dataclass
class MainRow:
    model: str
    init: str
    init_label: str
    cells: list[MainCell | None]


def _value_cols(row: pd.Series) -> dict[str, float]:
    return {c: float(row[c]) for c in row.index if c.endswith("_x100")}


def main_table(ablation: pd.DataFrame) -> tuple[list[MainColumn], list[MainRow]]:
    """The paper's shape: rows model x initialisation, columns setting (x mode) at the largest training fraction."""
    table = ablation.copy()
    for col in ("model", "init", "setting", "mode", "fraction"):
        if col not in table.columns:
            table[col] = ""
    table = table[(table["model"].astype(str) != "") & (table["init"].astype(str) != "")]
    if "baseline" in table.columns:
        table = table[table["baseline"].astype(str) == ""]
    columns: list[MainColumn] = []
    for setting in sorted(set(table["setting"]), key=lambda s: (s != "zeroshot", s)):
        sub = table[table["setting"] == setting]
        for mode in sorted(set(sub["mode"]), key=lambda m: (m != "full", m)):
            fractions = sub[sub["mode"] == mode]["fraction"].astype(str)
            numeric = pd.to_numeric(fractions, errors="coerce")
            fraction = fractions.iloc[int(numeric.to_numpy().argmax())] if numeric.notna().any() else fractions.iloc[0]
            title = SETTING_LABELS.get(setting, setting or "(no setting)")
            extras = [m for m in (mode if mode not in ("", "none") else "",) if m]
            if numeric.notna().any() and numeric.nunique() > 1:
                extras.append(f"{float(fraction):.0%} train")
            title += f" ({', '.join('LoRA' if e == 'lora' else e for e in extras)})" if extras else ""
            columns.append(MainColumn(setting=setting, mode=mode, fraction=fraction, title=title))
    rows: list[MainRow] = []
    keys = sorted({(m, i) for m, i in zip(table["model"], table["init"])},
                  key=lambda k: (k[0], list(INIT_LABELS).index(k[1]) if k[1] in INIT_LABELS else 99, k[1]))
    for model, init in keys:
        cells = []
        for col in columns:
            match = table[(table["model"] == model) & (table["init"] == init) & (table["setting"] == col.setting)
                          & (table["mode"] == col.mode) & (table["fraction"].astype(str) == col.fraction)]
            cells.append(MainCell(_value_cols(match.iloc[0]), int(match.iloc[0]["n_seeds"])) if len(match) else None)
        rows.append(MainRow(model=model, init=init, init_label=INIT_LABELS.get(init, init), cells=cells))
    for j in range(len(columns)):
        for m in ("miou", "acc@0.5"):
            present = [r.cells[j] for r in rows if r.cells[j] is not None]
            if len(present) > 1:
                best = max(c.values[f"{m}_mean_x100"] for c in present)
                for c in present:
                    if c.values[f"{m}_mean_x100"] == best:
                        c.best.add(m)
    return columns, rows
