"""Augmentation: boxes stay on their content, never a flip, no box is cut, deterministic."""

import numpy as np
import pytest

from agpt.boxes import paired_iou
from agpt.engine.transforms import (
    PIXEL_MEAN, PIXEL_STD, Augment, AugmentConfig, affine_matrix, normalise, transform_boxes,
)

SIZE = 96


def bright_box_image(box):
    img = np.full((SIZE, SIZE), 20, np.uint8)
    x1, y1, x2, y2 = (int(v) for v in box)
    img[y1:y2, x1:x2] = 250
    return img


def bright_extent(img, threshold=140):
    ys, xs = np.nonzero(img > threshold)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=np.float64)


@pytest.mark.parametrize("seed", range(12))
def test_box_follows_its_content(seed):
    box = np.array([[20.0, 30.0, 50.0, 70.0]])
    img = bright_box_image(box[0])
    # Strong geometry and no intensity change, so any misalignment would show.
    cfg = AugmentConfig(scale=(0.8, 1.2), translate=0.15, rotate_deg=8, shear_deg=5, brightness=0, contrast=0,
                        gamma=(1, 1), noise_std=(0, 0))
    out, boxes = Augment(cfg)(img, box, np.random.default_rng(seed))
    assert out.shape == (SIZE, SIZE)
    iou = float(paired_iou(bright_extent(out), boxes[0]))
    assert iou > 0.9, (bright_extent(out), boxes[0])


def test_rotated_corners_give_the_enclosing_box():
    m = affine_matrix(100, 1.0, 90.0, 0.0, 0.0, 0.0)
    out = transform_boxes(np.array([[40.0, 45.0, 60.0, 55.0]]), m)
    np.testing.assert_allclose(out[0], [45.0, 40.0, 55.0, 60.0], atol=1e-9)


def test_never_flips_left_right():
    # A marker on the image's left stays on the left under every draw.
    box = np.array([[8.0, 30.0, 30.0, 60.0]])
    img = bright_box_image(box[0])
    aug = Augment()
    for seed in range(40):
        out, boxes = aug(img, box, np.random.default_rng(seed))
        cx = (boxes[0, 0] + boxes[0, 2]) / 2
        assert cx < SIZE / 2
        ys, xs = np.nonzero(out > 140)
        assert xs.mean() < SIZE / 2


def test_boxes_are_never_cut():
    # A box touching the border: translation/zoom must not push it out of the canvas.
    box = np.array([[0.0, 0.0, 90.0, 96.0]])
    img = bright_box_image(box[0])
    aug = Augment(AugmentConfig(scale=(1.0, 1.3), translate=0.3))
    for seed in range(30):
        _, boxes = aug(img, box, np.random.default_rng(seed))
        assert boxes.min() >= 0 and boxes.max() <= SIZE
        w, h = boxes[0, 2] - boxes[0, 0], boxes[0, 3] - boxes[0, 1]
        assert w >= 0.85 * 90 and h >= 0.85 * 96  # a clipped (cut) box would shrink


def test_deterministic_under_the_rng():
    box = np.array([[20.0, 30.0, 50.0, 70.0]])
    img = bright_box_image(box[0])
    a = Augment()(img, box, np.random.default_rng(7))
    b = Augment()(img, box, np.random.default_rng(7))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_intensity_only_keeps_geometry():
    box = np.array([[20.0, 30.0, 50.0, 70.0]])
    img = bright_box_image(box[0])
    out, boxes = Augment(AugmentConfig(geometric=False))(img, box, np.random.default_rng(1))
    np.testing.assert_array_equal(boxes, box)
    assert not np.array_equal(out, img.astype(np.float32))


def test_normalise_single_mean_std():
    x = normalise(np.full((4, 4), 255, np.uint8))
    assert x.shape == (1, 4, 4)
    assert float(x[0, 0, 0]) == pytest.approx((1 - PIXEL_MEAN) / PIXEL_STD)


