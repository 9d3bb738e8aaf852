"""``agpt data check``: validate a data set (real or phantom) and print its counts."""

from __future__ import annotations

from agpt.anatomy import ANATOMIES, FINDING_CATEGORIES
from agpt.data.mscxr import MSCXR_SPLITS
from agpt.data.prepare import PreparedData


def format_report(data: PreparedData) -> str:
    """Human-readable counts: images, phrases, boxes per category, pairs per anatomy, rejects, leakage."""
    c = data.counts
    lines = [
        f"images: {c['images']}",
        f"MS-CXR phrases ({data.config.split_source} split): "
        + ", ".join(f"{s} {c['mscxr_phrases'][s]}" for s in MSCXR_SPLITS)
        + f"; outside the split: {c['mscxr_phrases_outside_split']} of {c['mscxr_phrases_in_file']} in the file",
        "MS-CXR boxes: " + ", ".join(f"{s} {c['mscxr_boxes'][s]}" for s in MSCXR_SPLITS),
        "MS-CXR patients: " + ", ".join(f"{s} {c['mscxr_patients'][s]}" for s in MSCXR_SPLITS),
        "boxes per category (train/val/test):",
    ]
    width = max(len(x) for x in FINDING_CATEGORIES)
    for cat in FINDING_CATEGORIES:
        per = c["mscxr_boxes_per_category"][cat]
        lines.append(f"  {cat:<{width}}  " + "/".join(str(per[s]) for s in MSCXR_SPLITS))
    a = c["anatomy_images"]
    lines.append(
        f"AGPT images: train {a['train']}, val {a['val']}; MS-CXR images with anatomy boxes: {a['mscxr']}"
    )
    lines.append("pairs per anatomy (train+val):")
    width = max(len(x) for x in ANATOMIES)
    for name in ANATOMIES:
        lines.append(f"  {name:<{width}}  {c['anatomy_pairs_per_anatomy'][name]}")
    boxes = c.get("imagenome_boxes", {})
    lines.append("silver boxes: " + (", ".join(f"{k} {v}" for k, v in boxes.items()) or "none"))
    rejects = data.rejects.counts()
    lines.append(f"rejects: {len(data.rejects.rejects)} (bad records skipped: {data.rejects.n_bad})")
    for kind, n in rejects.items():
        lines.append(f"  {kind}: {n}")
    lk = data.leakage
    lines.append(
        f"leakage guard ({lk.mode}): {lk.guarded_patients} MS-CXR patients guarded; removed "
        f"{lk.removed_images} images of {lk.removed_patients} patients, and "
        f"{lk.removed_images_to_avoid} images listed in images_to_avoid.csv"
    )
    return "\n".join(lines)
