"""``agpt score`` end to end, and one clear error (file, row, problem; exit 2) per bad input."""

import json
import subprocess
import sys

import pytest
from metrics_csv import GOLD_HEADER, PRED_HEADER, write_csv

from agpt import cli


def run_cli(monkeypatch, capsys, *argv):
    """Run ``agpt score ...`` in-process (as the console script does); (rc, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["agpt", "score", *argv])
    rc = cli.main(["score", *map(str, argv)])
    out, err = capsys.readouterr()
    return rc, out, err


def test_end_to_end_subprocess(small_pair, tmp_path):
    gold, pred = small_pair
    out_file = tmp_path / "sub" / "metrics.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "agpt",
            "score",
            "--gold",
            str(gold),
            "--pred",
            str(pred),
            "--out",
            str(out_file),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout)
    assert printed == json.loads(out_file.read_text())
    # hand-computed in conftest.small_pair: IoUs 0.5, 1/3, 0 (missing)
    assert printed["protocol"] == "merged" and printed["n"] == 3 and printed["n_gold_boxes"] == 4
    assert printed["miou"] == pytest.approx((0.5 + 1 / 3) / 3, abs=1e-12)
    assert printed["acc@0.3"] == pytest.approx(2 / 3) and printed["acc@0.5"] == pytest.approx(1 / 3)
    assert printed["acc@0.7"] == 0.0
    assert printed["missing"] == 1
    assert printed["missing_phrases"] == [
        {"dicom_id": "img2", "label_text": "right lung", "category_name": "Pneumonia"}
    ]
    assert printed["per_category"]["Edema"] == {
        "n": 1,
        "miou": 0.5,
        "acc@0.3": 1.0,
        "acc@0.5": 1.0,
        "acc@0.7": 0.0,
        "missing": 0,
    }
    assert printed["per_category"]["Cardiomegaly"]["miou"] == pytest.approx(1 / 3)
    assert printed["per_category"]["Pneumonia"]["missing"] == 1
    assert "ci95" not in printed


def test_any_protocol_and_bootstrap(monkeypatch, capsys, small_pair):
    gold, pred = small_pair
    rc, out, _ = run_cli(
        monkeypatch,
        capsys,
        "--gold",
        gold,
        "--pred",
        pred,
        "--protocol",
        "any",
        "--bootstrap",
        "300",
        "--seed",
        "5",
    )
    assert rc == 0
    res = json.loads(out)
    assert res["protocol"] == "any" and res["miou"] == pytest.approx((1 + 1 / 3) / 3)
    assert res["bootstrap"] == {
        "n_resamples": 300,
        "seed": 5,
        "level": 0.95,
        "method": "percentile; phrases resampled with replacement",
    }
    lo, hi = res["ci95"]["miou"]
    assert 0 <= lo <= res["miou"] <= hi <= 1
    assert res["per_category"]["Edema"]["ci95"]["miou"] == [1.0, 1.0]
    rc, again, _ = run_cli(
        monkeypatch,
        capsys,
        "--gold",
        gold,
        "--pred",
        pred,
        "--protocol",
        "any",
        "--bootstrap",
        "300",
        "--seed",
        "5",
    )
    assert json.loads(again) == res


def test_extra_columns_bom_quotes_newlines_and_string_ids(monkeypatch, capsys, tmp_path):
    header = ["subject_id", *GOLD_HEADER, "anno_id"]
    gold = write_csv(
        tmp_path / "gold.csv",
        header,
        [
            ["0001", "0012", "Edema", 'a, b\nand "c"', "f.jpg", 0, 0, 10, 10, 20, 20, "test", "7"],
            ["0001", "12", "Edema", "NA", "f.jpg", 0, 0, 10, 10, 20, 20, "test", "8"],
        ],
    )
    gold.write_bytes(b"\xef\xbb\xbf" + gold.read_bytes())  # UTF-8 BOM as Excel writes it
    pred = write_csv(
        tmp_path / "pred.csv",
        PRED_HEADER,
        [
            ["0012", 'a, b\nand "c"', 0, 0, 10, 10, 0.1],
            ["12", "NA", 0, 0, 10, 5, 0.2],
        ],
    )
    rc, out, err = run_cli(monkeypatch, capsys, "--gold", gold, "--pred", pred)
    assert rc == 0, err
    res = json.loads(out)
    assert res["n"] == 2 and res["missing"] == 0 and res["miou"] == pytest.approx(0.75)


def gold_rows():
    return [
        ["img1", "Edema", "left base", "f/1.jpg", 0, 0, 10, 10, 100, 100, "test"],
        ["img1", "Edema", "left base", "f/1.jpg", 10, 0, 10, 10, 100, 100, "test"],
        ["img2", "Pneumonia", "right, upper", "f/2.jpg", 5, 5, 20, 20, 50, 60, "test"],
    ]


def pred_rows():
    return [["img1", "left base", 0, 0, 10, 10, 0.5], ["img2", "right, upper", 0, 0, 5, 5, 0.5]]


def edit(rows, i, j, value):
    rows = [list(r) for r in rows]
    rows[i][j] = value
    return rows


# (name, which file is bad, header, rows or raw text, expected substrings of the error)
BAD_INPUTS = [
    ("gold missing column", "gold", [c for c in GOLD_HEADER if c != "h"], None, ["lacks column(s) ['h']"]),
    (
        "pred missing column",
        "pred",
        [c for c in PRED_HEADER if c != "label_text"],
        None,
        ["lacks column(s) ['label_text']"],
    ),
    (
        "gold non-numeric",
        "gold",
        GOLD_HEADER,
        edit(gold_rows(), 1, 4, "ten"),
        ["row 2 (line 3)", "x is not a number: 'ten'"],
    ),
    (
        "gold empty number",
        "gold",
        GOLD_HEADER,
        edit(gold_rows(), 0, 8, ""),
        ["row 1 (line 2)", "image_width is not a number"],
    ),
    (
        "pred non-numeric",
        "pred",
        PRED_HEADER,
        edit(pred_rows(), 1, 4, "1,5"),
        ["row 2 (line 3)", "w is not a number: '1,5'"],
    ),
    (
        "pred not finite",
        "pred",
        PRED_HEADER,
        edit(pred_rows(), 0, 2, "nan"),
        ["row 1 (line 2)", "x is not finite"],
    ),
    (
        "gold negative size",
        "gold",
        GOLD_HEADER,
        edit(gold_rows(), 2, 6, -3),
        ["row 3 (line 4)", "negative box size"],
    ),
    (
        "pred negative size",
        "pred",
        PRED_HEADER,
        edit(pred_rows(), 0, 5, -1),
        ["row 1 (line 2)", "negative box size"],
    ),
    (
        "gold zero image size",
        "gold",
        GOLD_HEADER,
        edit(gold_rows(), 2, 9, 0),
        ["row 3 (line 4)", "image size must be positive"],
    ),
    (
        "gold box beyond right edge",
        "gold",
        GOLD_HEADER,
        edit(gold_rows(), 2, 4, 31),
        ["row 3 (line 4)", "outside the image 50 x 60"],
    ),
    (
        "gold box negative x",
        "gold",
        GOLD_HEADER,
        edit(gold_rows(), 0, 4, -1),
        ["row 1 (line 2)", "outside the image"],
    ),
    (
        "duplicate prediction",
        "pred",
        PRED_HEADER,
        [*pred_rows(), ["img1", "left base", 1, 1, 2, 2, 0.1]],
        ["row 3 (line 4)", "second prediction for phrase 'left base' in img1 (first in row 1 (line 2))"],
    ),
    (
        "prediction not in gold",
        "pred",
        PRED_HEADER,
        [*pred_rows(), ["img2", "left base", 1, 1, 2, 2, 0.1]],
        ["row 3 (line 4)", "not in the gold file"],
    ),
    ("empty gold", "gold", None, "", ["empty gold file"]),
    ("empty pred", "pred", None, "", ["empty prediction file"]),
    ("header-only gold", "gold", GOLD_HEADER, [], ["header but no data rows"]),
    ("header-only pred", "pred", PRED_HEADER, [], ["header but no data rows"]),
    (
        "gold phrase category disagrees",
        "gold",
        GOLD_HEADER,
        edit(gold_rows(), 1, 1, "Atelectasis"),
        ["row 2 (line 3)", "category 'Atelectasis' here but 'Edema' in row 1 (line 2)"],
    ),
    (
        "gold phrase image size disagrees",
        "gold",
        GOLD_HEADER,
        edit(gold_rows(), 1, 8, 120),
        ["row 2 (line 3)", "image img1 is 120 x 100 here but 100 x 100 in row 1 (line 2)"],
    ),
    (
        "unquoted comma",
        "gold",
        None,
        ",".join(GOLD_HEADER) + "\nimg1,Edema,left, base,f.jpg,0,0,1,1,10,10,test\n",
        ["row 1 (line 2)", "expected 11 fields as in the header, found 12"],
    ),
    (
        "duplicate header column",
        "pred",
        None,
        "dicom_id,label_text,x,y,w,h,x\na,b,1,1,1,1,1\n",
        ["duplicate column(s) ['x']"],
    ),
    (
        "line numbers count embedded newlines",
        "gold",
        None,
        ",".join(GOLD_HEADER)
        + '\nimg1,Edema,"left\nbase",f.jpg,0,0,1,1,10,10,test\nimg1,Edema,x,f.jpg,0,0,1,-1,10,10,test\n',
        ["row 2 (line 4)", "negative box size"],
    ),
]


@pytest.mark.parametrize("name,bad,header,content,expected", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_gives_one_clear_line_and_exit_2(
    monkeypatch, capsys, tmp_path, name, bad, header, content, expected
):
    gold = write_csv(tmp_path / "gold.csv", GOLD_HEADER, gold_rows())
    pred = write_csv(tmp_path / "pred.csv", PRED_HEADER, pred_rows())
    target = gold if bad == "gold" else pred
    if isinstance(content, str):
        target.write_text(content, encoding="utf-8")
    else:
        default = gold_rows() if bad == "gold" else pred_rows()
        rows = default if content is None else content
        keep = [i for i, c in enumerate(GOLD_HEADER if bad == "gold" else PRED_HEADER) if c in header]
        write_csv(target, header, [[r[i] for i in keep] for r in rows])
    rc, out, err = run_cli(monkeypatch, capsys, "--gold", gold, "--pred", pred)
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("agpt score: error: ")
    assert str(target) in err
    for text in expected:
        assert text in err, err


def test_blank_lines_are_skipped_but_counted_as_lines(monkeypatch, capsys, tmp_path):
    gold = write_csv(tmp_path / "gold.csv", GOLD_HEADER, gold_rows())
    pred = tmp_path / "pred.csv"
    pred.write_text(",".join(PRED_HEADER) + "\n\nimg1,left base,0,0,10,10,1\n\nimg1,left base,0,0,1,1,1\n")
    rc, _, err = run_cli(monkeypatch, capsys, "--gold", gold, "--pred", pred)
    assert rc == 2 and "row 2 (line 5): second prediction" in err and "first in row 1 (line 3)" in err


def test_not_utf8(monkeypatch, capsys, tmp_path):
    gold = write_csv(tmp_path / "gold.csv", GOLD_HEADER, gold_rows())
    pred = tmp_path / "pred.csv"
    pred.write_bytes(b"dicom_id,label_text,x,y,w,h\nimg1,left \xff base,0,0,1,1\n")
    rc, _, err = run_cli(monkeypatch, capsys, "--gold", gold, "--pred", pred)
    assert rc == 2 and f"{pred}: not UTF-8 text" in err and err.count("\n") == 1


def test_missing_file_and_bad_options(monkeypatch, capsys, small_pair, tmp_path):
    gold, pred = small_pair
    rc, _, err = run_cli(monkeypatch, capsys, "--gold", tmp_path / "nope.csv", "--pred", pred)
    assert rc == 2 and "nope.csv: cannot open gold file" in err
    rc, _, err = run_cli(monkeypatch, capsys, "--gold", gold, "--pred", pred, "--bootstrap", "-1")
    assert rc == 2 and "--bootstrap must be >= 0" in err


def test_bad_input_exit_status_in_a_real_process(small_pair):
    gold, pred = small_pair
    pred.write_text(pred.read_text() + "img9,unknown,0,0,1,1,0\n")
    proc = subprocess.run(
        [sys.executable, "-m", "agpt", "score", "--gold", str(gold), "--pred", str(pred)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip() == (
        f"agpt score: error: {pred}, row 3 (line 4): prediction for phrase "
        f"'unknown' in 'img9', which is not in the gold file"
    )


def test_score_command_does_not_import_torch():
    # agpt score is numpy-only: torch costs ~1.5 s of start-up per call
    code = "import sys, agpt.cli, agpt.commands.score, agpt.scoring; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
