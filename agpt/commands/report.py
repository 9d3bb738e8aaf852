"""``agpt report tables|html``: collected results tables and the self-contained HTML ablation report."""

from __future__ import annotations

import argparse
from pathlib import Path

from agpt.errors import AgptError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="report_command", metavar="{tables,html}", required=True)

    tables = sub.add_parser("tables", help="ablation.csv/.md/.tex, per_category.csv, runs.csv, comparisons.csv")
    tables.add_argument("--gold", type=Path, required=True, help="gold MS-CXR test CSV (PREPARED/mscxr_test.csv)")
    tables.add_argument("--runs", type=Path, nargs="+", required=True,
                        help="run directories with metrics.json and predictions.csv; "
                             "parameters from name~value segments")
    tables.add_argument("--out", type=Path, required=True, help="output folder (e.g. results/tables)")
    tables.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the 95%% intervals")
    tables.add_argument("--seed", type=int, default=0, help="seed of the bootstrap resampling")
    tables.add_argument("--protocol", choices=("merged", "any"), default="merged",
                        help="scoring of phrases with several gold boxes")

    html = sub.add_parser("html", help="the self-contained HTML report (reports/ablation.html)")
    html.add_argument("--tables", type=Path, required=True, help="folder written by `agpt report tables`")
    html.add_argument("--runs", type=Path, nargs="+", required=True, help="the same run directories as for the tables")
    html.add_argument("--gold", type=Path, required=True, help="gold MS-CXR test CSV")
    html.add_argument("--cache", type=Path, required=True, help="preprocessed image cache (agpt data cache)")
    html.add_argument("--train-logs", type=Path, nargs="*", default=[],
                      help="extra train_log.jsonl files (those in or above a run directory are found anyway)")
    html.add_argument("--benchmarks", type=Path, help="Snakemake benchmarks folder (TSVs with s, max_rss)")
    html.add_argument("--config", type=Path, help="the workflow's config.yaml")
    html.add_argument("--manifest", type=Path, help="PREPARED/manifest.json (data source, split, phantom or real)")
    html.add_argument("--examples", type=int, default=6, help="number of test phrases in the qualitative figures")
    html.add_argument("--seed", type=int, default=0, help="seed of the qualitative selection")
    html.add_argument("--out", type=Path, required=True, help="output HTML file (e.g. reports/ablation.html)")


def main(args) -> int:
    if args.report_command == "tables":
        from agpt.report.aggregate import build_tables, write_tables
        from agpt.report.runs import read_run_dirs

        if args.bootstrap < 1:
            raise AgptError(f"--bootstrap must be >= 1, got {args.bootstrap}")
        tables = build_tables(args.gold, read_run_dirs(args.runs), args.bootstrap, args.seed, args.protocol)
        for path in write_tables(tables, args.out):
            print(path)
        print(f"{len(tables.runs)} runs in {len(tables.ablation)} cells; {len(tables.comparisons) // 2} comparisons")
        return 0

    from agpt.report.html import ReportInputs, build_html_report

    cache = _open_cache(args.cache)
    out = build_html_report(ReportInputs(
        tables_dir=args.tables, run_dirs=args.runs, gold=args.gold, cache=cache, out=args.out,
        train_logs=args.train_logs, benchmarks=args.benchmarks, config=args.config, manifest=args.manifest,
        seed=args.seed, n_qualitative=args.examples))
    print(out)
    return 0


def _open_cache(path: Path):
    try:
        from agpt.data.cache import ImageCache
    except ImportError as err:
        raise AgptError(f"the image cache module is not available ({err}); cannot read {path}") from None
    return ImageCache.open(path)
