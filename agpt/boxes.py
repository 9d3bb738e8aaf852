"""Box formats, paired IoU/GIoU, clamping and the letterbox transform.

Formats (all float, never cast to int):
- ``xywh``:   top-left x, top-left y, width, height (MS-CXR / COCO pixels).
- ``xyxy``:   x1, y1, x2, y2 with x2 >= x1, y2 >= y1 (Chest ImaGenome ``original_*``).
- ``cxcywh``: centre x, centre y, width, height; model outputs use it normalised to [0, 1]
  of the square canvas.

Every function works on numpy arrays or torch tensors of shape ``[..., 4]`` and returns
the same type.  IoU and GIoU are *paired*: row i of ``a`` against row i of ``b``.
torch is never imported here: a tensor can only exist once the caller has imported torch, so
``agpt score`` (numpy only) starts without paying for torch.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

import numpy as np

if TYPE_CHECKING:
    import torch

ArrayLike = Union[np.ndarray, "torch.Tensor"]


def _is_tensor(x: object) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _torch():
    return sys.modules["torch"]


def _stack(parts: list, like: ArrayLike) -> ArrayLike:
    if _is_tensor(like):
        return _torch().stack(parts, dim=-1)
    return np.stack(parts, axis=-1)


def _unbind(boxes: ArrayLike) -> tuple:
    """Split ``[..., 4]`` into four ``[...]`` coordinates; integer input is promoted to float64
    (boxes stay float: integer division and ``finfo`` on ints would otherwise break)."""
    if _is_tensor(boxes):
        if not boxes.is_floating_point():
            boxes = boxes.to(_torch().float64)
        return boxes.unbind(-1)
    return tuple(np.moveaxis(np.asarray(boxes, dtype=np.float64), -1, 0))


def box_xywh_to_xyxy(boxes: ArrayLike) -> ArrayLike:
    """``[..., 4]`` xywh -> xyxy."""
    x, y, w, h = _unbind(boxes)
    return _stack([x, y, x + w, y + h], boxes)


def box_xyxy_to_xywh(boxes: ArrayLike) -> ArrayLike:
    """``[..., 4]`` xyxy -> xywh."""
    x1, y1, x2, y2 = _unbind(boxes)
    return _stack([x1, y1, x2 - x1, y2 - y1], boxes)


def box_cxcywh_to_xyxy(boxes: ArrayLike) -> ArrayLike:
    """``[..., 4]`` cxcywh -> xyxy."""
    cx, cy, w, h = _unbind(boxes)
    return _stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], boxes)


def box_xyxy_to_cxcywh(boxes: ArrayLike) -> ArrayLike:
    """``[..., 4]`` xyxy -> cxcywh."""
    x1, y1, x2, y2 = _unbind(boxes)
    return _stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], boxes)


def box_area(boxes_xyxy: ArrayLike) -> ArrayLike:
    """Area of ``[..., 4]`` xyxy boxes; inverted boxes have area 0."""
    x1, y1, x2, y2 = _unbind(boxes_xyxy)
    if _is_tensor(boxes_xyxy):
        return (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
    return np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)


def clamp_boxes(boxes_xyxy: ArrayLike, width, height) -> ArrayLike:
    """Clip ``[..., 4]`` xyxy boxes to the image ``[0, width] x [0, height]``.

    ``width`` and ``height`` are numbers or arrays/tensors broadcastable to ``[...]`` (one
    image size per box)."""
    x1, y1, x2, y2 = _unbind(boxes_xyxy)
    if _is_tensor(boxes_xyxy):
        torch = _torch()
        w = torch.as_tensor(width, dtype=x1.dtype, device=x1.device)
        h = torch.as_tensor(height, dtype=x1.dtype, device=x1.device)
        parts = [torch.minimum(c.clamp(min=0), lim) for c, lim in ((x1, w), (y1, h), (x2, w), (y2, h))]
    else:
        parts = [np.clip(x1, 0, width), np.clip(y1, 0, height), np.clip(x2, 0, width), np.clip(y2, 0, height)]
    return _stack(parts, boxes_xyxy)


def _intersection_union(a: ArrayLike, b: ArrayLike):
    ax1, ay1, ax2, ay2 = _unbind(a)
    bx1, by1, bx2, by2 = _unbind(b)
    if _is_tensor(a):
        torch = _torch()
        iw = (torch.minimum(ax2, bx2) - torch.maximum(ax1, bx1)).clamp(min=0)
        ih = (torch.minimum(ay2, by2) - torch.maximum(ay1, by1)).clamp(min=0)
    else:
        iw = np.clip(np.minimum(ax2, bx2) - np.maximum(ax1, bx1), 0, None)
        ih = np.clip(np.minimum(ay2, by2) - np.maximum(ay1, by1), 0, None)
    inter = iw * ih
    union = box_area(a) + box_area(b) - inter
    return inter, union


def _safe_div(num: ArrayLike, den: ArrayLike) -> ArrayLike:
    """num / den with 0 where den == 0 (a zero union means IoU 0, by definition)."""
    if _is_tensor(num):
        torch = _torch()
        return torch.where(den > 0, num / den.clamp(min=torch.finfo(num.dtype).tiny), torch.zeros_like(num))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)


def paired_iou(a_xyxy: ArrayLike, b_xyxy: ArrayLike) -> ArrayLike:
    """IoU of ``a[i]`` with ``b[i]``; shapes ``[..., 4]`` -> ``[...]``. Zero union -> 0."""
    inter, union = _intersection_union(a_xyxy, b_xyxy)
    return _safe_div(inter, union)


def paired_giou(a_xyxy: ArrayLike, b_xyxy: ArrayLike) -> ArrayLike:
    """Generalised IoU of ``a[i]`` with ``b[i]`` in [-1, 1]; for losses only, never for accuracy."""
    inter, union = _intersection_union(a_xyxy, b_xyxy)
    iou = _safe_div(inter, union)
    ax1, ay1, ax2, ay2 = _unbind(a_xyxy)
    bx1, by1, bx2, by2 = _unbind(b_xyxy)
    if _is_tensor(a_xyxy):
        torch = _torch()
        cw = (torch.maximum(ax2, bx2) - torch.minimum(ax1, bx1)).clamp(min=0)
        ch = (torch.maximum(ay2, by2) - torch.minimum(ay1, by1)).clamp(min=0)
    else:
        cw = np.clip(np.maximum(ax2, bx2) - np.minimum(ax1, bx1), 0, None)
        ch = np.clip(np.maximum(ay2, by2) - np.minimum(ay1, by1), 0, None)
    hull = cw * ch
    return iou - _safe_div(hull - union, hull)


def union_box(boxes_xyxy: ArrayLike) -> np.ndarray:
    """Smallest xyxy box enclosing ``[N, 4]`` xyxy boxes -> float64 ``np.ndarray[4]`` (MDETR's
    ``merge_boxes``); torch input is accepted and converted."""
    if _is_tensor(boxes_xyxy):
        boxes_xyxy = boxes_xyxy.detach().cpu().numpy()
    b = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    if len(b) == 0:
        raise ValueError("union_box needs at least one box")
    return np.array([b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()])


@dataclass(frozen=True)
class Letterbox:
    """Aspect-preserving resize of a ``width x height`` image onto a ``size x size`` canvas.

    The longer side becomes ``size``; the resized extent ``int(side * size / long_side)`` is
    truncated and the padding split evenly (``left = (size - new_w) // 2``, the extra pixel of
    an odd pad on the right/bottom), like Chest ImaGenome's 224 frame.  Two deliberate
    differences from ImaGenome's own formula (``x * ratio + left`` with
    ``ratio = 224 / long_side``): the product is taken before the division, so the long side is
    always exactly ``size`` (ImaGenome's ``int(3056 * (224 / 3056))`` gives 223), and boxes map
    with the *actual* per-axis resize factors ``new_w / width`` and ``new_h / height``, i.e. the
    factors of the resized image grid.  :meth:`boxes_to_original` is therefore the exact
    inverse of :meth:`boxes_to_canvas` (up to float rounding) and a canvas pixel edge maps onto
    an original pixel edge.  Never use these coordinates to read ImaGenome's ``x1..y2`` (224)
    fields; use its ``original_*`` fields.
    """

    width: int
    height: int
    size: int

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0 or self.size <= 0:
            raise ValueError(f"letterbox needs positive sizes, got {self.width}x{self.height} -> {self.size}")

    @property
    def resized_width(self) -> int:
        return max(1, int(self.width * self.size / max(self.width, self.height)))

    @property
    def resized_height(self) -> int:
        return max(1, int(self.height * self.size / max(self.width, self.height)))

    @property
    def pad_left(self) -> int:
        return (self.size - self.resized_width) // 2

    @property
    def pad_top(self) -> int:
        return (self.size - self.resized_height) // 2

    @property
    def scale_x(self) -> float:
        return self.resized_width / self.width

    @property
    def scale_y(self) -> float:
        return self.resized_height / self.height

    def boxes_to_canvas(self, boxes_xyxy: ArrayLike) -> ArrayLike:
        """``[..., 4]`` xyxy in original pixels -> xyxy in canvas pixels."""
        x1, y1, x2, y2 = _unbind(boxes_xyxy)
        sx, sy, left, top = self.scale_x, self.scale_y, self.pad_left, self.pad_top
        return _stack([x1 * sx + left, y1 * sy + top, x2 * sx + left, y2 * sy + top], boxes_xyxy)

    def boxes_to_original(self, boxes_xyxy: ArrayLike) -> ArrayLike:
        """``[..., 4]`` xyxy in canvas pixels -> xyxy in original pixels (exact inverse)."""
        x1, y1, x2, y2 = _unbind(boxes_xyxy)
        sx, sy, left, top = self.scale_x, self.scale_y, self.pad_left, self.pad_top
        return _stack([(x1 - left) / sx, (y1 - top) / sy, (x2 - left) / sx, (y2 - top) / sy], boxes_xyxy)

    def normalised_cxcywh_to_original_xyxy(self, boxes_cxcywh: ArrayLike) -> ArrayLike:
        """Model output (cxcywh in [0, 1] of the canvas) -> xyxy in original pixels, clamped to the image."""
        canvas = box_cxcywh_to_xyxy(boxes_cxcywh) * self.size
        return clamp_boxes(self.boxes_to_original(canvas), self.width, self.height)

    def original_xyxy_to_normalised_cxcywh(self, boxes_xyxy: ArrayLike) -> ArrayLike:
        """Ground truth xyxy in original pixels -> cxcywh in [0, 1] of the canvas (training target)."""
        return box_xyxy_to_cxcywh(self.boxes_to_canvas(boxes_xyxy)) / self.size

    def to_dict(self) -> dict:
        return {"width": self.width, "height": self.height, "size": self.size}
