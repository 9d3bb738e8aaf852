"""The report on the real phantom pipeline: phantom DICOMs (with fake identifying headers) -> prepare -> cache."""

import numpy as np
import pandas as pd
import pydicom
import pytest

from agpt.report.privacy import visible_text
from report_fixtures import run_agpt, write_run


@pytest.fixture(scope="module")
def phantom_report(tmp_path_factory):
    root = tmp_path_factory.mktemp("phantom_report")
    steps = [
        ("phantom", "--out", str(root / "raw"), "--seed", "0", "--n-pretrain", "4", "--n-mscxr-images", "40"),
        ("data", "prepare", "--mimic-root", str(root / "raw" / "mimic-cxr"), "--image-format", "dcm",
         "--imagenome-root", str(root / "raw" / "chest-imagenome"),
         "--mscxr", str(root / "raw" / "ms-cxr" / "MS_CXR_Local_Alignment_v1.1.0.csv"), "--split-source", "mscxr",
         "--out", str(root / "prepared")),
        ("data", "cache", "--prepared", str(root / "prepared"), "--image-root", str(root / "raw" / "mimic-cxr"),
         "--size", "64", "--out", str(root / "cache")),
    ]
    for step in steps:
        out = run_agpt(*step)
        assert out.returncode == 0, out.stderr
    gold_path = root / "prepared" / "mscxr_test.csv"
    gold = pd.read_csv(gold_path, dtype=str, keep_default_na=False)
    for col in ("x", "y", "w", "h", "image_width", "image_height"):
        gold[col] = gold[col].astype(float)
    rng = np.random.default_rng(0)
    runs = []
    for init, noise in (("base", 0.5), ("agpt", 0.2)):
        for seed in (1, 2):
            run = root.joinpath("results", "runs", "model~transvg", f"init~{init}", "setting~finetune", "mode~full",
                                "fraction~1.0", f"seed~{seed}", "eval")
            write_run(run, gold, rng, noise, checkpoint="")
            runs.append(run)
    tables = root / "tables"
    out = run_agpt("report", "tables", "--gold", str(gold_path), "--runs", *map(str, runs), "--out", str(tables))
    assert out.returncode == 0, out.stderr
    html = root / "ablation.html"
    out = run_agpt("report", "html", "--tables", str(tables), "--runs", *map(str, runs), "--gold", str(gold_path),
                   "--cache", str(root / "cache"), "--manifest", str(root / "prepared" / "manifest.json"),
                   "--out", str(html))
    assert out.returncode == 0, out.stderr
    return {"root": root, "gold": gold, "html": html.read_text(encoding="utf-8")}


def test_phantom_headers_never_reach_the_report(phantom_report):
    text = visible_text(phantom_report["html"])
    headers = [pydicom.dcmread(p, stop_before_pixels=True)
               for p in sorted((phantom_report["root"] / "raw" / "mimic-cxr").rglob("*.dcm"))[:20]]
    values = {str(h.get(tag, "")) for h in headers for tag in ("PatientName", "PatientID", "AccessionNumber",
                                                                "PatientBirthDate", "InstitutionName")}
    values.discard("")
    assert values and any("DONOTLEAK" in v for v in values)  # the phantom does plant them
    assert "DONOTLEAK" not in text
    for value in values:
        assert value not in text
    for subject in set(phantom_report["gold"]["subject_id"]) - {""}:
        assert subject not in text and f"p{subject}" not in text


def test_phantom_report_shows_examples_from_the_cache(phantom_report):
    html = phantom_report["html"]
    assert 'id="qualitative"' in html and "transvg: without AGPT (base) and with AGPT" in html
    assert html.count("data:image/png;base64,") >= 3
