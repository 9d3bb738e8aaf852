"""``agpt data prepare|check|cache``: build, validate and cache the prepared data directory."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from agpt.data.dicom import PIXEL_MODES
from agpt.data.leakage import LEAKAGE_MODES
from agpt.data.medrpg_split import SPLIT_SOURCES
from agpt.data.prepare import IMAGE_FORMATS, VERIFY_LEVELS, PrepareConfig


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def _add_input_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--mimic-root",
        required=True,
        help="MIMIC-CXR-JPG (jpg) or MIMIC-CXR (dcm) root holding files/pXX/...",
    )
    p.add_argument("--image-format", required=True, choices=IMAGE_FORMATS, help="image files to use")
    p.add_argument(
        "--imagenome-root",
        required=True,
        help="Chest ImaGenome root holding silver_dataset/{splits,scene_graph or scene_graph.zip}",
    )
    p.add_argument("--mscxr", required=True, help="MS_CXR_Local_Alignment_v1.x.0.csv or .json")
    p.add_argument(
        "--split-source",
        required=True,
        choices=SPLIT_SOURCES,
        help="medrpg: the MedRPG split-ids file; mscxr: the v1.1.0 split column",
    )
    p.add_argument(
        "--medrpg-split",
        default=None,
        help="MedRPG split-ids CSV (default: the copy bundled with agpt, agpt/resources/mscxr_medrpg_split_ids.csv)",
    )
    p.add_argument(
        "--leakage-guard",
        default="all-mscxr",
        choices=LEAKAGE_MODES,
        help="MS-CXR patients removed from pre-training (default: all-mscxr)",
    )
    p.add_argument(
        "--skip-bad",
        action="store_true",
        help="skip bad records and list them in rejects.csv instead of failing on the first",
    )
    p.add_argument(
        "--metadata",
        default=None,
        help="MIMIC metadata CSV(.gz) (default: mimic-cxr-2.0.0-metadata.csv.gz under --mimic-root, "
        "else image headers give the sizes)",
    )
    p.add_argument(
        "--verify-images",
        default="header",
        choices=VERIFY_LEVELS,
        help="per image: exists, header (read the size; default) or decode (slow)",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)
    p = sub.add_parser("prepare", help="write the prepared directory from raw MIMIC/ImaGenome/MS-CXR files")
    _add_input_arguments(p)
    p.add_argument("--out", required=True, help="prepared directory to write")
    p = sub.add_parser("check", help="validate a data set and print its counts (non-zero exit on errors)")
    _add_input_arguments(p)
    p.add_argument("--rejects", default=None, help="also write the skipped records to this CSV")
    p.add_argument("--json", default=None, help="also write the counts as JSON to this file")
    p = sub.add_parser("cache", help="decode and letterbox every prepared image once into a uint8 cache")
    p.add_argument("--prepared", required=True, help="prepared directory (agpt data prepare)")
    p.add_argument("--image-root", required=True, help="root the paths in images.csv are relative to")
    p.add_argument("--size", required=True, type=_positive_int, help="square canvas size of the model input")
    p.add_argument(
        "--pixel-mode",
        default="mimic_jpg_equivalent",
        choices=PIXEL_MODES,
        help="DICOM intensity mode (ignored for JPG/PNG)",
    )
    p.add_argument("--workers", type=_positive_int, default=2, help="decoding processes (default 2)")
    p.add_argument("--out", required=True, help="cache directory to (re)build")
    p.add_argument("--force", action="store_true", help="rebuild even when the cache is up to date")


def _config(args: argparse.Namespace) -> PrepareConfig:
    return PrepareConfig(
        mimic_root=args.mimic_root,
        image_format=args.image_format,
        imagenome_root=args.imagenome_root,
        mscxr=args.mscxr,
        split_source=args.split_source,
        medrpg_split=args.medrpg_split,
        leakage_guard=args.leakage_guard,
        skip_bad=args.skip_bad,
        metadata=args.metadata,
        verify_images=args.verify_images,
    )


def main(args: argparse.Namespace) -> int:
    if args.data_command == "cache":
        from agpt.data.cache import build_cache

        record = build_cache(
            args.prepared,
            args.image_root,
            args.size,
            args.out,
            args.pixel_mode,
            args.workers,
            force=args.force,
        )
        if not record["rebuilt"]:
            print(f"cache {args.out} is up to date ({record['n_images']} images, key {record['key'][:12]})")
            return 0
        print(
            f"cached {record['n_images']} images at {record['size']}x{record['size']} ({record['pixel_mode']}) "
            f"in {record['seconds']:.1f} s = {record['images_per_second']} images/s with {record['workers']} "
            f"workers -> {args.out}"
        )
        return 0
    from agpt.data.check import format_report
    from agpt.data.prepare import build_prepared, write_prepared

    start = time.perf_counter()
    data = build_prepared(_config(args))
    if args.data_command == "prepare":
        manifest = write_prepared(data, args.out)
        print(format_report(data))
        print(
            f"wrote {args.out} (manifest hash {manifest['hash'][:12]}, {len(data.rejects.rejects)} rejects) "
            f"in {time.perf_counter() - start:.1f} s"
        )
        return 0
    print(format_report(data))
    if args.rejects:
        data.rejects.write_csv(args.rejects)
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "counts": data.counts,
                    "rejects": data.rejects.counts(),
                    "leakage_guard": data.leakage.to_dict(),
                },
                indent=2,
            )
            + "\n"
        )
    if data.rejects.n_bad:
        print(f"agpt data check: error: {data.rejects.n_bad} bad record(s) skipped", file=sys.stderr)
        return 1
    print("check passed")
    return 0
