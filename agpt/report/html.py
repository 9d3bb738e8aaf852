"""The self-contained HTML ablation report: collects tables, figures and provenance and renders the jinja2 template."""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import pandas as pd

from agpt.errors import DataError
from agpt.report import figures, qualitative
from agpt.report.aggregate import group_cells, read_gold, read_predictions, read_tables, score_run
from agpt.report.privacy import check_no_identifiers, identifiers_from_gold
from agpt.report.provenance import (
    benchmarks_for_run, git_version, hardware_summary, is_phantom, read_benchmarks, read_config_summary,
    read_manifest_summary, utc_now,
)
from agpt.report.render import fmt, fmt_ci, fmt_mean_std, main_table, param_names
from agpt.report.runs import SETTING_LABELS, parse_params, read_run_dirs, read_train_log

TEMPLATE = "ablation.html.j2"
PUBLISHED_COLUMNS = ("system", "setting", "split", "n_test", "acc@0.5", "miou", "source", "caveat")


@dataclass
class ReportInputs:
    """Everything ``agpt report html`` reads (paths as given on the command line)."""

    tables_dir: Path
    run_dirs: list[Path]
    gold: Path
    cache: object  # agpt.data.cache.ImageCache or anything with its interface
    out: Path
    train_logs: list[Path] = field(default_factory=list)
    benchmarks: Path | None = None
    config: Path | None = None
    manifest: Path | None = None
    seed: int = 0
    n_qualitative: int = 6


def load_published() -> tuple[pd.DataFrame | None, str]:
    """The published reference rows (``agpt.baselines.load_published_results``), or None and why not."""
    try:
        from agpt.baselines import load_published_results
    except ImportError:
        try:
            from agpt.baselines.published import load_published_results
        except ImportError:
            return None, "the published reference table (agpt.baselines) is not installed in this version"
    table = pd.DataFrame(load_published_results())
    missing = [c for c in PUBLISHED_COLUMNS if c not in table.columns]
    if missing:
        raise DataError("agpt/resources/published_results.csv", f"missing column(s) {missing}")
    return table, ""


def _png(data: bytes | None) -> str | None:
    return None if data is None else "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _preset_of(checkpoint: str) -> str:
    """The preset recorded in a checkpoint's ``config.json`` ('' when there is none)."""
    path = Path(checkpoint) / "config.json" if checkpoint else None
    if not path or not path.is_file():
        return ""
    try:
        config = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return ""
    for section in (config, config.get("model", {}) if isinstance(config.get("model"), dict) else {}):
        if isinstance(section.get("preset"), str):
            return section["preset"]
    return ""


def _config_presets(config: dict) -> list[str]:
    model = config.get("model") if isinstance(config.get("model"), dict) else {}
    preset = config.get("preset") or model.get("preset")
    return [str(preset)] if preset else []


def _facts(summary: dict, prefix: bool = False) -> list[str]:
    """``key: value`` strings of a whitelisted manifest or config, one level of nesting flattened
    (``prefix``: name nested keys ``section key``)."""
    def text(value) -> str:
        return ", ".join(map(str, value)) if isinstance(value, list) else str(value)

    out = []
    for key, value in summary.items():
        if key in ("counts", "phantom", "format", "code_version", "rejects"):
            continue
        if isinstance(value, dict):
            out += [f"{key + ' ' if prefix and key != 'config' else ''}{k}: {text(v)}".replace("_", " ")
                    for k, v in value.items() if not isinstance(v, dict)]
        else:
            out.append(f"{key}: {text(value)}".replace("_", " "))
    return list(dict.fromkeys(out))


def _main_table_context(ablation: pd.DataFrame) -> dict:
    columns, rows = main_table(ablation)
    out_rows = []
    for r in rows:
        cells = []
        for col, cell in zip(columns, r.cells):
            if cell is None:
                cells.append(None)
                continue
            v = cell.values
            cells.append({
                "column": col.title, "n_seeds": cell.n_seeds,
                "metrics": [{"key": m, "name": name, "mean": fmt(v[f"{m}_mean_x100"]),
                             "text": fmt_mean_std(v[f"{m}_mean_x100"], v[f"{m}_std_x100"]),
                             "ci": fmt_ci(v[f"{m}_ci95_low_x100"], v[f"{m}_ci95_high_x100"]), "best": m in cell.best}
                            for m, name in (("acc@0.5", "Acc@0.5"), ("miou", "mIoU"))],
            })
        out_rows.append({"model": r.model, "init": r.init, "init_label": r.init_label, "cells": cells})
    baselines = []
    if "baseline" in ablation.columns:
        for _, row in ablation[ablation["baseline"].astype(str) != ""].iterrows():
            baselines.append({"name": row["baseline"], "n_seeds": int(row["n_seeds"]), "metrics": [
                {"key": m, "name": name, "text": fmt_mean_std(row[f"{m}_mean_x100"], row[f"{m}_std_x100"])
                 if int(row["n_seeds"]) > 1 else fmt(row[f"{m}_mean_x100"]),
                 "ci": fmt_ci(row[f"{m}_ci95_low_x100"], row[f"{m}_ci95_high_x100"])}
                for m, name in (("acc@0.5", "Acc@0.5"), ("miou", "mIoU"))]})
    return {"columns": [c.title for c in columns], "column_settings": [c.setting for c in columns],
            "rows": out_rows, "baselines": baselines}


