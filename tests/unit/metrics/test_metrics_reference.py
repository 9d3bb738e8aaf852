"""``agpt score`` against a deliberately separate, naive pure-Python implementation.

The reference below shares no code with ``agpt``: it parses the CSVs itself, groups phrases
with dicts, computes IoU with scalar arithmetic and loops, and takes percentiles by hand.
The only numpy call is the documented bootstrap draw
``numpy.random.default_rng(seed).integers(0, n, size=(n_resamples, n))``: the indices are part
of the metric's definition (a seed fixes every interval), not an implementation detail.
Every reported number must agree to 1e-9 on randomised gold/prediction files with multi-box
phrases, missing predictions, degenerate boxes, out-of-image predictions and awkward phrases.
"""

import csv
import json
import math
import random
import sys

import numpy as np
import pytest
from metrics_csv import GOLD_HEADER, PRED_HEADER, write_csv

from agpt import cli

CATEGORIES = [
    "Atelectasis",
    "Cardiomegaly",
    "Consolidation",
    "Edema",
    "Lung Opacity",
    "Pleural Effusion",
    "Pneumonia",
    "Pneumothorax",
]
PHRASES = [
    "small left effusion",
    'Right basal "opacity", likely atelectasis',
    "cardiomegaly",
    "NA",
    "pneumothorax at the apex, left",
    "patchy opacity\nright lower lobe",
    "edema",
]
TOL = 1e-9


