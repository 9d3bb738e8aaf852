"""The collected tables agree with an independent recomputation from the predictions."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from agpt.errors import DataError
from agpt.report.aggregate import build_tables, read_tables
from agpt.report.runs import parse_params, read_run_dirs
from report_fixtures import independent_scores, run_agpt

METRICS = ("miou", "acc@0.3", "acc@0.5", "acc@0.7")


def _independent_cells(results) -> dict:
    """cell key (params minus seed) -> {seed: {phrase: iou}} from predictions.csv, without agpt code."""
    gold = pd.read_csv(results["gold"], dtype={"dicom_id": str})
    cells = {}
    for run in results["runs"]:
        params = parse_params(run)
        seed = params.pop("seed", "")
        pred = pd.read_csv(run / "predictions.csv", dtype={"dicom_id": str})
        cells.setdefault(tuple(sorted(params.items())), {})[seed] = independent_scores(gold, pred)
    return cells


def _metric(ious, m):
    ious = np.asarray(list(ious))
    return ious.mean() if m == "miou" else (ious >= float(m.split("@")[1])).mean()


def _key(row, names):
    return tuple(sorted((n, str(row[n])) for n in names if str(row[n]) != ""))


def test_cli_writes_every_table(built_report):
    for name in ("ablation.csv", "ablation.md", "ablation.tex", "per_category.csv", "runs.csv", "comparisons.csv"):
        assert (built_report["tables"] / name).stat().st_size > 0
    md = (built_report["tables"] / "ablation.md").read_text()
    assert "| model |" in md.replace("| baseline | model |", "| model |") and "±" in md
    tex = (built_report["tables"] / "ablation.tex").read_text()
    assert "\\begin{tabular}" in tex and "agpt\\_syn" in tex and "\\bottomrule" in tex


def test_ablation_agrees_with_independent_recomputation(built_report):
    tables = read_tables(built_report["tables"])
    ablation = tables["ablation"]
    names = [c for c in ("baseline", "model", "init", "setting", "mode", "fraction") if c in ablation.columns]
    expected = _independent_cells(built_report)
    assert len(ablation) == len(expected) == 2 * 2 + 2 * 3 * 4 + 2
    for _, row in ablation.iterrows():
        seeds = expected[_key(row, names)]
        assert row["n_seeds"] == len(seeds)
        for m in METRICS:
            per_seed = [_metric(s.values(), m) for s in seeds.values()]
            assert row[f"{m}_mean_x100"] == pytest.approx(100 * np.mean(per_seed), abs=1e-9)
            if len(per_seed) > 1:
                assert row[f"{m}_std_x100"] == pytest.approx(100 * np.std(per_seed, ddof=1), abs=1e-9)
            else:
                assert np.isnan(row[f"{m}_std_x100"])
            lo, hi = row[f"{m}_ci95_low_x100"], row[f"{m}_ci95_high_x100"]
            assert lo <= row[f"{m}_mean_x100"] + 1e-9 <= hi + 2e-9


def test_runs_and_per_category_agree_with_recomputation(built_report):
    tables = read_tables(built_report["tables"])
    expected = _independent_cells(built_report)
    for _, row in tables["runs"].iterrows():
        params = parse_params(row["run_dir"])
        seed = params.pop("seed", "")
        ious = expected[tuple(sorted(params.items()))][seed]
        assert row["miou_x100"] == pytest.approx(100 * np.mean(list(ious.values())), abs=1e-9)
        assert row["missing"] == 1  # the fixture drops one prediction per run
    gold = pd.read_csv(built_report["gold"], dtype={"dicom_id": str})
    category = dict(zip(zip(gold["dicom_id"], gold["label_text"]), gold["category_name"]))
    per_cat = tables["per_category"]
    row = per_cat[(per_cat["model"] == "mdetr") & (per_cat["init"] == "agpt") & (per_cat["setting"] == "zeroshot")
                  & (per_cat["category"] == "Edema")].iloc[0]
    seeds = expected[(("init", "agpt"), ("model", "mdetr"), ("setting", "zeroshot"))]
    per_seed = [np.mean([v for k, v in s.items() if category[k] == "Edema"]) for s in seeds.values()]
    assert row["miou_mean_x100"] == pytest.approx(100 * np.mean(per_seed), abs=1e-9)
    assert row["n_phrases"] == 3


def test_comparisons_are_paired_differences_of_seed_averaged_phrases(built_report):
    comp = read_tables(built_report["tables"])["comparisons"]
    assert set(comp["comparison"]) == {"agpt_vs_base", "synonyms_vs_agpt", "lora_vs_full"}
    # x 2 metrics: base has no zero-shot cell, so AGPT vs base is fine-tuned only (2 models x 2 modes x
    # 2 fractions); synonyms vs AGPT adds zero-shot; LoRA vs full is 2 models x 3 inits x 2 fractions.
    assert (comp["comparison"] == "agpt_vs_base").sum() == 2 * 4 * 2
    assert (comp["comparison"] == "synonyms_vs_agpt").sum() == 2 * 5 * 2
    assert (comp["comparison"] == "lora_vs_full").sum() == 2 * 3 * 2 * 2
    expected = _independent_cells(built_report)
    row = comp[(comp["comparison"] == "agpt_vs_base") & (comp["model"] == "transvg") & (comp["mode"] == "lora")
               & (comp["fraction"] == "0.5") & (comp["metric"] == "miou")].iloc[0]
    cell = (("fraction", "0.5"), ("mode", "lora"), ("model", "transvg"), ("setting", "finetune"))
    treat = expected[tuple(sorted((("init", "agpt"), *cell)))]
    ctrl = expected[tuple(sorted((("init", "base"), *cell)))]
    t = np.mean([np.mean(list(s.values())) for s in treat.values()])
    c = np.mean([np.mean(list(s.values())) for s in ctrl.values()])
    assert row["diff_x100"] == pytest.approx(100 * (t - c), abs=1e-9)
    assert row["ci95_low_x100"] <= row["diff_x100"] <= row["ci95_high_x100"]
    assert 0 <= row["p_value"] <= 1


def test_bootstrap_is_deterministic_under_a_seed(results):
    runs = read_run_dirs(results["runs"][:4])
    a = build_tables(results["gold"], runs, n_resamples=200, seed=3).ablation
    b = build_tables(results["gold"], runs, n_resamples=200, seed=3).ablation
    c = build_tables(results["gold"], runs, n_resamples=200, seed=4).ablation
    pd.testing.assert_frame_equal(a, b)
    assert not a["miou_ci95_low_x100"].equals(c["miou_ci95_low_x100"])


def test_metrics_json_that_disagrees_with_predictions_is_an_error(results, tmp_path):
    run = tmp_path / "model~x" / "init~base" / "seed~1"
    shutil.copytree(results["runs"][0], run)
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["miou"] += 0.01
    (run / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(DataError, match="metrics.json.*miou"):
        build_tables(results["gold"], read_run_dirs([run]), n_resamples=10)


def test_bad_prediction_row_is_named(results, tmp_path):
    run = tmp_path / "model~x" / "init~base" / "seed~1"
    shutil.copytree(results["runs"][0], run)
    with open(run / "predictions.csv", "a") as f:
        f.write("dcm000,not a gold phrase,1,2,3,4,0.5\n")
    out = run_agpt("report", "tables", "--gold", str(results["gold"]), "--runs", str(run), "--out",
                   str(tmp_path / "t"))
    assert out.returncode == 2
    assert "predictions.csv" in out.stderr and "not a gold phrase" in out.stderr