def _published_context(published: pd.DataFrame | None, settings: list[str]) -> list[dict]:
    if published is None:
        return []
    out = []
    for _, row in published.iterrows():
        setting = str(row["setting"]).lower().replace("-", "").replace("_", "").replace(" ", "")
        key = "zeroshot" if "zero" in setting else "finetune" if "fine" in setting else ""
        span = [i for i, s in enumerate(settings) if s == key]
        out.append({"system": row["system"], "setting": row["setting"], "split": row["split"],
                    "n_test": row["n_test"], "acc": _num(row["acc@0.5"]), "miou": _num(row["miou"]),
                    "source": row["source"], "caveat": row["caveat"],
                    "first": span[0] if span else None, "span": len(span)})
    return out


def _num(value) -> str:
    number = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
    return "–" if pd.isna(number) else f"{number:.2f}".rstrip("0").rstrip(".")


def _comparisons_context(comparisons: pd.DataFrame) -> list[dict]:
    out = []
    for _, row in comparisons[comparisons["metric"] == "miou"].iterrows():
        lo, hi = row["ci95_low_x100"], row["ci95_high_x100"]
        out.append({"title": row["title"], "label": row["label"], "treatment": fmt(row["treatment_x100"]),
                    "control": fmt(row["control_x100"]), "diff": f"{row['diff_x100']:+.1f}", "ci": fmt_ci(lo, hi),
                    "p": "< 0.001" if row["p_value"] < 0.001 else f"{row['p_value']:.3f}",
                    "clear": bool(lo > 0 or hi < 0),
                    "direction": "gain" if lo > 0 else "loss" if hi < 0 else "unclear"})
    return out


def _headlines(comparisons: pd.DataFrame) -> list[str]:
    """One plain sentence per comparison type, from the mIoU rows of ``comparisons.csv``."""
    out = []
    rows = comparisons[comparisons["metric"] == "miou"]
    for name, group in rows.groupby("comparison", sort=False):
        gains = int((group["ci95_low_x100"] > 0).sum())
        losses = int((group["ci95_high_x100"] < 0).sum())
        n = len(group)
        lo, hi = group["diff_x100"].min(), group["diff_x100"].max()
        spread = f"{lo:+.1f}" if n == 1 else f"from {lo:+.1f} to {hi:+.1f}"
        out.append(f"{group['title'].iloc[0]}: mIoU difference {spread} points over {n} matched cell"
                   f"{'s' if n != 1 else ''}; the 95% interval excludes zero for {gains} gain"
                   f"{'s' if gains != 1 else ''} and {losses} loss{'es' if losses != 1 else ''}, "
                   f"{n - gains - losses} {'is' if n - gains - losses == 1 else 'are'} inconclusive.")
    return out


def _provenance_rows(runs_table: pd.DataFrame, benchmarks) -> tuple[list[str], list[dict]]:
    names = param_names(runs_table.drop(columns=["run_dir", "checkpoint"], errors="ignore"))
    rows = []
    for _, row in runs_table.iterrows():
        params = {n: str(row[n]) for n in names if str(row[n]) != ""}
        matched = benchmarks_for_run(params, benchmarks)
        rows.append({"params": [row[n] or "–" for n in names],
                     "miou": fmt(row["miou_x100"]), "acc": fmt(row["acc@0.5_x100"]),
                     "missing": int(row["missing"]),
                     "runtime": f"{sum(b.seconds for b in matched):.1f} s ({', '.join(b.rule for b in matched)})"
                     if matched else "–",
                     "rss": fmt(max(b.max_rss_mb for b in matched), 0) + " MB" if matched else "–",
                     "checkpoint": row["checkpoint"] or "–", "run_dir": row["run_dir"]})
    return names, rows


