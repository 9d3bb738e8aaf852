"""Location priors that need no learning: the mean training box overall (centre) and per finding category.

Boxes are averaged in *normalised image coordinates* (xyxy divided by the image width and
height) so images of different sizes contribute equally; a prior is mapped back to each test
image's own pixel size.  A phrase with several gold boxes contributes its enclosing box (the
MERGED protocol, MDETR's ``merge_boxes``).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agpt.boxes import union_box
from agpt.data.records import PhraseSample

PREDICTION_COLUMNS: tuple[str, ...] = ("dicom_id", "label_text", "x", "y", "w", "h", "score", "rule", "anatomy")


@dataclass(frozen=True)
class Prediction:
    """One predicted box for one phrase: xyxy in original pixels, with the rule that produced it."""

    dicom_id: str
    label_text: str
    box_xyxy: tuple[float, float, float, float]
    rule: str
    anatomy: str = ""  # matched anatomies joined by "+", anatomy lookup only
    score: float = 1.0


def normalised_phrase_box(sample: PhraseSample) -> np.ndarray:
    """``[4]`` xyxy of the phrase's (merged) gold box divided by the image size."""
    box = union_box(np.asarray(sample.boxes_xyxy, dtype=np.float64))
    return box / np.array([sample.image_width, sample.image_height, sample.image_width, sample.image_height])


def to_pixels(box_norm: np.ndarray, width: int, height: int) -> tuple[float, float, float, float]:
    """Normalised ``[4]`` xyxy -> xyxy in pixels of a ``width x height`` image, clipped to it."""
    scale = np.array([width, height, width, height], dtype=np.float64)
    b = np.clip(np.asarray(box_norm, dtype=np.float64), 0.0, 1.0) * scale
    return tuple(float(v) for v in b)


def mean_box(boxes: Iterable[np.ndarray]) -> np.ndarray:
    arr = np.asarray(list(boxes), dtype=np.float64).reshape(-1, 4)
    if len(arr) == 0:
        raise ValueError("mean_box needs at least one box")
    return arr.mean(axis=0)


class CentrePrior:
    """The mean training box over all phrases (normalised xyxy), predicted for every phrase."""

    rule = "centre"

    def __init__(self, box_norm: np.ndarray):
        self.box_norm = np.asarray(box_norm, dtype=np.float64)

    @classmethod
    def fit(cls, train: list[PhraseSample]) -> CentrePrior:
        if not train:
            raise ValueError("the centre prior needs at least one training phrase")
        return cls(mean_box(normalised_phrase_box(s) for s in train))

    def predict(self, sample: PhraseSample) -> Prediction:
        return Prediction(sample.dicom_id, sample.label_text,
                          to_pixels(self.box_norm, sample.image_width, sample.image_height), self.rule)


class CategoryPrior:
    """The mean training box of the phrase's finding category; the centre prior for an unseen category."""

    rule = "category"

    def __init__(self, boxes_norm: dict[str, np.ndarray], centre: CentrePrior):
        self.boxes_norm = {k: np.asarray(v, dtype=np.float64) for k, v in boxes_norm.items()}
        self.centre = centre

    @classmethod
    def fit(cls, train: list[PhraseSample]) -> CategoryPrior:
        by_category: dict[str, list[np.ndarray]] = {}
        for s in train:
            by_category.setdefault(s.category_name, []).append(normalised_phrase_box(s))
        return cls({c: mean_box(b) for c, b in sorted(by_category.items())}, CentrePrior.fit(train))

    def predict(self, sample: PhraseSample) -> Prediction:
        box = self.boxes_norm.get(sample.category_name)
        if box is None:
            p = self.centre.predict(sample)
            return Prediction(p.dicom_id, p.label_text, p.box_xyxy, "centre_unseen_category")
        return Prediction(sample.dicom_id, sample.label_text,
                          to_pixels(box, sample.image_width, sample.image_height), self.rule)


def _fmt(v: float) -> str:
    return repr(round(float(v), 4))


def write_predictions(path: str | Path, predictions: list[Prediction]) -> Path:
    """``predictions.csv``: ``PREDICTION_COLUMNS`` (xywh, original pixels; the ``agpt score`` format + rule, anatomy)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(PREDICTION_COLUMNS)
        for p in predictions:
            x1, y1, x2, y2 = p.box_xyxy
            w.writerow([p.dicom_id, p.label_text, _fmt(x1), _fmt(y1), _fmt(x2 - x1), _fmt(y2 - y1),
                        _fmt(p.score), p.rule, p.anatomy])
    return path
