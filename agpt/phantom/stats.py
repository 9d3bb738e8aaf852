"""How strongly phantom finding boxes follow anatomy: oracle anatomy-box IoU vs a centre prior, per category.

``python -m agpt.phantom.stats DIR`` reads a written phantom (MS-CXR CSV + scene graphs) and prints,
per category, the number of phrases, the mean box area (fraction of the image), the mean IoU of the
gold box (union of a phrase's boxes) with the BEST of the 29 AGPT anatomy boxes of the same image
(an upper bound for "ground the finding at its anatomy"), and with a centred box of the category's
mean size (a no-anatomy prior).  A useful phantom has the first clearly above the second and well
below 1.
"""

from __future__ import annotations

import csv
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from agpt.anatomy import ANATOMIES
from agpt.boxes import paired_iou


def anatomy_overlap_table(root: Path) -> list[dict]:
    root = Path(root)
    with open(root / "ms-cxr" / "MS_CXR_Local_Alignment_v1.1.0.json") as fh:
        data = json.load(fh)
    images = {im["id"]: im for im in data["images"]}
    cats = {c["id"]: c["name"] for c in data["categories"]}
    phrases: dict[tuple, list] = defaultdict(list)
    for ann in data["annotations"]:
        x, y, w, h = ann["bbox"]
        phrases[(ann["image_id"], ann["label_text"], cats[ann["category_id"]])].append((x, y, x + w, y + h))
    rows: dict[str, list] = defaultdict(list)
    for (image_id, _, cat), boxes in phrases.items():
        im = images[image_id]
        dicom_id = im["file_name"].removesuffix(".jpg")
        graph = json.loads((root / "chest-imagenome/silver_dataset/scene_graph" / f"{dicom_id}_SceneGraph.json").read_text())
        anat = np.array([[o[f"original_{k}"] for k in ("x1", "y1", "x2", "y2")]
                         for o in graph["objects"] if o["bbox_name"] in ANATOMIES], dtype=float)
        b = np.array(boxes)
        gold = np.array([b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()])
        best = float(paired_iou(np.repeat(gold[None], len(anat), 0), anat).max())
        W, H = im["width"], im["height"]
        rows[cat].append((best, gold / np.array([W, H, W, H])))
    table = []
    for cat in sorted(rows):
        best = np.array([r[0] for r in rows[cat]])
        norm = np.array([r[1] for r in rows[cat]])
        wh = (norm[:, 2:] - norm[:, :2]).mean(0)
        prior = np.array([0.5 - wh[0] / 2, 0.5 - wh[1] / 2, 0.5 + wh[0] / 2, 0.5 + wh[1] / 2])
        centre = paired_iou(norm, np.repeat(prior[None], len(norm), 0))
        area = ((norm[:, 2] - norm[:, 0]) * (norm[:, 3] - norm[:, 1])).mean()
        table.append({"category": cat, "phrases": len(best), "mean_area": float(area),
                      "best_anatomy_iou": float(best.mean()), "centre_prior_iou": float(centre.mean())})
    return table


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m agpt.phantom.stats PHANTOM_DIR", file=sys.stderr)
        return 2
    print("| category | phrases | mean box area | best-anatomy IoU | centre-prior IoU |")
    print("|---|---|---|---|---|")
    for r in anatomy_overlap_table(Path(argv[0])):
        print(f"| {r['category']} | {r['phrases']} | {r['mean_area']:.3f} | {r['best_anatomy_iou']:.2f} "
              f"| {r['centre_prior_iou']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
