"""``agpt phantom``: write the synthetic phantom data set (MIMIC-CXR / Chest ImaGenome / MS-CXR formats)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from agpt.errors import AgptError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, type=Path, help="output directory (the data root)")
    parser.add_argument("--seed", type=int, default=0, help="same seed -> byte-identical files")
    parser.add_argument("--n-pretrain", type=int, default=2000,
                        help="Chest ImaGenome images that are not MS-CXR images (default 2000)")
    parser.add_argument("--n-mscxr-images", type=int, default=350,
                        help="MS-CXR-like images, ~1.4 phrases each (default 350)")
    parser.add_argument("--pretrain-finding-fraction", type=float, default=0.3,
                        help="share of pre-training images that also show findings (default 0.3)")
    parser.add_argument("--workers", type=int, default=2, help="processes that render images (default 2)")
    parser.add_argument("--overwrite", action="store_true", help="replace a phantom already in --out")


def main(args) -> int:
    from agpt.phantom.generate import generate_phantom
    from agpt.phantom.plan import PhantomConfig

    try:
        config = PhantomConfig(seed=args.seed, n_pretrain=args.n_pretrain, n_mscxr_images=args.n_mscxr_images,
                               pretrain_finding_fraction=args.pretrain_finding_fraction, workers=args.workers)
    except ValueError as err:
        raise AgptError(str(err)) from err
    start = time.perf_counter()
    summary = generate_phantom(args.out, config, overwrite=args.overwrite)
    print(json.dumps(summary["counts"], sort_keys=True))
    print(f"wrote {args.out} in {time.perf_counter() - start:.1f} s")
    return 0
