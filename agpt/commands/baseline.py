"""``agpt baseline centre|category|anatomy``: predictions and metrics of the non-learned baselines."""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

from agpt.errors import AgptError

BASELINES: tuple[str, ...] = ("centre", "category", "anatomy")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("baseline", choices=BASELINES,
                        help="centre: mean training box; category: mean training box of the finding category; "
                             "anatomy: the box of the anatomy the phrase names (category prior otherwise)")
    parser.add_argument("--prepared", required=True, type=Path, help="prepared directory (agpt data prepare)")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"), help="split to predict")
    parser.add_argument("--out", required=True, type=Path, help="writes predictions.csv and metrics.json here")
    parser.add_argument("--synonyms", default="bundled",
                        help="synonym table for the anatomy matcher: a file or 'bundled' (default)")
    parser.add_argument("--protocol", choices=("merged", "any"), default="merged",
                        help="scoring of multi-box gold phrases (see agpt score)")
    parser.add_argument("--bootstrap", type=int, default=0, metavar="N",
                        help="add 95%% bootstrap intervals from N resamples of the phrases (0: none)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap resampling")


def build_predictor(name: str, prepared: Path, synonyms: str):
    """The fitted baseline for ``name`` (fit on ``mscxr_train.csv``)."""
    from agpt.baselines.priors import CategoryPrior, CentrePrior
    from agpt.data.prepared import read_prepared_mscxr

    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; valid: {', '.join(BASELINES)}")
    train = read_prepared_mscxr(prepared, "train")
    if not train:
        raise AgptError(f"{prepared / 'mscxr_train.csv'}: no training phrases to fit the {name} baseline on")
    if name == "centre":
        return CentrePrior.fit(train)
    if name == "category":
        return CategoryPrior.fit(train)
    from agpt.baselines.anatomy_lookup import AnatomyLookup
    from agpt.baselines.anatomy_match import AnatomyMatcher
    from agpt.data.prepared import read_prepared_anatomy
    from agpt.synonyms import load_synonym_table

    matcher = AnatomyMatcher(load_synonym_table(None if synonyms == "bundled" else synonyms))
    return AnatomyLookup.fit(matcher, train, read_prepared_anatomy(prepared, "mscxr"))


def main(args) -> int:
    from agpt.baselines.priors import write_predictions
    from agpt.data.prepared import read_prepared_mscxr
    from agpt.scoring import score_files

    if args.bootstrap < 0:
        raise AgptError(f"--bootstrap must be >= 0, got {args.bootstrap}")
    start = time.perf_counter()
    predictor = build_predictor(args.baseline, args.prepared, args.synonyms)
    samples = read_prepared_mscxr(args.prepared, args.split)
    if not samples:
        raise AgptError(f"{args.prepared / f'mscxr_{args.split}.csv'}: no phrases to predict")
    predictions = [predictor.predict(s) for s in samples]
    args.out.mkdir(parents=True, exist_ok=True)
    pred_path = write_predictions(args.out / "predictions.csv", predictions)
    metrics = score_files(args.prepared / f"mscxr_{args.split}.csv", pred_path, protocol=args.protocol,
                          bootstrap=args.bootstrap, seed=args.seed)
    metrics.update({
        "baseline": args.baseline, "split": args.split, "prepared": str(args.prepared),
        "synonyms": args.synonyms if args.baseline == "anatomy" else None,
        "rules": dict(sorted(Counter(p.rule for p in predictions).items())),
        "seconds": round(time.perf_counter() - start, 3),
    })
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2, allow_nan=False, ensure_ascii=False) + "\n",
                                           encoding="utf-8")
    print(f"{args.baseline} baseline on {args.split}: n={metrics['n']} mIoU={100 * metrics['miou']:.2f} "
          f"Acc@0.5={100 * metrics['acc@0.5']:.2f} rules={metrics['rules']} -> {args.out}")
    return 0
