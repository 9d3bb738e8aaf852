"""Synthetic results for the report tests (a unique module name, so tests never `import conftest`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from agpt.data.cache import build_cache

# Identifying values planted in the fixture DICOM headers and in the manifest: none may reach the report.
FORBIDDEN = ("DONOTLEAK", "Doe^Jane", "PID-31415926", "ACC-27182818", "19450101", "p10999999", "s50999999")

CATEGORIES = ("Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Lung Opacity", "Pleural Effusion",
              "Pneumonia", "Pneumothorax")
PHRASES = {
    "Atelectasis": ("left basilar atelectasis", "subsegmental atelectasis", "right lower lobe atelectasis"),
    "Cardiomegaly": ("cardiomegaly", "enlarged cardiac silhouette", "heart size is enlarged"),
    "Consolidation": ("right upper lobe consolidation", "consolidation", "left lower lobe consolidation"),
    "Edema": ("pulmonary edema", "mild interstitial edema", "edema in both lungs"),
    "Lung Opacity": ("left retrocardiac opacity", "patchy opacity", "opacity at the right lung base"),
    "Pleural Effusion": ("small left pleural effusion", "pleural effusion", "right effusion"),
    "Pneumonia": ("right lower lobe pneumonia", "pneumonia", "multifocal pneumonia"),
    "Pneumothorax": ("small right apical pneumothorax", "pneumothorax", "left pneumothorax"),
}
MODELS = ("transvg", "mdetr")
INITS = ("base", "agpt", "agpt_syn")
SEEDS = (1, 2)
CACHE_SIZE = 96


def make_gold(path: Path) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    rows = []
    for c_i, category in enumerate(CATEGORIES):
        for p_i, phrase in enumerate(PHRASES[category]):
            dicom_id = f"dcm{c_i:02d}{p_i // 2}"  # two phrases share an image
            width, height = (300, 360) if c_i % 2 else (360, 300)
            w, h = rng.uniform(40, 150), rng.uniform(40, 150)
            x, y = rng.uniform(0, width - w), rng.uniform(0, height - h)
            rows.append(dict(dicom_id=dicom_id, category_name=category, label_text=phrase,
                             path=f"files/p10/p10999999/s50999999/{dicom_id}.jpg", x=x, y=y, w=w, h=h,
                             image_width=width, image_height=height, split="test",
                             subject_id="10999999", anno_id=len(rows)))
    # One phrase with two gold boxes (scored with the merged protocol).
    extra = dict(rows[0])
    extra.update(x=rows[0]["x"] + 20, y=rows[0]["y"] + 10, anno_id=len(rows))
    rows.append(extra)
    gold = pd.DataFrame(rows)
    gold.to_csv(path, index=False)
    return gold


def independent_iou(a_xywh, b_xywh) -> float:
    """Plain-Python IoU of two xywh boxes, for checking the aggregator's numbers."""
    ax1, ay1, ax2, ay2 = a_xywh[0], a_xywh[1], a_xywh[0] + a_xywh[2], a_xywh[1] + a_xywh[3]
    bx1, by1, bx2, by2 = b_xywh[0], b_xywh[1], b_xywh[0] + b_xywh[2], b_xywh[1] + b_xywh[3]
    iw, ih = max(0.0, min(ax2, bx2) - max(ax1, bx1)), max(0.0, min(ay2, by2) - max(ay1, by1))
    inter = iw * ih
    union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
    return inter / union if union > 0 else 0.0


def gold_phrases(gold: pd.DataFrame) -> dict[tuple[str, str], tuple]:
    """(dicom_id, label_text) -> merged gold box xywh, category, width, height."""
    out = {}
    for (dicom_id, text), g in gold.groupby(["dicom_id", "label_text"], sort=False):
        x1, y1 = g["x"].min(), g["y"].min()
        x2, y2 = (g["x"] + g["w"]).max(), (g["y"] + g["h"]).max()
        r = g.iloc[0]
        out[(dicom_id, text)] = ((x1, y1, x2 - x1, y2 - y1), r["category_name"], r["image_width"], r["image_height"])
    return out


def independent_scores(gold: pd.DataFrame, pred: pd.DataFrame) -> dict[tuple[str, str], float]:
    """Per-phrase IoU (prediction clamped to the image; missing -> 0), computed without agpt."""
    preds = {(r.dicom_id, r.label_text): (r.x, r.y, r.w, r.h) for r in pred.itertuples()}
    out = {}
    for key, (box, _, width, height) in gold_phrases(gold).items():
        if key not in preds:
            out[key] = 0.0
            continue
        x, y, w, h = preds[key]
        x1, y1 = min(max(x, 0), width), min(max(y, 0), height)
        x2, y2 = min(max(x + w, 0), width), min(max(y + h, 0), height)
        out[key] = independent_iou((x1, y1, x2 - x1, y2 - y1), box)
    return out


