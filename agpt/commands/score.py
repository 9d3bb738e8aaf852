"""``agpt score``: score MS-CXR-format predictions against gold boxes (IoU, Acc@t, mIoU, CIs)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from agpt.errors import AgptError
from agpt.metrics import PROTOCOLS
from agpt.scoring import score_files


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--gold",
        required=True,
        metavar="GOLD.csv",
        help="MS-CXR CSV, one row per gold box: dicom_id,category_name,label_text,path,"
        "x,y,w,h,image_width,image_height[,split,...] (xywh, original pixels)",
    )
    parser.add_argument(
        "--pred",
        required=True,
        metavar="PRED.csv",
        help="predictions, one row per phrase: dicom_id,label_text,x,y,w,h[,score,...]",
    )
    parser.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        default="merged",
        help="multi-box gold phrases: IoU with the union box (merged, default) "
        "or the best IoU over the gold boxes (any)",
    )
    parser.add_argument(
        "--bootstrap",
        type=int,
        default=0,
        metavar="N",
        help="add 95%% percentile bootstrap intervals from N resamples of the phrases (0: none)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap resampling (default 0)")
    parser.add_argument("--out", metavar="metrics.json", help="also write the JSON here")


def main(args: argparse.Namespace) -> int:
    if args.bootstrap < 0:
        raise AgptError(f"--bootstrap must be >= 0, got {args.bootstrap}")
    result = score_files(
        args.gold, args.pred, protocol=args.protocol, bootstrap=args.bootstrap, seed=args.seed
    )
    text = json.dumps(result, indent=2, allow_nan=False)  # ASCII-safe on any terminal
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0
