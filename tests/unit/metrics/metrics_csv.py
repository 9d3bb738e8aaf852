"""CSV writing helpers for the metric tests (a unique module name: never `import conftest`)."""

import csv
from pathlib import Path

GOLD_HEADER = [
    "dicom_id",
    "category_name",
    "label_text",
    "path",
    "x",
    "y",
    "w",
    "h",
    "image_width",
    "image_height",
    "split",
]
PRED_HEADER = ["dicom_id", "label_text", "x", "y", "w", "h", "score"]


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path