def _noise(model: str, init: str, setting: str, mode: str) -> float:
    scale = {"base": 0.6, "agpt": 0.35, "agpt_syn": 0.3}[init]
    scale *= 0.6 if setting == "finetune" else 1.0
    scale *= 1.1 if mode == "lora" else 1.0
    return scale * (1.0 if model == "transvg" else 0.9)


def write_run(run_dir: Path, gold: pd.DataFrame, rng: np.random.Generator, noise: float, checkpoint: str) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for (dicom_id, text), (box, _, width, height) in gold_phrases(gold).items():
        x, y, w, h = box
        rows.append(dict(dicom_id=dicom_id, label_text=text,
                         x=x + rng.normal(0, noise) * w, y=y + rng.normal(0, noise) * h,
                         w=w * float(np.exp(rng.normal(0, noise))), h=h * float(np.exp(rng.normal(0, noise))),
                         score=float(rng.uniform())))
    pred = pd.DataFrame(rows[:-1])  # the last phrase has no prediction: a miss
    pred.to_csv(run_dir / "predictions.csv", index=False)
    ious = list(independent_scores(gold, pred).values())
    metrics = {"n": len(ious), "miou": float(np.mean(ious)),
               **{f"acc@{t}": float(np.mean([i >= t for i in ious])) for t in (0.3, 0.5, 0.7)},
               "missing": 1, "checkpoint": checkpoint, "split": "test", "seconds": 1.5}
    (run_dir / "metrics.json").write_text(json.dumps(metrics))


def write_benchmark(path: Path, seconds: float, rss: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
                    f"{seconds}\t0:00:{int(seconds):02d}\t{rss}\t900.0\t200.0\t210.0\t0.1\t0.2\t95.0\t{seconds}\n")


def write_dicom(path: Path, pixels: np.ndarray, dicom_id: str) -> None:
    """A DICOM with identifying header values that must never reach the report."""
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.PatientName, ds.PatientID, ds.AccessionNumber = "DONOTLEAK^Doe^Jane", "PID-31415926", "ACC-27182818"
    ds.PatientBirthDate, ds.InstitutionName = "19450101", "DONOTLEAK General Hospital"
    ds.SOPInstanceUID, ds.Modality = meta.MediaStorageSOPInstanceUID, "DX"
    ds.Rows, ds.Columns = pixels.shape
    ds.PhotometricInterpretation, ds.SamplesPerPixel = "MONOCHROME2", 1
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = pixels.astype(np.uint8).tobytes()
    ds.save_as(path, enforce_file_format=True)


def _chest(width: int, height: int, seed: int) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width] / np.array([height, width])[:, None, None]
    lungs = np.exp(-(((xx - 0.3) / 0.15) ** 2 + ((yy - 0.5) / 0.3) ** 2)) + np.exp(
        -(((xx - 0.7) / 0.15) ** 2 + ((yy - 0.5) / 0.3) ** 2))
    img = 200 - 150 * lungs + np.random.default_rng(seed).normal(0, 8, (height, width))
    return np.clip(img, 0, 255).astype(np.uint8)


def _train_log(path: Path, rng: np.random.Generator, gain: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({
        "epoch": e, "train_loss": 2.0 / e + rng.uniform(0, 0.1), "val_miou": 0.2 + 0.05 * e * gain,
        "val_acc@0.5": 0.1 * e, "lr": 1e-4, "seconds": 3.0, "n_parameters": 1000}) + "\n" for e in range(1, 6)))
    return path


