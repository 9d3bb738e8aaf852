"""``agpt synonyms generate|review|show``: LLM-generated synonym tables, their review, and the bundled table."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from agpt.errors import AgptError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    gen = sub.add_parser("generate", help="ask a chat model (OPENAI_BASE_URL / OPENAI_API_KEY) for a synonym table")
    gen.add_argument("--out", required=True, type=Path, help="where to write the table (JSON)")
    gen.add_argument("--model", default="gpt-4o", help="chat model name (default: gpt-4o)")
    gen.add_argument("--n", type=int, default=8, help="synonyms to ask for per anatomy (default: 8)")
    gen.add_argument("--cache-dir", type=Path, default=None,
                     help="answer cache keyed by prompt hash and model (default: $XDG_CACHE_HOME/agpt/synonyms)")
    gen.add_argument("--anatomies", choices=("29", "36"), default="36",
                     help="the 29 AGPT anatomies or all 36 Chest ImaGenome names (default: 36)")
    gen.add_argument("--temperature", type=float, default=0.0)
    gen.add_argument("--max-attempts", type=int, default=5, help="attempts on 429/5xx/connection errors")
    gen.add_argument("--backoff", type=float, default=2.0, help="first backoff delay in seconds (doubles)")
    gen.add_argument("--timeout", type=float, default=120.0, help="seconds per request")

    rev = sub.add_parser("review", help="diff a table against the curated one (or another table)")
    rev.add_argument("--table", required=True, type=Path)
    rev.add_argument("--against", default="curated", help="'curated' (the bundled table) or a table file")
    rev.add_argument("--json", type=Path, default=None, help="also write the review as JSON here")

    show = sub.add_parser("show", help="print a table (default: the bundled curated table)")
    show.add_argument("--table", default=None, help="a table file (default: the bundled curated table)")
    show.add_argument("--json", action="store_true", help="print the table file as JSON")


def _generate(args) -> int:
    from agpt.anatomy import ANATOMIES, SILVER_BOX_NAMES
    from agpt.synonyms.generate import RetryPolicy, generate_table

    if args.n < 1:
        raise AgptError(f"--n must be >= 1, got {args.n}")
    try:
        policy = RetryPolicy(max_attempts=args.max_attempts, base_delay=args.backoff)
    except ValueError as err:
        raise AgptError(str(err)) from None
    table = generate_table(
        model=args.model, n=args.n, cache_dir=args.cache_dir, temperature=args.temperature, policy=policy,
        anatomies=ANATOMIES if args.anatomies == "29" else SILVER_BOX_NAMES, timeout=args.timeout,
    )
    table.save(args.out)
    print(f"wrote {args.out}: {len(table.entries)} anatomies, "
          f"{sum(len(v) - 1 for v in table.entries.values())} synonyms, {len(table.rejected)} rejected")
    return 0


def _review(args) -> int:
    from agpt.synonyms.review import review_file

    review = review_file(args.table, args.against)
    print(review.to_text())
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(review.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


def _show(args) -> int:
    from agpt.synonyms.table import load_synonym_table

    table = load_synonym_table(args.table)
    if args.json:
        print(json.dumps(table.to_dict(), indent=2, ensure_ascii=False))
        return 0
    for key, value in table.provenance.items():
        print(f"# {key}: {value}")
    for anatomy, names in table.entries.items():
        print(f"{anatomy}: {' | '.join(names[1:])}")
    return 0


def main(args) -> int:
    return {"generate": _generate, "review": _review, "show": _show}[args.action](args)
