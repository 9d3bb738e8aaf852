"""Speed and memory of training steps per model/preset/setting, and data loading from the cache.

Each measurement runs in a fresh subprocess so its peak RSS is its own. Prints a table and,
with ``--json FILE``, writes the rows. Examples::

    python benchmarks/bench_training.py                          # tiny + small, TransVG + MDETR (CPU)
    python benchmarks/bench_training.py --presets small --steps 10
    python benchmarks/bench_training.py --presets paper --device cuda   # bf16 autocast on a GPU
    python benchmarks/bench_training.py --data-only --prepared P --cache C  # loading from a real cache

A "step" is exactly the training loop's step (``agpt.engine.trainer.train_step``): tokenise,
forward, loss, backward, clipping, AdamW. Batches use the preset's TrainConfig defaults:
fine-tuning ``batch_size`` phrases (one image each), pre-training ``images_per_batch`` images
x ``anatomies_per_image`` phrases (all 29 when 0).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def measure_step(model_name: str, preset: str, setting: str, steps: int, warmup: int, device_name: str,
                 threads: int = 0) -> dict:
    """Seconds per training step (mean of ``steps`` after ``warmup``) and peak RSS of this process."""
    import numpy as np
    import torch

    if threads:
        torch.set_num_threads(threads)

    from agpt.anatomy import ANATOMIES
    from agpt.engine.config import build_train_config
    from agpt.engine.runtime import choose_device, configure_device, seed_everything
    from agpt.engine.trainer import build_optimizer, train_step
    from agpt.models import ModelConfig, build_criterion, build_model

    seed_everything(0)
    train = build_train_config(preset, setting, {}, {"device": device_name})
    device = choose_device(train.device)
    configure_device(device, train.amp)
    cfg = ModelConfig.from_preset(name=model_name, preset=preset)
    model = build_model(cfg).to(device).train()
    criterion = build_criterion(cfg)
    optimizer = build_optimizer(model, train)
    size = cfg.image_size
    rng = np.random.default_rng(0)
    if setting == "finetune":
        n_images, per_image = train.batch_size, 1
        phrases = ["small left pleural effusion", "right lower lobe opacity", "cardiomegaly",
                   "left apical pneumothorax"]
    else:
        n_images, per_image = train.images_per_batch, train.anatomies_per_image or len(ANATOMIES)
        phrases = list(ANATOMIES)
    batch_phrases = [phrases[(i * 7 + j) % len(phrases)] for i in range(n_images) for j in range(per_image)]
    centres = rng.uniform(0.3, 0.7, (len(batch_phrases), 2))
    sizes = rng.uniform(0.1, 0.4, (len(batch_phrases), 2))
    batch = {
        "images": torch.randn(n_images, 1, size, size),
        "phrases": batch_phrases,
        "boxes": torch.tensor(np.concatenate([centres, sizes], 1), dtype=torch.float32),
        "image_index": torch.arange(n_images).repeat_interleave(per_image),
    }
    times, cpu_times = [], []
    load_before = os.getloadavg()[0]
    for i in range(warmup + steps):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0, c0 = time.perf_counter(), time.process_time()
        train_step(model, criterion, optimizer, batch, device, train.amp, train.clip_max_norm)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
            cpu_times.append(time.process_time() - c0)
    row = {
        "kind": "step", "model": model_name, "preset": preset, "setting": setting, "device": device.type,
        "amp": bool(train.amp and device.type == "cuda"), "images": n_images, "phrases": len(batch_phrases),
        "image_size": size, "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
        "s_per_step": round(float(np.mean(times)), 4), "s_per_step_min": round(float(np.min(times)), 4),
        "phrases_per_s": round(len(batch_phrases) / float(np.mean(times)), 1),
        # CPU seconds per step (all threads): robust to other processes sharing the cores.
        "cpu_s_per_step": round(float(np.mean(cpu_times)), 4),
        "load_avg_1min": round((load_before + os.getloadavg()[0]) / 2, 2), "n_cpus": os.cpu_count(),
        "peak_rss_mb": round(peak_rss_mb(), 0), "threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        row["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 0)
    return row


def synthetic_cache(root: Path, n_images: int, size: int) -> tuple[Path, Path]:
    """A prepared directory + cache of ``n_images`` random 1024x1024-ish PNGs with 29 anatomy boxes each."""
    import numpy as np
    from PIL import Image

    from agpt.anatomy import ANATOMIES, FINDING_CATEGORIES
    from agpt.data.cache import build_cache
    from agpt.data.prepared import write_anatomy_csv, write_images_csv, write_mscxr_csv
    from agpt.data.records import AnatomyImage, PhraseSample

    rng = np.random.default_rng(0)
    images_root, prepared = root / "images", root / "prepared"
    prepared.mkdir(parents=True, exist_ok=True)
    anatomy, phrases = [], []
    for i in range(n_images):
        w, h = int(rng.integers(900, 1100)), int(rng.integers(900, 1100))
        dicom_id = f"bench{i:06d}"
        path = f"files/p10/p10{i:06d}/s5{i:07d}/{dicom_id}.png"
        (images_root / path).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (h, w), dtype=np.uint8)).save(images_root / path, compress_level=1)
        boxes = {}
        for a in ANATOMIES:
            x1, y1 = rng.uniform(0, 0.6) * w, rng.uniform(0, 0.6) * h
            boxes[a] = (x1, y1, x1 + rng.uniform(0.1, 0.4) * w, y1 + rng.uniform(0.1, 0.4) * h)
        img = AnatomyImage(dicom_id, f"10{i:06d}", f"5{i:07d}", path, w, h, "train", boxes)
        anatomy.append(img)
        phrases.append(PhraseSample(dicom_id, "left lower lobe opacity", FINDING_CATEGORIES[i % 8], path, w, h,
                                    (boxes["left lower lung zone"],), "train", img.subject_id, (i,)))
    write_anatomy_csv(prepared / "anatomy_train.csv", anatomy)
    write_mscxr_csv(prepared / "mscxr_train.csv", phrases)
    write_images_csv(prepared / "images.csv", anatomy)
    (prepared / "manifest.json").write_text(json.dumps({"hash": "bench"}))
    t0 = time.perf_counter()
    build_cache(prepared, images_root, size, root / "cache", workers=2)
    return prepared, root / "cache", time.perf_counter() - t0


def measure_loading(prepared: Path | None, cache_dir: Path | None, size: int, n_images: int, workers: int) -> list:
    """Items/s of the fine-tuning (augmented phrases) and pre-training (29 pairs) datasets from the cache."""
    from torch.utils.data import DataLoader

    from agpt.data.cache import ImageCache
    from agpt.data.prepared import read_prepared_anatomy, read_prepared_mscxr
    from agpt.engine.datasets import AnatomyDataset, PhraseDataset, collate
    from agpt.engine.transforms import Augment, AugmentConfig

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        build_seconds = None
        if cache_dir is None:
            prepared, cache_dir, build_seconds = synthetic_cache(Path(tmp), n_images, size)
        cache = ImageCache.open(cache_dir)
        sets = {
            "finetune (phrases, full augmentation)": (PhraseDataset(read_prepared_mscxr(prepared, "train"), cache,
                                                                    Augment(), 0), 8),
            "pretrain (images x 29 pairs, intensity aug.)": (AnatomyDataset(
                read_prepared_anatomy(prepared, "train"), cache, None, 0, Augment(AugmentConfig(geometric=False)), 0),
                8),
        }
        for name, (ds, batch) in sets.items():
            for w in sorted({0, workers}):
                loader = DataLoader(ds, batch_size=batch, shuffle=False, collate_fn=collate, num_workers=w)
                t0 = time.perf_counter()
                n = sum(len(b["images"]) for b in loader)
                dt = time.perf_counter() - t0
                rows.append({"kind": "data", "dataset": name, "workers": w, "canvas": int(cache.size),
                             "items": n, "items_per_s": round(n / dt, 1), "seconds": round(dt, 3),
                             "cache_build_images_per_s": round(n_images / build_seconds, 1) if build_seconds else None})
    return rows


def run_child(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def print_table(rows: list[dict]) -> None:
    steps = [r for r in rows if r.get("kind") == "step"]
    if steps:
        print(f"{'model':8} {'preset':6} {'setting':8} {'dev':4} {'img':>4} {'phr':>4} {'px':>4} {'Mparam':>7} "
              f"{'s/step':>7} {'cpu s':>7} {'phr/s':>7} {'RSS MB':>7} {'load':>5}")
        for r in steps:
            print(f"{r['model']:8} {r['preset']:6} {r['setting']:8} {r['device']:4} {r['images']:>4} {r['phrases']:>4} "
                  f"{r['image_size']:>4} {r['params_m']:>7} {r['s_per_step']:>7} {r['cpu_s_per_step']:>7} "
                  f"{r['phrases_per_s']:>7} {r['peak_rss_mb']:>7.0f} {r['load_avg_1min']:>5}"
                  + (f"  GPU {r['peak_gpu_mb']:.0f} MB" if "peak_gpu_mb" in r else ""))
    for r in rows:
        if "error" in r:
            print("error:", r)
    for r in rows:
        if r.get("kind") == "data":
            print(f"data: {r['dataset']:46} workers={r['workers']} canvas={r['canvas']} "
                  f"{r['items_per_s']:>8} items/s" + (f" (cache build {r['cache_build_images_per_s']} images/s)"
                                                      if r.get("cache_build_images_per_s") else ""))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["transvg", "mdetr"])
    p.add_argument("--presets", nargs="+", default=["tiny", "small"])
    p.add_argument("--settings", nargs="+", default=["finetune", "pretrain"])
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=0, help="torch threads per measurement (0 = torch's default)")
    p.add_argument("--data-images", type=int, default=64, help="synthetic images for the loading benchmark")
    p.add_argument("--data-size", type=int, default=128, help="canvas of the synthetic cache")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--prepared", type=Path, default=None)
    p.add_argument("--cache", type=Path, default=None)
    p.add_argument("--data-only", action="store_true")
    p.add_argument("--no-data", action="store_true")
    p.add_argument("--json", type=Path, default=None, help="also write the rows to this JSON file")
    p.add_argument("--one", nargs=3, metavar=("MODEL", "PRESET", "SETTING"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        print(json.dumps(measure_step(*args.one, args.steps, args.warmup, args.device, args.threads)))
        return 0
    rows = []
    if not args.data_only:
        for preset in args.presets:
            for model in args.models:
                for setting in args.settings:
                    row = run_child(["--one", model, preset, setting, "--steps", str(args.steps),
                                     "--warmup", str(args.warmup), "--device", args.device,
                                     "--threads", str(args.threads)])
                    rows.append(row if "error" not in row else {**row, "model": model, "preset": preset,
                                                                "setting": setting})
                    print(json.dumps(rows[-1]), file=sys.stderr)
    if not args.no_data:
        rows += measure_loading(args.prepared, args.cache, args.data_size, args.data_images, args.workers)
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
