"""``agpt ground``: ground one phrase (or a file of phrases) in one image with a checkpoint."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from agpt.errors import AgptError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, type=Path, help="checkpoint directory (or a run directory)")
    parser.add_argument("--image", required=True, type=Path, help="a DICOM (.dcm) or JPG/PNG image")
    parser.add_argument("--phrase", action="append", default=[], help="the phrase to ground (repeatable)")
    parser.add_argument("--phrases-file", type=Path, default=None, dest="phrases_file",
                        help="a text file with one phrase per line (blank lines ignored)")
    parser.add_argument("--out", type=Path, default=None, help="write the image with the box(es) drawn (PNG)")
    parser.add_argument("--pixel-mode", default=None, dest="pixel_mode",
                        help="DICOM pixel mode for load_image (default: the data layer's default)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")


def read_phrases(args: argparse.Namespace) -> list[str]:
    phrases = [p.strip() for p in args.phrase]
    if args.phrases_file is not None:
        if not args.phrases_file.is_file():
            raise AgptError(f"{args.phrases_file}: phrases file not found")
        phrases += [line.strip() for line in args.phrases_file.read_text().splitlines() if line.strip()]
    if not phrases or any(not p for p in phrases):
        raise AgptError("give at least one non-empty --phrase or a --phrases-file")
    return phrases


def main(args: argparse.Namespace) -> int:
    import torch

    from agpt.data.cache import letterbox_image  # the cache's own resize, so inputs match training
    from agpt.data.images import load_image
    from agpt.boxes import box_xyxy_to_xywh
    from agpt.engine.checkpoint import resolve_checkpoint_dir
    from agpt.engine.evaluation import move_text
    from agpt.engine.loading import load_checkpoint_model
    from agpt.engine.runtime import autocast, choose_device
    from agpt.engine.transforms import normalise

    phrases = read_phrases(args)
    if not args.image.is_file():
        raise AgptError(f"{args.image}: image not found")
    device = choose_device(args.device)
    ckpt = resolve_checkpoint_dir(args.checkpoint)
    model, meta = load_checkpoint_model(ckpt, device)
    run = meta.get("run") or {}
    size = run.get("extra", {}).get("canvas_size")
    if size is None:
        raise AgptError(f"{ckpt}/config.json: no run.extra.canvas_size; cannot letterbox the image")
    kwargs = {"pixel_mode": args.pixel_mode} if args.pixel_mode else {}
    try:
        pixels = load_image(args.image, **kwargs)
    except (OSError, ValueError) as err:
        raise AgptError(f"{args.image}: cannot read image: {err}") from None
    canvas, letterbox = letterbox_image(pixels, int(size))
    images = normalise(canvas).unsqueeze(0).to(device)
    with torch.no_grad(), autocast(device, True):
        text = move_text(model.tokenize(phrases), device)
        out = model(images, text, torch.zeros(len(phrases), dtype=torch.long, device=device))
    boxes = letterbox.normalised_cxcywh_to_original_xyxy(out.pred_boxes.float().cpu().double().numpy())
    xywh = box_xyxy_to_xywh(boxes)
    scores = out.scores.float().cpu().numpy()
    results = [{"phrase": p, "x": float(b[0]), "y": float(b[1]), "w": float(b[2]), "h": float(b[3]),
                "score": float(s)} for p, b, s in zip(phrases, xywh, scores)]
    report = {"model": run.get("model", {}).get("name"), "preset": run.get("extra", {}).get("preset"),
              "setting": run.get("setting"), "checkpoint": str(ckpt), "image": str(args.image),
              "width": int(pixels.shape[1]), "height": int(pixels.shape[0])}
    if len(results) == 1:
        report.update(results[0])
    report["results"] = results
    if args.out is not None:
        draw_overlay(pixels, results, args.out)
        report["overlay"] = str(args.out)
    print(json.dumps(report, indent=2))
    return 0


COLOURS = ((255, 64, 64), (64, 200, 255), (255, 200, 0), (120, 255, 120), (255, 120, 255))


def draw_overlay(pixels, results: list[dict], out: Path) -> None:
    """Write the grey image as RGB with each box (xywh, original pixels) and its phrase drawn."""
    from PIL import Image, ImageDraw

    image = Image.fromarray(pixels).convert("RGB")
    draw = ImageDraw.Draw(image)
    width = max(2, round(max(image.size) / 300))
    for i, r in enumerate(results):
        colour = COLOURS[i % len(COLOURS)]
        x0, y0, x1, y1 = r["x"], r["y"], r["x"] + r["w"], r["y"] + r["h"]
        draw.rectangle([x0, y0, x1, y1], outline=colour, width=width)
        draw.text((x0 + width + 2, max(0, y0 - 12)), f"{r['phrase']} ({r['score']:.2f})", fill=colour)
    out.parent.mkdir(parents=True, exist_ok=True)
    image.save(out)