def build_results(root: Path, fractions: tuple[str, ...] = ("0.5", "1.0")) -> dict:
    """The synthetic results tree under ``root``, in the workflow's layout; returns its paths.

    As in ``rules/``: zero-shot runs exist for the pre-trained inits only, once per cell (no seed
    segment); fine-tuned runs for every init, mode, fraction and seed, with ``train/train_log.jsonl``
    beside ``eval/``; pre-training logs under ``results/pretrain``; baselines as ``runs/baseline~NAME``.
    """
    gold_path = root / "prepared" / "mscxr_test.csv"
    gold_path.parent.mkdir(parents=True)
    gold = make_gold(gold_path)
    (root / "prepared" / "manifest.json").write_text(json.dumps({
        "format": 1, "code_version": "0.1.0",
        "config": {"mimic_root": "/data/files/p10/p10999999", "image_format": "dcm", "split_source": "medrpg",
                   "leakage_guard": "all-mscxr"},
        "counts": {"mscxr_test": 25}, "rejects": {}, "n_rejects": 0,
        "leakage_guard": {"mode": "all-mscxr", "removed_images": 3}, "hash": "abc123",
        "PatientName": "DONOTLEAK^Doe^Jane"}))
    (root / "config.yaml").write_text(
        "data:\n  source: phantom\n  image_format: dcm\n  real:\n    mimic_root: /secret/p10999999\n"
        "grid:\n  models: [transvg, mdetr]\n  inits: [base, agpt, agpt_syn]\n  seeds: [1, 2]\n"
        "model:\n  preset: tiny\n")
    rng = np.random.default_rng(0)
    runs, logs = [], []
    bench = root / "benchmarks"
    for model in MODELS:
        for init in INITS:
            if init != "base":  # zero-shot: the shared pre-trained model, evaluated once
                parts = [f"model~{model}", f"init~{init}"]
                run = root.joinpath("results", "runs", *parts, "setting~zeroshot", "eval")
                write_run(run, gold, rng, _noise(model, init, "zeroshot", ""),
                          checkpoint=str(root.joinpath("results", "pretrain", *parts, "checkpoint")))
                runs.append(run)
                write_benchmark(bench.joinpath("evaluate_zeroshot", parts[0], f"{parts[1]}.tsv"), 2.0, 300.0)
                write_benchmark(bench.joinpath("pretrain", parts[0], f"{parts[1]}.tsv"), 100.0, 1500.0)
                logs.append(_train_log(root.joinpath("results", "pretrain", *parts, "train_log.jsonl"), rng, 1.0))
            for mode in ("full", "lora"):
                for fraction in fractions:
                    for seed in SEEDS:
                        parts = [f"model~{model}", f"init~{init}", "setting~finetune", f"mode~{mode}",
                                 f"fraction~{fraction}", f"seed~{seed}"]
                        cell = root.joinpath("results", "runs", *parts)
                        noise = _noise(model, init, "finetune", mode) * (1.3 if fraction == "0.5" else 1.0)
                        write_run(cell / "eval", gold, rng, noise, checkpoint=str(cell / "train" / "checkpoint"))
                        runs.append(cell / "eval")
                        pattern = bench.joinpath("X", *parts[:-1], f"{parts[-1]}.tsv")
                        for rule, seconds, rss in (("evaluate_finetuned", 2.0, 300.0), ("finetune", 30.0, 900.0)):
                            write_benchmark(Path(str(pattern).replace("/X/", f"/{rule}/")), seconds, rss)
                        logs.append(_train_log(cell / "train" / "train_log.jsonl", rng,
                                               1.5 if init != "base" else 1.0))
    for baseline, noise in (("centre", 1.0), ("anatomy", 0.7)):
        run = root / "results" / "runs" / f"baseline~{baseline}" / "eval"
        write_run(run, gold, rng, noise, checkpoint="")
        runs.append(run)
        write_benchmark(bench / "baseline" / f"baseline~{baseline}.tsv", 1.0, 200.0)
    # The real preprocessing cache, built from DICOMs whose headers carry identifying values.
    image_root = root / "mimic"
    image_rows = []
    for i, (dicom_id, g) in enumerate(gold.groupby("dicom_id")):
        w, h = int(g["image_width"].iloc[0]), int(g["image_height"].iloc[0])
        rel = f"files/p10/p10999999/s50999999/{dicom_id}.dcm"
        (image_root / rel).parent.mkdir(parents=True, exist_ok=True)
        write_dicom(image_root / rel, _chest(w, h, i), dicom_id)
        image_rows.append(dict(dicom_id=dicom_id, subject_id="10999999", path=rel, image_width=w, image_height=h))
    pd.DataFrame(image_rows).to_csv(root / "prepared" / "images.csv", index=False)
    build_cache(root / "prepared", image_root, CACHE_SIZE, root / "cache", workers=1)
    return dict(root=root, gold=gold_path, runs=runs, logs=logs, benchmarks=bench, config=root / "config.yaml",
                manifest=root / "prepared" / "manifest.json", cache=root / "cache")


def run_agpt(*args: str) -> "subprocess.CompletedProcess":
    import os
    import subprocess
    import sys

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-m", "agpt", *args], capture_output=True, text=True, env=env,
                          cwd=Path(__file__).resolve().parents[3])
