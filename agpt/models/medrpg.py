"""MedRPG (Chen et al., MICCAI 2023): TransVG plus the tri-attention context contrastive (TaCo) loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from agpt.boxes import box_cxcywh_to_xyxy, paired_iou
from agpt.models.config import ModelConfig
from agpt.models.losses import BoxCriterion, _logged, full_precision
from agpt.models.outputs import GroundingOutput
from agpt.models.transvg import TransVG


class MedRPG(TransVG):
    """TransVG that also returns the last fusion layer's tokens and head-averaged attention."""

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        self.return_fusion = True


def region_mask(boxes_cxcywh: Tensor, height: int, width: int) -> Tensor:
    """Visual cells covered by each box -> ``[..., h*w]`` float 0/1 (row-major, as the visual tokens).

    Cells ``floor(x1*w) <= col < floor(x2*w)`` (and the same for rows), at least one cell per
    axis, as MedRPG's ``visuPooling`` (without its fixed 20x20 grid).
    """
    x1, y1, x2, y2 = box_cxcywh_to_xyxy(boxes_cxcywh.clamp(0, 1)).unbind(-1)

    def axis(lo: Tensor, hi: Tensor, n: int) -> Tensor:
        start = (lo * n).floor().clamp(0, n - 1)
        stop = torch.maximum((hi * n).floor().clamp(max=n), start + 1)
        cells = torch.arange(n, device=lo.device, dtype=lo.dtype)
        return ((cells >= start[..., None]) & (cells < stop[..., None])).to(lo.dtype)

    rows, cols = axis(y1, y2, height), axis(x1, x2, width)
    return (rows[..., :, None] * cols[..., None, :]).flatten(-2)


def sample_negative_boxes(target_cxcywh: Tensor, count: int, max_iou: float, size_jitter: float,
                          generator: torch.Generator, tries: int = 64) -> Tensor:
    """``count`` random boxes per target of its size * (1 +- ``size_jitter``), inside the canvas,
    with IoU <= ``max_iou`` to it -> ``[B, count, 4]`` cxcywh.

    ``tries`` candidates are drawn per negative; when none qualifies (a target covering most of
    the canvas) the candidate with the lowest IoU is used.  Drawn on the CPU from ``generator``.
    """
    target = target_cxcywh.detach().float().cpu()
    b = target.shape[0]
    jitter = 1 + (torch.rand(b, count, tries, 2, generator=generator) * 2 - 1) * size_jitter
    size = (target[:, None, None, 2:] * jitter).clamp(1e-3, 1.0)
    centre = size / 2 + torch.rand(b, count, tries, 2, generator=generator) * (1 - size)
    candidates = torch.cat([centre, size], dim=-1)
    iou = paired_iou(box_cxcywh_to_xyxy(candidates), box_cxcywh_to_xyxy(target[:, None, None, :].expand_as(candidates)))
    ok = iou <= max_iou
    # the first qualifying candidate, else the least-overlapping one
    score = torch.where(ok, tries - torch.arange(tries, dtype=torch.float32).expand_as(iou), -iou)
    choice = score.argmax(dim=-1)
    picked = torch.gather(candidates, 2, choice[..., None, None].expand(b, count, 1, 4)).squeeze(2)
    return picked.to(target_cxcywh.device, target_cxcywh.dtype)


def taco_loss(tokens: Tensor, attention: Tensor, text_len: int, feature_hw: tuple[int, int], target_cxcywh: Tensor,
              negatives_cxcywh: Tensor, temperature: float) -> Tensor:
    """MedRPG's TaCo loss (``max_image_lcpTriple``), mean over the batch.

    ``tokens [B, T, d]`` and ``attention [B, T, T]`` (head-averaged) of the last fusion layer over
    ``[REG; text (text_len); visual (h*w)]``; ``target_cxcywh [B, 4]``; ``negatives_cxcywh [B, K, 4]``.
    Region code = mean of the visual tokens inside a box; text code = the [CLS] token's output;
    context c = attention-weighted sum of all tokens with weights ``a_text * a_region * a_reg``
    (normalised); logits = cos(text + c, region + c) / temperature over [positive; K negatives];
    cross-entropy with the positive as the label.
    """
    h, w = feature_hw
    first_visual = 1 + text_len
    visual = tokens[:, first_visual:]
    visual_attn = attention[:, first_visual:]  # rows of the visual tokens [B, h*w, T]
    boxes = torch.cat([target_cxcywh[:, None], negatives_cxcywh], dim=1)  # [B, 1+K, 4]
    masks = region_mask(boxes, h, w).to(tokens.dtype)  # [B, 1+K, h*w]
    masks = masks / masks.sum(-1, keepdim=True)
    region = masks @ visual  # [B, 1+K, d]
    region_attn = masks @ visual_attn  # [B, 1+K, T]
    text_code = tokens[:, 1]  # [CLS] of the text
    text_attn, reg_attn = attention[:, 1], attention[:, 0]  # [B, T]
    weights = text_attn[:, None] * region_attn * reg_attn[:, None]
    weights = weights / (weights.sum(-1, keepdim=True) + 1e-5)
    context = weights @ tokens  # [B, 1+K, d]
    logits = F.cosine_similarity(text_code[:, None] + context, region + context, dim=-1, eps=1e-8) / temperature
    labels = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
    return F.cross_entropy(logits, labels)


class MedRPGCriterion(nn.Module):
    """L1 + GIoU (TransVG) + ``taco_weight * progress**taco_power * TaCo``; ``set_progress`` sets the ramp."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.box = BoxCriterion(cfg)
        self.cfg = cfg
        self.progress = 0.0
        self.generator = torch.Generator().manual_seed(cfg.taco_seed)

    def set_progress(self, fraction: float) -> None:
        """``fraction`` = epoch / epochs in [0, 1]; the TaCo weight is ``taco_weight * fraction**taco_power``."""
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"progress fraction must be in [0, 1], got {fraction}")
        self.progress = float(fraction)

    def get_extra_state(self) -> dict:
        """Saved in ``state_dict()``: the ramp position and the negative-box generator, so a resumed
        run draws the same negatives as an uninterrupted one."""
        return {"progress": self.progress, "generator": self.generator.get_state()}

    def set_extra_state(self, state: dict) -> None:
        self.progress = float(state["progress"])
        self.generator.set_state(state["generator"])

    @property
    def taco_weight(self) -> float:
        return self.cfg.taco_weight * self.progress ** self.cfg.taco_power

    def forward(self, out: GroundingOutput, target_boxes: Tensor, text: dict | None = None) -> dict:
        """Returns ``{"loss", "l1", "giou", "taco", "taco_weight"}``."""
        if out.fusion_tokens is None or out.fusion_attention is None:
            raise ValueError("MedRPGCriterion needs a MedRPG output (fusion tokens and attention)")
        boxes = self.box(out, target_boxes, text)
        target = target_boxes.to(out.pred_boxes.device, out.pred_boxes.dtype)
        negatives = sample_negative_boxes(target, self.cfg.taco_negatives, self.cfg.taco_max_iou,
                                          self.cfg.taco_size_jitter, self.generator)
        with full_precision(target.device):
            taco = taco_loss(out.fusion_tokens.float(), out.fusion_attention.float(), out.text_len, out.feature_hw,
                             target.float(), negatives.float(), self.cfg.taco_temperature)
        total = boxes["loss"] + self.taco_weight * taco
        logged = _logged(total, {"taco": taco})
        logged.update({"l1": boxes["l1"], "giou": boxes["giou"], "taco_weight": self.taco_weight})
        return logged
