"""``agpt pretrain``: anatomical grounding pre-training (AGPT) on anatomy phrase-box pairs."""

from __future__ import annotations

import argparse

from agpt.engine.runs import add_common_arguments, run_pretrain


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    parser.add_argument("--synonyms", default=None, help="synonym table: bundled (default) | none | FILE")
    parser.add_argument("--synonym-strategy", choices=("none", "uniform", "frequency"), default=None,
                        dest="synonym_strategy", help="how each anatomy's phrase is drawn (default uniform)")
    parser.add_argument("--synonym-k", type=int, default=None, dest="synonym_k",
                        help="uniform: draw from the first K synonyms (default 5)")


def main(args: argparse.Namespace) -> int:
    return run_pretrain(args)
