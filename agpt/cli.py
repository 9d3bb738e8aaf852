"""The ``agpt`` command line: one subcommand per module under ``agpt.commands``.

Each command module exposes ``add_arguments(parser)`` and ``main(args) -> int``; modules are
imported only when their command runs, so ``agpt score`` never pays for importing torch models.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# command name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "score": ("agpt.commands.score", "score MS-CXR-format predictions against gold boxes"),
    "phantom": ("agpt.commands.phantom", "write the synthetic phantom data set in the real formats"),
    "data": ("agpt.commands.data", "prepare, check and cache MIMIC-CXR / Chest ImaGenome / MS-CXR data"),
    "synonyms": ("agpt.commands.synonyms", "generate, review and show anatomical synonym tables"),
    "pretrain": ("agpt.commands.pretrain", "anatomical grounding pre-training (AGPT) on anatomy phrase-box pairs"),
    "finetune": ("agpt.commands.finetune", "fine-tune a grounding model on the MS-CXR train split"),
    "evaluate": ("agpt.commands.evaluate", "evaluate a checkpoint on an MS-CXR split (zero-shot or fine-tuned)"),
    "ground": ("agpt.commands.ground", "ground one phrase in one image with a checkpoint"),
    "baseline": ("agpt.commands.baseline", "predictions of the non-learned baselines (priors, anatomy lookup)"),
    "report": ("agpt.commands.report", "aggregate run results into tables and build reports/ablation.html"),
}


from agpt.errors import AgptError  # noqa: E402


class CommandError(AgptError):
    """A user-facing error: printed as one line, exit status 2."""


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agpt", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    argv = sys.argv[1:2]
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        # Build the full parser only for the command being run (keeps `agpt --help` fast).
        if argv and argv[0] == name:
            importlib.import_module(module).add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Nothing in agpt may ever wait on a model hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("MPLBACKEND", "Agg")
    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    args = get_args_parser().parse_args()
    module = importlib.import_module(args._module)
    try:
        return int(module.main(args) or 0)
    except AgptError as err:
        print(f"agpt {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
