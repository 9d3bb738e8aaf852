"""``agpt finetune``: fine-tune a grounding model on the MS-CXR train split."""

from __future__ import annotations

import argparse

from agpt.engine.runs import add_common_arguments, run_finetune


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    parser.add_argument("--init", required=True,
                        help="an AGPT checkpoint directory (same --model) or 'none' (general initialisation)")
    parser.add_argument("--mode", choices=("full", "lora"), default=None, help="full (default) or lora")
    parser.add_argument("--train-fraction", type=float, default=None, dest="train_fraction",
                        help="category-stratified fraction of the train split (default 1.0)")


def main(args: argparse.Namespace) -> int:
    return run_finetune(args)
