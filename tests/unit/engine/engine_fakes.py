"""Small stand-ins for the image cache and a grounding model (the real ones are used where merged)."""

from __future__ import annotations

import zlib
from types import SimpleNamespace

import numpy as np
import torch
from torch import nn

from agpt.boxes import Letterbox, box_cxcywh_to_xyxy, paired_giou


class FakeCache:
    """The ``ImageCache`` API over in-memory canvases: ``.size``, ``in``, ``.image()``, ``.letterbox()``."""

    def __init__(self, size: int, images: dict[str, np.ndarray], letterboxes: dict[str, Letterbox]):
        self.size = size
        self._images = images
        self._letterboxes = letterboxes
        self.dicom_ids = sorted(images)

    def __contains__(self, dicom_id: str) -> bool:
        return dicom_id in self._images

    def image(self, dicom_id: str) -> np.ndarray:
        return self._images[dicom_id]

    def letterbox(self, dicom_id: str) -> Letterbox:
        return self._letterboxes[dicom_id]


class FakeGrounder(nn.Module):
    """A few-thousand-parameter model with the agpt model interface (tokenize / forward / param_groups)."""

    def __init__(self, vocab: int = 64, dim: int = 16):
        super().__init__()
        self.vocab = vocab
        self.visual = nn.Sequential(nn.Conv2d(1, 8, 3, stride=2, padding=1), nn.ReLU(),
                                    nn.Conv2d(8, dim, 3, stride=2, padding=1), nn.ReLU(),
                                    nn.AdaptiveAvgPool2d(2), nn.Flatten())
        self.text = nn.Embedding(vocab, dim)
        self.head = nn.Sequential(nn.Linear(5 * dim, 32), nn.ReLU(), nn.Dropout(0.1), nn.Linear(32, 4))

    def tokenize(self, phrases: list[str]) -> dict[str, torch.Tensor]:
        ids = [[1 + zlib.crc32(w.encode()) % (self.vocab - 1) for w in p.lower().split()] or [0] for p in phrases]
        n = max(len(i) for i in ids)
        input_ids = torch.zeros(len(ids), n, dtype=torch.long)
        mask = torch.zeros(len(ids), n, dtype=torch.long)
        for r, row in enumerate(ids):
            input_ids[r, : len(row)] = torch.tensor(row)
            mask[r, : len(row)] = 1
        return {"input_ids": input_ids, "attention_mask": mask}

    def forward(self, images, text, image_index=None):
        if image_index is None:
            image_index = torch.arange(images.shape[0], device=images.device)
        v = self.visual(images)[image_index]
        m = text["attention_mask"].unsqueeze(-1).float()
        t = (self.text(text["input_ids"]) * m).sum(1) / m.sum(1).clamp(min=1)
        raw = self.head(torch.cat([v, t], dim=-1))
        return SimpleNamespace(pred_boxes=raw.sigmoid(), scores=torch.sigmoid(raw.mean(-1)))

    def param_groups(self, lr_main, lr_text, lr_visual):
        return [{"params": list(self.head.parameters()), "lr": lr_main},
                {"params": list(self.text.parameters()), "lr": lr_text},
                {"params": list(self.visual.parameters()), "lr": lr_visual}]


class FakeCriterion(nn.Module):
    """L1 (cxcywh) + (1 - GIoU), averaged over the batch."""

    def forward(self, out, target_boxes, text):
        l1 = (out.pred_boxes - target_boxes).abs().sum(-1).mean()
        giou = (1 - paired_giou(box_cxcywh_to_xyxy(out.pred_boxes), box_cxcywh_to_xyxy(target_boxes))).mean()
        return {"loss": l1 + giou, "l1": float(l1.detach()), "giou": float(giou.detach())}


def make_cache(size: int = 32, n: int = 6, seed: int = 0) -> FakeCache:
    """``n`` random canvases ``img0..`` of originals with varied aspect ratios."""
    rng = np.random.default_rng(seed)
    images, boxes = {}, {}
    for i in range(n):
        w, h = int(rng.integers(40, 90)), int(rng.integers(40, 90))
        lb = Letterbox(w, h, size)
        canvas = np.zeros((size, size), np.uint8)
        canvas[lb.pad_top:lb.pad_top + lb.resized_height, lb.pad_left:lb.pad_left + lb.resized_width] = rng.integers(
            0, 255, (lb.resized_height, lb.resized_width))
        images[f"img{i}"], boxes[f"img{i}"] = canvas, lb
    return FakeCache(size, images, boxes)
