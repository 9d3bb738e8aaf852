"""Fixtures for the metric tests."""

import pytest
from metrics_csv import GOLD_HEADER, PRED_HEADER, write_csv


@pytest.fixture
def small_pair(tmp_path):
    """A gold file with a two-box phrase, a phrase with commas and quotes, and a missing one.

    Hand-computed (merged protocol):
      img1 "Left, ""basal"" opacity": gold boxes (0,0,10,10) + (10,0,10,10) -> union (0,0,20,10);
          prediction (-5,0,15,10) clamps to (0,0,10,10): IoU 100/200 = 0.5 (any: 1.0)
      img1 "heart": gold (20,20,40,40), prediction (40,20,40,40): IoU 800/2400 = 1/3
      img2 "right lung": gold (5,5,20,20), no prediction -> IoU 0, missing
    """
    gold = write_csv(
        tmp_path / "gold.csv",
        GOLD_HEADER,
        [
            ["img1", "Edema", 'Left, "basal" opacity', "files/img1.jpg", 0, 0, 10, 10, 100, 100, "test"],
            ["img1", "Edema", 'Left, "basal" opacity', "files/img1.jpg", 10, 0, 10, 10, 100, 100, "test"],
            ["img1", "Cardiomegaly", "heart", "files/img1.jpg", 20, 20, 40, 40, 100, 100, "test"],
            ["img2", "Pneumonia", "right lung", "files/img2.jpg", 5, 5, 20, 20, 50, 60, "test"],
        ],
    )
    pred = write_csv(
        tmp_path / "pred.csv",
        PRED_HEADER,
        [
            ["img1", 'Left, "basal" opacity', -5, 0, 15, 10, 0.9],
            ["img1", "heart", 40, 20, 40, 40, 0.8],
        ],
    )
    return gold, pred