# ---------------------------------------------------------------- naive reference implementation
def ref_iou(a, b):
    """IoU of two (x1, y1, x2, y2) tuples; zero union -> 0."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    inter = (iw if iw > 0 else 0.0) * (ih if ih > 0 else 0.0)
    area_a = max(a[2] - a[0], 0.0) * max(a[3] - a[1], 0.0)
    area_b = max(b[2] - b[0], 0.0) * max(b[3] - b[1], 0.0)
    union = area_a + area_b - inter
    return inter / union if union > 0 else 0.0


def ref_percentile(values, q):
    """Linear interpolation between order statistics (numpy's default 'linear' method)."""
    s = sorted(values)
    pos = (len(s) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (pos - lo) * (s[hi] - s[lo])


def ref_stats(ious):
    n = len(ious)
    out = {"miou": math.fsum(ious) / n}
    for t in (0.3, 0.5, 0.7):
        out[f"acc@{t}"] = sum(1 for v in ious if v >= t) / n
    return out


def ref_ci(ious, n_resamples, seed):
    n = len(ious)
    draws = np.random.default_rng(seed).integers(0, n, size=(n_resamples, n)).tolist()
    per_resample = [ref_stats([ious[i] for i in row]) for row in draws]
    return {
        key: [
            ref_percentile([r[key] for r in per_resample], 0.025),
            ref_percentile([r[key] for r in per_resample], 0.975),
        ]
        for key in ("miou", "acc@0.3", "acc@0.5", "acc@0.7")
    }


def ref_read(gold_path, pred_path):
    """Gold phrases (ordered dict) and predictions keyed by (dicom_id, label_text)."""
    phrases = {}  # (dicom_id, label_text) -> dict, in order of first appearance
    n_boxes = 0
    with open(gold_path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            n_boxes += 1
            key = (row["dicom_id"], row["label_text"])
            x, y, w, h = (float(row[c]) for c in "xywh")
            entry = phrases.setdefault(
                key,
                {
                    "category": row["category_name"],
                    "boxes": [],
                    "W": float(row["image_width"]),
                    "H": float(row["image_height"]),
                },
            )
            entry["boxes"].append((x, y, x + w, y + h))
    preds = {}
    with open(pred_path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            preds[(row["dicom_id"], row["label_text"])] = tuple(float(row[c]) for c in "xywh")
    return phrases, preds, n_boxes


def ref_records(phrases, preds, protocol):
    """[(category, iou, missing, key)] per gold phrase, in gold order."""
    records = []
    for key, ph in phrases.items():
        if key not in preds:
            records.append((ph["category"], 0.0, True, key))
            continue
        x, y, w, h = preds[key]
        W, H = ph["W"], ph["H"]
        p = (min(max(x, 0.0), W), min(max(y, 0.0), H), min(max(x + w, 0.0), W), min(max(y + h, 0.0), H))
        if protocol == "merged":
            g = (
                min(b[0] for b in ph["boxes"]),
                min(b[1] for b in ph["boxes"]),
                max(b[2] for b in ph["boxes"]),
                max(b[3] for b in ph["boxes"]),
            )
            iou = ref_iou(p, g)
        else:
            iou = max(ref_iou(p, b) for b in ph["boxes"])
        records.append((ph["category"], iou, False, key))
    return records


def ref_score(gold_path, pred_path, protocol, n_resamples, seed):
    phrases, preds, n_boxes = ref_read(gold_path, pred_path)
    records = ref_records(phrases, preds, protocol)

    def summary(recs):
        ious = [r[1] for r in recs]
        out = {"n": len(recs), **ref_stats(ious), "missing": sum(1 for r in recs if r[2])}
        if n_resamples:
            out["ci95"] = ref_ci(ious, n_resamples, seed)
        return out

    overall = summary(records)
    result = {
        "protocol": protocol,
        "n": overall["n"],
        "n_gold_boxes": n_boxes,
        **{k: overall[k] for k in ("miou", "acc@0.3", "acc@0.5", "acc@0.7", "missing")},
        "missing_phrases": [
            {"dicom_id": r[3][0], "label_text": r[3][1], "category_name": r[0]} for r in records if r[2]
        ],
        "per_category": {
            c: summary([r for r in records if r[0] == c]) for c in sorted({r[0] for r in records})
        },
    }
    if n_resamples:
        result["ci95"] = overall["ci95"]
    return result


# ---------------------------------------------------------------- random MS-CXR-like files
def random_files(tmp_path, seed):
    rnd = random.Random(seed)
    gold_rows, pred_rows = [], []
    for i in range(rnd.randint(15, 40)):
        dicom_id = f"{rnd.getrandbits(32):08x}-{i:04d}"
        W, H = rnd.randint(40, 3000), rnd.randint(40, 3000)
        for label in rnd.sample(PHRASES, rnd.randint(1, 3)):
            category = rnd.choice(CATEGORIES)
            boxes = []
            for _ in range(rnd.choice([1, 1, 1, 2, 3])):
                x, y = rnd.randint(0, W - 1), rnd.randint(0, H - 1)
                w = 0 if rnd.random() < 0.05 else rnd.randint(0, W - x)  # some zero-area gold boxes
                h = rnd.randint(0, H - y)
                boxes.append((x, y, w, h))
                gold_rows.append(
                    [dicom_id, category, label, f"files/{dicom_id}.jpg", x, y, w, h, W, H, "test"]
                )
            kind = rnd.random()
            if kind < 0.15:
                continue  # missing prediction
            x, y, w, h = rnd.choice(boxes)
            if kind < 0.3:
                pred = (x, y, w, h)  # exactly a gold box
            elif kind < 0.4:
                pred = (x, y, w, h / 2)  # IoU exactly 0.5 (or 0)
            elif kind < 0.5:
                pred = (x, y, 0, h)  # zero-area prediction
            elif kind < 0.6:  # beyond the image: clamped
                pred = (rnd.uniform(-W, W), rnd.uniform(-H, H), rnd.uniform(0, 2 * W), rnd.uniform(0, 2 * H))
            else:  # a noisy float box
                pred = (
                    x + rnd.gauss(0, w / 4 + 1),
                    y + rnd.gauss(0, h / 4 + 1),
                    abs(w * rnd.uniform(0.5, 1.5)),
                    abs(h * rnd.uniform(0.5, 1.5)),
                )
            pred_rows.append([dicom_id, label, *(repr(float(v)) for v in pred), rnd.random()])
    rnd.shuffle(pred_rows)
    gold = write_csv(tmp_path / f"gold{seed}.csv", GOLD_HEADER, gold_rows)
    pred = write_csv(tmp_path / f"pred{seed}.csv", PRED_HEADER, pred_rows)
    return gold, pred


def assert_same(ours, ref, path="result"):
    if isinstance(ref, dict):
        assert set(ours) == set(ref), f"{path}: keys {sorted(ours)} != {sorted(ref)}"
        for key in ref:
            assert_same(ours[key], ref[key], f"{path}.{key}")
    elif isinstance(ref, list):
        assert len(ours) == len(ref), path
        for i, (a, b) in enumerate(zip(ours, ref, strict=True)):
            assert_same(a, b, f"{path}[{i}]")
    elif isinstance(ref, float):
        assert abs(ours - ref) <= TOL, f"{path}: {ours!r} != {ref!r}"
    else:
        assert ours == ref, f"{path}: {ours!r} != {ref!r}"


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("protocol", ["merged", "any"])
def test_agpt_score_matches_naive_reference(tmp_path, monkeypatch, capsys, seed, protocol):
    gold, pred = random_files(tmp_path, seed)
    n_resamples = 200 if seed % 2 == 0 else 0
    out = tmp_path / "metrics.json"
    argv = [
        "score",
        "--gold",
        str(gold),
        "--pred",
        str(pred),
        "--protocol",
        protocol,
        "--seed",
        str(seed),
        "--out",
        str(out),
    ]
    if n_resamples:
        argv += ["--bootstrap", str(n_resamples)]
    monkeypatch.setattr(sys, "argv", ["agpt", *argv])
    assert cli.main(argv) == 0
    ours = json.loads(out.read_text())
    assert json.loads(capsys.readouterr().out) == ours
    assert ours.pop("gold") == str(gold) and ours.pop("pred") == str(pred)
    meta = ours.pop("bootstrap", None)
    assert (meta is not None) == bool(n_resamples)
    ref = ref_score(gold, pred, protocol, n_resamples, seed)
    assert_same(ours, ref)


def test_generator_covers_the_hard_cases(tmp_path):
    """The randomised files really contain what the comparison claims to cover."""
    multi = missing = degenerate_gold = degenerate_pred = outside = at_threshold = 0
    for seed in range(12):
        phrases, preds, _ = ref_read(*random_files(tmp_path, seed))
        multi += sum(1 for ph in phrases.values() if len(ph["boxes"]) > 1)
        missing += sum(1 for key in phrases if key not in preds)
        degenerate_gold += sum(
            1 for ph in phrases.values() for b in ph["boxes"] if b[0] == b[2] or b[1] == b[3]
        )
        degenerate_pred += sum(1 for p in preds.values() if p[2] == 0 or p[3] == 0)
        outside += sum(1 for p in preds.values() if p[0] < 0 or p[1] < 0)
        at_threshold += sum(1 for r in ref_records(phrases, preds, "any") if r[1] == 0.5)
    assert multi > 10 and missing > 10 and degenerate_gold > 3 and degenerate_pred > 5 and outside > 5
    assert at_threshold > 5  # Acc@0.5 is exercised exactly on its inclusive boundary
