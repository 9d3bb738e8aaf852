"""``agpt evaluate``: predictions and metrics of a checkpoint on an MS-CXR split (zero-shot or fine-tuned)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from agpt.errors import AgptError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, type=Path, help="checkpoint directory (or a run directory)")
    parser.add_argument("--prepared", required=True, type=Path, help="prepared directory")
    parser.add_argument("--cache", required=True, type=Path, help="image cache of the prepared directory")
    parser.add_argument("--split", choices=("test", "val", "train"), default="test")
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--batch-size", type=int, default=32, dest="batch_size", help="phrases per batch")
    parser.add_argument("--protocol", choices=("merged", "any"), default="merged",
                        help="multi-box phrases: IoU with the merged gold box or the best single box")


def main(args: argparse.Namespace) -> int:
    from agpt.data.prepared import read_prepared_mscxr
    from agpt.engine.checkpoint import resolve_checkpoint_dir
    from agpt.engine.datasets import PhraseDataset
    from agpt.engine.evaluation import predict
    from agpt.engine.loading import load_checkpoint_model
    from agpt.engine.runs import open_cache
    from agpt.engine.runtime import choose_device
    from agpt.scoring import score_files

    started = time.time()
    device = choose_device(args.device)
    ckpt = resolve_checkpoint_dir(args.checkpoint)
    model, meta = load_checkpoint_model(ckpt, device)
    gold_path = Path(args.prepared) / f"mscxr_{args.split}.csv"
    if not gold_path.is_file():
        raise AgptError(f"{gold_path}: not found; is {args.prepared} a prepared directory?")
    cache = open_cache(args.cache, None)
    trained_size = (meta.get("run") or {}).get("extra", {}).get("canvas_size")
    if trained_size is not None and int(trained_size) != int(cache.size):
        raise AgptError(f"{args.cache}: cache canvas is {cache.size} px but {ckpt} was trained on {trained_size} px")
    samples = read_prepared_mscxr(args.prepared, args.split)
    if not samples:
        raise AgptError(f"{gold_path}: no phrases to evaluate")
    preds = predict(model, PhraseDataset(samples, cache), cache, device, batch_size=args.batch_size)
    pred_df = preds.to_frame()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pred_df.to_csv(out / "predictions.csv", index=False)
    # Score the files exactly as `agpt score` would (same readers, same validation).
    metrics = score_files(gold_path, out / "predictions.csv", protocol=args.protocol)
    metrics.update({"checkpoint": str(ckpt), "split": args.split, "seconds": round(time.time() - started, 3)})
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=_plain) + "\n")
    print(json.dumps({k: metrics[k] for k in metrics if k in ("miou", "acc@0.5", "n", "split", "checkpoint")},
                     default=_plain))
    return 0


def _plain(obj):
    if hasattr(obj, "item"):
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
