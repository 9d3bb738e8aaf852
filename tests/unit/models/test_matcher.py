"""The Hungarian matcher against brute force over all assignments."""

from __future__ import annotations

import itertools

import pytest
import torch

from agpt.boxes import box_cxcywh_to_xyxy, paired_giou
from agpt.models.matcher import HungarianMatcher, pairwise_giou
from tests.unit.models.conftest import random_boxes


def brute_force_cost(matcher: HungarianMatcher, logits, boxes, targets, pmap) -> float:
    cost = matcher.cost_matrix(logits, boxes, targets, pmap)
    q, n = cost.shape
    return min(sum(float(cost[perm[j], j]) for j in range(n)) for perm in itertools.permutations(range(q), n))


@pytest.mark.parametrize("queries,targets", [(1, 1), (3, 1), (3, 2), (4, 3), (5, 4)])
def test_matches_brute_force(queries, targets):
    g = torch.Generator().manual_seed(queries * 10 + targets)
    matcher = HungarianMatcher(1.0, 5.0, 2.0)
    for _ in range(5):
        logits = torch.randn(2, queries, 16, generator=g)
        boxes = random_boxes(2 * queries, g).view(2, queries, 4)
        tboxes = [random_boxes(targets, g) for _ in range(2)]
        pmaps = [torch.rand(targets, 16, generator=g) for _ in range(2)]
        pmaps = [p / p.sum(1, keepdim=True) for p in pmaps]
        result = matcher(logits, boxes, tboxes, pmaps)
        for i, (src, tgt) in enumerate(result):
            assert len(src) == len(tgt) == targets and len(set(src.tolist())) == targets
            assert src.tolist() == sorted(src.tolist())
            cost = matcher.cost_matrix(logits[i], boxes[i], tboxes[i], pmaps[i])
            got = float(cost[src, tgt].sum())
            assert got == pytest.approx(brute_force_cost(matcher, logits[i], boxes[i], tboxes[i], pmaps[i]), abs=1e-5)


def test_batched_equals_single():
    g = torch.Generator().manual_seed(7)
    matcher = HungarianMatcher()
    logits, boxes = torch.randn(3, 4, 8, generator=g), random_boxes(12, g).view(3, 4, 4)
    tboxes = [random_boxes(2, g) for _ in range(3)]
    pmaps = [torch.softmax(torch.randn(2, 8, generator=g), -1) for _ in range(3)]
    batched = matcher(logits, boxes, tboxes, pmaps)
    for i in range(3):
        (src, tgt), = matcher(logits[i:i + 1], boxes[i:i + 1], tboxes[i:i + 1], pmaps[i:i + 1])
        assert torch.equal(src, batched[i][0]) and torch.equal(tgt, batched[i][1])


def test_empty_targets_and_cost_terms():
    matcher = HungarianMatcher()
    (src, tgt), = matcher(torch.randn(1, 3, 8), random_boxes(3).view(1, 3, 4), [torch.zeros(0, 4)], [torch.zeros(0, 8)])
    assert len(src) == len(tgt) == 0
    # the class cost alone prefers the query whose softmax puts mass on the positive tokens
    class_only = HungarianMatcher(1.0, 0.0, 0.0)
    logits = torch.full((1, 3, 8), -5.0)
    logits[0, 2, 4] = 5.0
    pmap = torch.zeros(1, 8)
    pmap[0, 4] = 1.0
    (src, _), = class_only(logits, random_boxes(3).view(1, 3, 4), [random_boxes(1)], [pmap])
    assert src.tolist() == [2]
    with pytest.raises(ValueError, match="all cost weights"):
        HungarianMatcher(0, 0, 0)


def test_pairwise_giou_matches_paired():
    a, b = random_boxes(3), random_boxes(4)
    full = pairwise_giou(box_cxcywh_to_xyxy(a), box_cxcywh_to_xyxy(b))
    for i in range(3):
        for j in range(4):
            expected = paired_giou(box_cxcywh_to_xyxy(a[i]), box_cxcywh_to_xyxy(b[j]))
            assert float(full[i, j]) == pytest.approx(float(expected), abs=1e-6)
