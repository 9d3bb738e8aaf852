"""MDETR's Hungarian matcher with the soft-token class cost (scipy ``linear_sum_assignment``)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor, nn

from agpt.boxes import box_cxcywh_to_xyxy, paired_giou


def pairwise_giou(a_xyxy: Tensor, b_xyxy: Tensor) -> Tensor:
    """GIoU of every box in ``a [N, 4]`` with every box in ``b [M, 4]`` -> ``[N, M]`` (xyxy)."""
    n, m = a_xyxy.shape[0], b_xyxy.shape[0]
    return paired_giou(a_xyxy[:, None, :].expand(n, m, 4), b_xyxy[None, :, :].expand(n, m, 4))


class HungarianMatcher(nn.Module):
    """One-to-one assignment of queries to target boxes per phrase.

    cost = ``class_weight`` * (-sum(softmax(logits) * positive_map)) + ``l1_weight`` * L1(cxcywh)
    + ``giou_weight`` * (-GIoU), solved exactly by ``linear_sum_assignment``.
    """

    def __init__(self, class_weight: float = 1.0, l1_weight: float = 5.0, giou_weight: float = 2.0):
        super().__init__()
        if class_weight == 0 and l1_weight == 0 and giou_weight == 0:
            raise ValueError("HungarianMatcher: all cost weights are 0")
        self.class_weight, self.l1_weight, self.giou_weight = class_weight, l1_weight, giou_weight

    def cost_matrix(self, logits: Tensor, boxes: Tensor, target_boxes: Tensor, positive_map: Tensor) -> Tensor:
        """Cost ``[Q, n]`` for one phrase: ``logits [Q, C]``, ``boxes [Q, 4]``, ``target_boxes [n, 4]``
        (cxcywh), ``positive_map [n, C]``."""
        prob = logits.float().softmax(-1)
        cost_class = -(prob @ positive_map.float().T)
        cost_l1 = torch.cdist(boxes.float(), target_boxes.float(), p=1)
        cost_giou = -pairwise_giou(box_cxcywh_to_xyxy(boxes.float()), box_cxcywh_to_xyxy(target_boxes.float()))
        return self.class_weight * cost_class + self.l1_weight * cost_l1 + self.giou_weight * cost_giou

    @torch.no_grad()
    def forward(self, logits: Tensor, boxes: Tensor, target_boxes: Sequence[Tensor],
                positive_maps: Sequence[Tensor]) -> list[tuple[Tensor, Tensor]]:
        """``logits [B, Q, C]``, ``boxes [B, Q, 4]``; per phrase ``target_boxes[i] [n_i, 4]`` and
        ``positive_maps[i] [n_i, C]``.  Returns, per phrase, ``(query indices, target indices)``
        (LongTensors of length ``min(Q, n_i)``, sorted by query)."""
        if len(target_boxes) != logits.shape[0] or len(positive_maps) != logits.shape[0]:
            raise ValueError("HungarianMatcher: one target list per phrase is needed")
        result = []
        for i in range(logits.shape[0]):
            if len(target_boxes[i]) == 0:
                empty = torch.zeros(0, dtype=torch.long)
                result.append((empty, empty))
                continue
            cost = self.cost_matrix(logits[i], boxes[i], target_boxes[i], positive_maps[i]).cpu()
            rows, cols = linear_sum_assignment(cost.numpy())
            result.append((torch.as_tensor(rows, dtype=torch.long), torch.as_tensor(cols, dtype=torch.long)))
        return result
