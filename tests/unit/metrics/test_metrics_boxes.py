"""Box conversions, paired IoU/GIoU on hand-computed fixtures, clamping and the letterbox."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from agpt.boxes import (
    Letterbox,
    box_area,
    box_cxcywh_to_xyxy,
    box_xywh_to_xyxy,
    box_xyxy_to_cxcywh,
    box_xyxy_to_xywh,
    clamp_boxes,
    paired_giou,
    paired_iou,
    union_box,
)

# (a_xyxy, b_xyxy, IoU) computed by hand
IOU_FIXTURES = [
    ((0, 0, 10, 10), (0, 0, 10, 10), 1.0),  # identical
    ((0, 0, 10, 10), (20, 20, 30, 30), 0.0),  # disjoint
    ((0, 0, 10, 10), (5, 0, 15, 10), 50 / 150),  # half of each overlaps: 1/3
    ((0, 0, 10, 10), (2, 2, 7, 7), 25 / 100),  # nested: inner / outer area
    ((0, 0, 10, 10), (10, 0, 20, 10), 0.0),  # touching edges
    ((0, 0, 10, 10), (10, 10, 20, 20), 0.0),  # touching corners
    ((0, 0, 0, 0), (0, 0, 0, 0), 0.0),  # zero union -> 0 by definition
    ((5, 5, 5, 9), (0, 0, 10, 10), 0.0),  # zero-area box inside a box
    ((0, 0, 10, 10), (0, 0, 10, 5), 0.5),  # exactly 0.5
]


@pytest.mark.parametrize("a,b,expected", IOU_FIXTURES)
def test_paired_iou_hand_computed(a, b, expected):
    assert paired_iou(np.array([a], float), np.array([b], float))[0] == pytest.approx(expected, abs=1e-15)
    # symmetric, and the same in torch
    assert paired_iou(np.array(b, float), np.array(a, float)) == pytest.approx(expected, abs=1e-15)
    assert paired_iou(torch.tensor([a], dtype=torch.float64), torch.tensor([b], dtype=torch.float64))[
        0
    ].item() == pytest.approx(expected, abs=1e-15)


def test_iou_is_paired_not_all_pairs():
    a = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]], float)
    b = np.array([[0, 0, 10, 10], [20, 20, 30, 30], [5, 0, 15, 10]], float)
    np.testing.assert_allclose(paired_iou(a, b), [1.0, 0.0, 1 / 3])
    assert paired_iou(a[None], b[None]).shape == (1, 3)  # any leading shape


def test_integer_tensors_are_promoted_to_float():
    a = torch.tensor([[0, 0, 10, 10]])
    b = torch.tensor([[5, 0, 15, 10]])
    assert paired_iou(a, b).dtype == torch.float64
    assert paired_iou(a, b).item() == pytest.approx(1 / 3)
    assert box_xyxy_to_cxcywh(a).tolist() == [[5.0, 5.0, 10.0, 10.0]]


def test_giou_hand_computed_and_at_most_iou():
    a = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]], float)
    b = np.array([[0, 0, 10, 10], [20, 0, 30, 10], [5, 0, 15, 10]], float)
    # disjoint: hull 30x10=300, union 200 -> 0 - 100/300
    np.testing.assert_allclose(paired_giou(a, b), [1.0, -1 / 3, 1 / 3], atol=1e-15)


def test_giou_and_iou_disagree_on_the_05_threshold():
    # a (0,0,12,12), b (2,2,14,10): inter 10x8 = 80, areas 144 and 96, union 160 -> IoU 0.5
    # exactly (a hit under the inclusive rule); hull 14x12 = 168 -> GIoU 0.5 - 8/168 < 0.5.
    # Accuracy from GIoU, as MDETR's evaluator computes it, would count this hit as a miss.
    a = np.array([[0, 0, 12, 12]], float)
    b = np.array([[2, 2, 14, 10]], float)
    iou, giou = paired_iou(a, b)[0], paired_giou(a, b)[0]
    assert iou == 0.5
    assert giou == pytest.approx(0.5 - 8 / 168) and giou < 0.5


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 1000, allow_nan=False), min_size=8, max_size=8))
def test_giou_never_exceeds_iou(c):
    a = np.array([[min(c[0], c[1]), min(c[2], c[3]), max(c[0], c[1]), max(c[2], c[3])]])
    b = np.array([[min(c[4], c[5]), min(c[6], c[7]), max(c[4], c[5]), max(c[6], c[7])]])
    iou, giou = paired_iou(a, b)[0], paired_giou(a, b)[0]
    assert 0.0 <= iou <= 1.0 and -1.0 <= giou <= iou + 1e-12


def test_conversions_round_trip_and_values():
    rng = np.random.default_rng(0)
    xyxy = np.sort(rng.uniform(0, 500, (50, 2, 2)), axis=1).transpose(0, 2, 1).reshape(50, 4)
    xyxy = xyxy[:, [0, 2, 1, 3]]  # x_lo, x_hi, y_lo, y_hi -> x1, y1, x2, y2
    assert (xyxy[:, 2:] >= xyxy[:, :2]).all()
    np.testing.assert_allclose(box_xywh_to_xyxy(box_xyxy_to_xywh(xyxy)), xyxy, atol=1e-9)
    np.testing.assert_allclose(box_cxcywh_to_xyxy(box_xyxy_to_cxcywh(xyxy)), xyxy, atol=1e-9)
    t = torch.tensor(xyxy)
    torch.testing.assert_close(box_cxcywh_to_xyxy(box_xyxy_to_cxcywh(t)), t)
    assert box_xywh_to_xyxy(np.array([1.0, 2, 3, 4])).tolist() == [1, 2, 4, 6]
    assert box_xyxy_to_cxcywh(np.array([0.0, 0, 4, 2])).tolist() == [2, 1, 4, 2]
    assert box_xyxy_to_xywh(np.array([1.5, 2, 4, 6])).tolist() == [1.5, 2, 2.5, 4]


def test_area_clamp_union():
    assert box_area(np.array([[0, 0, 4, 5], [3, 3, 1, 9]], float)).tolist() == [20, 0]  # inverted -> 0
    clamped = clamp_boxes(np.array([[-5, -1, 120, 50]], float), 100, 40)
    assert clamped.tolist() == [[0, 0, 100, 40]]
    # per-row image sizes broadcast row-wise
    clamped = clamp_boxes(
        np.array([[0, 0, 90, 90], [0, 0, 90, 90]], float), np.array([50, 80]), np.array([60, 70])
    )
    assert clamped.tolist() == [[0, 0, 50, 60], [0, 0, 80, 70]]
    t = clamp_boxes(
        torch.tensor([[-5.0, -1, 120, 50], [0, 0, 90, 90]]),
        torch.tensor([100.0, 80]),
        torch.tensor([40.0, 70]),
    )
    assert t.tolist() == [[0, 0, 100, 40], [0, 0, 80, 70]]
    assert clamp_boxes(torch.tensor([[-5.0, -1, 120, 50]]), 100, 40).tolist() == [[0, 0, 100, 40]]
    assert union_box(np.array([[0, 5, 10, 10], [10, 0, 20, 8]])).tolist() == [0, 0, 20, 10]
    assert union_box(torch.tensor([[1.0, 2, 3, 4]])).tolist() == [1, 2, 3, 4]
    with pytest.raises(ValueError):
        union_box(np.zeros((0, 4)))


def test_letterbox_geometry():
    lb = Letterbox(width=3056, height=2544, size=512)
    assert lb.resized_width == 512 and lb.resized_height == int(2544 * 512 / 3056)
    assert lb.pad_left == 0 and lb.pad_top == (512 - lb.resized_height) // 2
    # the image corners map onto the resized area's corners
    corners = lb.boxes_to_canvas(np.array([0, 0, 3056, 2544], float))
    np.testing.assert_allclose(corners, [0, lb.pad_top, 512, lb.pad_top + lb.resized_height])
    # the long side is exactly `size` even where ImaGenome's ratio-first formula gives 223
    assert Letterbox(3056, 2000, 224).resized_width == 224
    with pytest.raises(ValueError):
        Letterbox(0, 10, 224)


@settings(max_examples=300, deadline=None)
@given(
    width=st.integers(1, 5000),
    height=st.integers(1, 5000),
    size=st.sampled_from([224, 256, 512, 640, 1024]),
    box=st.lists(st.floats(0, 1, allow_nan=False), min_size=4, max_size=4),
)
def test_letterbox_round_trip(width, height, size, box):
    lb = Letterbox(width, height, size)
    x1, x2 = sorted(box[:2])
    y1, y2 = sorted(box[2:])
    original = np.array([x1 * width, y1 * height, x2 * width, y2 * height])
    canvas = lb.boxes_to_canvas(original)
    # inside the resized image area of the canvas
    tol = 1e-9 * size
    assert lb.pad_left - tol <= canvas[0] <= canvas[2] <= lb.pad_left + lb.resized_width + tol
    assert lb.pad_top - tol <= canvas[1] <= canvas[3] <= lb.pad_top + lb.resized_height + tol
    np.testing.assert_allclose(lb.boxes_to_original(canvas), original, rtol=0, atol=1e-9 * max(width, height))
    # normalised model output and back; IoU is invariant under the map (up to rounding)
    norm = lb.original_xyxy_to_normalised_cxcywh(original)
    np.testing.assert_allclose(
        lb.normalised_cxcywh_to_original_xyxy(norm), original, atol=1e-9 * max(width, height)
    )
    other = np.array([0.25 * width, 0.25 * height, 0.75 * width, 0.75 * height])
    iou_original = paired_iou(original, other)
    iou_canvas = paired_iou(canvas, lb.boxes_to_canvas(other))
    assert math.isclose(iou_original, iou_canvas, abs_tol=1e-9)


def test_letterbox_prediction_in_the_padding_is_clamped_to_the_image():
    lb = Letterbox(200, 100, 100)  # resized 100 x 50, pad_top 25
    out = lb.normalised_cxcywh_to_original_xyxy(np.array([0.5, 0.1, 0.4, 0.2]))  # y 0..20: padding
    assert out.tolist() == [60.0, 0.0, 140.0, 0.0]
    t = lb.normalised_cxcywh_to_original_xyxy(torch.tensor([[0.5, 0.5, 1.0, 0.5]], dtype=torch.float64))
    assert t.tolist() == [[0.0, 0.0, 200.0, 100.0]]
