"""Run-directory parameters, benchmark files, train logs and config/manifest whitelists."""

import json

import pytest

from agpt.errors import DataError
from agpt.report.provenance import benchmarks_for_run, is_phantom, read_benchmarks, read_manifest_summary
from agpt.report.runs import cell_label, parse_params, read_run_dir, read_run_dirs, read_train_log


def test_parse_params_from_path_segments():
    p = parse_params("results/runs/model~transvg/init~agpt_syn/setting~finetune/mode~lora/fraction~1.0/seed~1/eval")
    assert p == {"model": "transvg", "init": "agpt_syn", "setting": "finetune", "mode": "lora",
                 "fraction": "1.0", "seed": "1"}
    assert parse_params("results/baselines/baseline~centre/eval") == {"baseline": "centre"}
    assert parse_params("benchmarks/evaluate/model~mdetr/seed~2.tsv") == {"model": "mdetr", "seed": "2"}
    assert parse_params("x/setting~zero-shot") == {"setting": "zeroshot"}


def test_parse_params_rejects_conflicts_and_empty_values():
    with pytest.raises(DataError, match="twice"):
        parse_params("model~a/model~b")
    with pytest.raises(DataError, match="name~value"):
        parse_params("model~/x")


def test_cell_label_is_readable():
    assert cell_label({"model": "transvg", "init": "agpt_syn", "setting": "finetune", "fraction": "0.25",
                       "seed": "1"}) == "transvg / AGPT + synonyms / fine-tuned / 25% train"


def test_run_dir_errors_name_the_missing_file(tmp_path):
    run = tmp_path / "model~m" / "seed~1"
    run.mkdir(parents=True)
    with pytest.raises(DataError, match="metrics.json"):
        read_run_dir(run)
    (run / "metrics.json").write_text("{}")
    with pytest.raises(DataError, match="predictions.csv"):
        read_run_dir(run)
    (run / "predictions.csv").write_text("dicom_id,label_text,x,y,w,h\n")
    assert read_run_dir(run).params == {"model": "m", "seed": "1"}
    with pytest.raises(DataError, match="no name~value"):
        read_run_dir(tmp_path)
    with pytest.raises(DataError, match="same parameters"):
        read_run_dirs([run, run])


def test_train_log_bad_line_names_row(tmp_path):
    log = tmp_path / "train_log.jsonl"
    log.write_text(json.dumps({"epoch": 1, "train_loss": 1.0}) + "\n{oops\n")
    with pytest.raises(DataError, match="row 2"):
        read_train_log(log)


def test_benchmarks_match_runs_exactly(results):
    bench = read_benchmarks(results["benchmarks"])
    assert {b.rule for b in bench} == {"evaluate_zeroshot", "evaluate_finetuned", "finetune", "pretrain", "baseline"}
    params = {"model": "transvg", "init": "agpt", "setting": "finetune", "mode": "lora", "fraction": "1.0",
              "seed": "2"}
    matched = benchmarks_for_run(params, bench)
    assert sorted(b.rule for b in matched) == ["evaluate_finetuned", "finetune"]
    assert sum(b.seconds for b in matched) == pytest.approx(32.0)
    assert max(b.max_rss_mb for b in matched) == pytest.approx(900.0)
    # The zero-shot evaluation's benchmark path has no setting~ segment: the rule name supplies it,
    # and the shared pre-training (same model and init) matches no single run.
    zeroshot = benchmarks_for_run({"model": "mdetr", "init": "agpt_syn", "setting": "zeroshot"}, bench)
    assert [b.rule for b in zeroshot] == ["evaluate_zeroshot"]
    assert [b.rule for b in benchmarks_for_run({"baseline": "centre"}, bench)] == ["baseline"]


def test_benchmark_without_seconds_column_is_an_error(tmp_path):
    (tmp_path / "rule").mkdir()
    (tmp_path / "rule" / "seed~1.tsv").write_text("max_rss\n3\n")
    with pytest.raises(DataError, match="'s' column"):
        read_benchmarks(tmp_path)


def test_manifest_summary_is_a_whitelist(results):
    summary = read_manifest_summary(results["manifest"])
    assert "PatientName" not in summary
    assert summary["config"] == {"image_format": "dcm", "split_source": "medrpg", "leakage_guard": "all-mscxr"}
    assert is_phantom(summary, {}) is None  # the manifest does not say; the workflow config does
    assert is_phantom(summary, {"data": {"source": "phantom"}}) is True
    assert is_phantom({}, {}) is None
    assert is_phantom({"source": "mimic-cxr"}, {}) is False