def build_html_report(inputs: ReportInputs) -> Path:
    """Build the report described in ``docs/report.md`` and write it to ``inputs.out``."""
    tables = read_tables(inputs.tables_dir)
    run_dirs = read_run_dirs(inputs.run_dirs)
    table_runs = {tuple(sorted(parse_params(p).items())) for p in tables["runs"]["run_dir"]}
    given = {tuple(sorted(r.params.items())) for r in run_dirs}
    if table_runs != given:
        raise DataError(inputs.tables_dir / "runs.csv", f"lists other runs than --runs ({len(table_runs)} vs "
                        f"{len(given)}): rebuild the tables with `agpt report tables` on the same runs")
    gold = read_gold(inputs.gold)
    scored = [score_run(gold, inputs.gold, r) for r in run_dirs]
    cells = group_cells(scored)

    logs = [(r.params, read_train_log(p)) for r in run_dirs for p in r.train_logs]
    seen = {Path(p).resolve() for r in run_dirs for p in r.train_logs}
    logs += [(parse_params(p), read_train_log(p)) for p in inputs.train_logs if Path(p).resolve() not in seen]
    benchmarks = read_benchmarks(inputs.benchmarks)
    manifest = read_manifest_summary(inputs.manifest)
    config = read_config_summary(inputs.config)
    published, published_note = load_published()

    predictions = {str(s.run.path): read_predictions(s.run.predictions_path, gold) for s in scored}
    selection = qualitative.select_phrases(scored[0].pairs, inputs.n_qualitative, inputs.seed)
    qual = [{"model": model, "png": _png(qualitative.qualitative_figure(model, runs, selection, gold, inputs.cache,
                                                                        predictions))}
            for model, runs in qualitative.pick_runs(cells).items()]

    main = _main_table_context(tables["ablation"])
    model_runs = [r for r in run_dirs if not r.is_baseline]
    presets = sorted({p for p in (_preset_of(str(r.metrics.get("checkpoint", ""))) for r in model_runs) if p})
    out_dir = inputs.out.parent.resolve()
    links = [{"name": f"{n}.csv", "href": os.path.relpath((inputs.tables_dir / f"{n}.csv").resolve(), out_dir)}
             for n in ("ablation", "per_category", "comparisons", "runs")]
    prov_names, prov_rows = _provenance_rows(tables["runs"], benchmarks)
    rules: dict[str, float] = {}
    for b in benchmarks:
        rules[b.rule] = rules.get(b.rule, 0.0) + b.seconds
    context = {
        "phantom": is_phantom(manifest, config), "manifest": manifest, "config": config,
        "gold_name": inputs.gold.name, "n_phrases": int(scored[0].pairs.shape[0]),
        "n_categories": int(scored[0].pairs["category_name"].nunique()),
        "models": sorted({r.params.get("model", "") for r in model_runs} - {""}),
        "baselines": sorted({r.params["baseline"] for r in run_dirs if r.is_baseline}),
        "presets": presets or _config_presets(config), "data_facts": _facts(manifest, prefix=True),
        "config_facts": _facts(config, prefix=True),
        "settings": [SETTING_LABELS.get(s, s)
                     for s in sorted({r.params.get("setting", "") for r in model_runs} - {""})],
        "seeds": sorted({r.seed for r in model_runs if r.seed}, key=lambda s: (len(s), s)),
        "n_runs": len(run_dirs), "n_cells": len(cells), "version": git_version(Path.cwd()), "date": utc_now(),
        "hardware": hardware_summary(), "compute_seconds": sum(b.seconds for b in benchmarks),
        "n_benchmarks": len(benchmarks), "compute_by_rule": sorted(rules.items()),
        "main": main, "published": _published_context(published, main["column_settings"]),
        "published_note": published_note, "comparisons": _comparisons_context(tables["comparisons"]),
        "headlines": _headlines(tables["comparisons"]),
        "fig_effects": _png(figures.effect_plot(tables["comparisons"])),
        "fig_categories": _png(figures.category_heatmap(tables["per_category"])),
        "fig_iou": _png(figures.iou_distributions(cells)),
        "fig_lora": _png(figures.lora_vs_full_plot(tables["ablation"])),
        "fig_fraction": _png(figures.data_efficiency_plot(tables["ablation"])),
        "fig_training": _png(figures.training_curves(logs)), "n_train_logs": len(logs),
        "qualitative": qual, "selection": selection.to_dict(orient="records"), "qual_seed": inputs.seed,
        "prov_names": prov_names, "prov_rows": prov_rows, "links": links,
    }
    env = jinja2.Environment(loader=jinja2.PackageLoader("agpt", "resources/report"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]), undefined=jinja2.StrictUndefined)
    html = env.get_template(TEMPLATE).render(**context)
    check_no_identifiers(html, identifiers_from_gold(gold))
    inputs.out.parent.mkdir(parents=True, exist_ok=True)
    inputs.out.write_text(html, encoding="utf-8")
    return inputs.out

