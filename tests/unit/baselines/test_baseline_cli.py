"""``agpt baseline`` end to end on a hand-made prepared directory; ``agpt score`` accepts its predictions."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest
from baseline_fixtures import TEST, write_prepared


def _run(*args):
    return subprocess.run([sys.executable, "-m", "agpt", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("baseline", ["centre", "category", "anatomy"])
def test_baseline_writes_predictions_that_agpt_score_accepts(tmp_path, baseline):
    root = write_prepared(tmp_path / "prepared")
    out = tmp_path / "out"
    res = _run("baseline", baseline, "--prepared", str(root), "--split", "test", "--out", str(out))
    assert res.returncode == 0, res.stderr
    with open(out / "predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["dicom_id"], r["label_text"]) for r in rows] == [(s.dicom_id, s.label_text) for s in TEST]
    assert list(rows[0])[:7] == ["dicom_id", "label_text", "x", "y", "w", "h", "score"] and "rule" in rows[0]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["baseline"] == baseline and metrics["split"] == "test" and metrics["n"] == len(TEST)
    assert sum(metrics["rules"].values()) == len(TEST)
    scored = _run("score", "--gold", str(root / "mscxr_test.csv"), "--pred", str(out / "predictions.csv"))
    assert scored.returncode == 0, scored.stderr
    assert json.loads(scored.stdout)["miou"] == pytest.approx(metrics["miou"])


def test_known_scores(tmp_path):
    root = write_prepared(tmp_path / "prepared")
    # centre: the "No left effusion." gold box *is* the centre prior on its image (IoU 1), the rest
    # are computed by hand: bibasilar gold (20,200,280,280) vs (70,40,190,170): no overlap -> 0;
    # apex gold (20,10,100,60) vs the prior: inter 30x20=600, union 4000+15600-600 -> 600/19000.
    _run("baseline", "centre", "--prepared", str(root), "--out", str(tmp_path / "c"))
    m = json.loads((tmp_path / "c" / "metrics.json").read_text())
    assert m["acc@0.5"] == pytest.approx(1 / 4)
    assert m["miou"] == pytest.approx((0 + 600 / 19000 + 1 + 0) / 4)
    # anatomy: bibasilar -> this image's two lower zones, union (20,200,280,280) == gold -> IoU 1
    _run("baseline", "anatomy", "--prepared", str(root), "--out", str(tmp_path / "a"))
    a = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert a["rules"] == {"anatomy_image": 1, "anatomy_mean": 1, "category": 1, "centre_unseen_category": 1}
    assert a["per_category"]["Atelectasis"]["miou"] == pytest.approx(1.0)


def test_bad_inputs_are_one_line_errors(tmp_path):
    root = write_prepared(tmp_path / "prepared")
    (root / "anatomy_mscxr.csv").unlink()
    res = _run("baseline", "anatomy", "--prepared", str(root), "--out", str(tmp_path / "o"))
    assert res.returncode == 2 and "anatomy_mscxr.csv" in res.stderr and "Traceback" not in res.stderr
    res = _run("baseline", "centre", "--prepared", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o"))
    assert res.returncode == 2 and "mscxr_train.csv" in res.stderr
    res = _run("baseline", "anatomy", "--prepared", str(write_prepared(tmp_path / "p2")), "--out", str(tmp_path / "o"),
               "--synonyms", str(tmp_path / "missing.json"))
    assert res.returncode == 2 and "missing.json" in res.stderr
