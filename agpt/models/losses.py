"""Losses: L1 + GIoU box loss (TransVG), and MDETR's soft-token, box and contrastive-alignment set loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from agpt.boxes import box_cxcywh_to_xyxy, paired_giou
from agpt.models.config import ModelConfig
from agpt.models.matcher import HungarianMatcher
from agpt.models.outputs import GroundingOutput


def box_losses(pred_cxcywh: Tensor, target_cxcywh: Tensor, num_boxes: float) -> dict[str, Tensor]:
    """Paired L1 (summed over the 4 cxcywh coordinates) and 1 - GIoU, each summed and divided by ``num_boxes``.

    ``pred_cxcywh``, ``target_cxcywh``: ``Tensor[N, 4]`` normalised cxcywh.
    """
    l1 = F.l1_loss(pred_cxcywh, target_cxcywh, reduction="none").sum() / num_boxes
    giou = paired_giou(box_cxcywh_to_xyxy(pred_cxcywh), box_cxcywh_to_xyxy(target_cxcywh))
    return {"l1": l1, "giou": (1 - giou).sum() / num_boxes}


def check_targets(target_boxes: Tensor, n: int) -> None:
    if target_boxes.shape != (n, 4):
        raise ValueError(f"target_boxes must be [{n}, 4] normalised cxcywh, got {tuple(target_boxes.shape)}")


def full_precision(device: torch.device):
    """Losses are computed in float32 even when the engine runs the forward pass under autocast."""
    return torch.autocast(device_type=device.type, enabled=False)


def _logged(total: Tensor, terms: dict[str, Tensor]) -> dict:
    out: dict = {"loss": total}
    out.update({k: float(v.detach()) for k, v in terms.items()})
    return out


class BoxCriterion(nn.Module):
    """TransVG's loss: ``l1_weight * L1 + giou_weight * (1 - GIoU)`` on the predicted box (default 1 : 1)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.weight_dict = {"l1": cfg.l1_weight, "giou": cfg.giou_weight}

    def set_progress(self, fraction: float) -> None:
        """No-op (kept so that every criterion has the same interface)."""

    def forward(self, out: GroundingOutput, target_boxes: Tensor, text: dict | None = None) -> dict:
        """Returns ``{"loss": Tensor (weighted total), "l1": float, "giou": float}``."""
        pred = out.pred_boxes.float()
        target_boxes = target_boxes.to(pred.device, torch.float32)
        check_targets(target_boxes, pred.shape[0])
        with full_precision(pred.device):
            terms = box_losses(pred, target_boxes, max(1, target_boxes.shape[0]))
            total = sum(self.weight_dict[k] * v for k, v in terms.items())
        return _logged(total, terms)


class MDETRCriterion(nn.Module):
    """MDETR's set loss for one target box per phrase (models.md §3).

    For each decoder layer (the last, plus every auxiliary layer when ``aux_loss``; re-matched
    per layer): soft-token CE (weight ``ce_weight``; unmatched queries target the no-object slot,
    down-weighted by ``eos_coef``), L1 and 1 - GIoU on the matched query, and the symmetric
    contrastive-alignment loss (``align_weight``, temperature ``align_temperature``).
    Every term is normalised by the number of target boxes.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.matcher = HungarianMatcher(cfg.match_class_weight, cfg.match_l1_weight, cfg.match_giou_weight)
        self.weight_dict = {"ce": cfg.ce_weight, "l1": cfg.l1_weight, "giou": cfg.giou_weight,
                            "align": cfg.align_weight}
        self.eos_coef = cfg.eos_coef
        self.temperature = cfg.align_temperature
        self.aux_loss = cfg.aux_loss

    def set_progress(self, fraction: float) -> None:
        """No-op (kept so that every criterion has the same interface)."""

    def layer_losses(self, logits: Tensor, boxes: Tensor, proj_queries: Tensor | None, proj_tokens: Tensor | None,
                     target_boxes: Tensor, positive_map: Tensor, token_map: Tensor, text_mask: Tensor) -> dict:
        """Losses of one decoder layer.

        ``logits [B, Q, 256]``, ``boxes [B, Q, 4]``, ``target_boxes [B, 4]``, ``positive_map [B, 256]``
        (uniform over the phrase's tokens), ``token_map [B, L]`` bool, ``text_mask [B, L]`` (1 = real).
        """
        b, q, _ = logits.shape
        with torch.no_grad():
            indices = self.matcher(logits, boxes, target_boxes[:, None], positive_map[:, None])
        # one target per phrase -> exactly one matched query each
        matched = torch.stack([src[0] for src, _ in indices]).to(logits.device)
        rows = torch.arange(b, device=logits.device)
        num_boxes = float(max(1, b))

        # soft-token CE: matched query -> positive map, other queries -> no-object slot
        target_sim = torch.zeros_like(logits)
        target_sim[..., -1] = 1.0
        target_sim[rows, matched] = positive_map.to(logits.dtype)
        weight = torch.full((b, q), self.eos_coef, device=logits.device, dtype=logits.dtype)
        weight[rows, matched] = 1.0
        ce = (-(logits.log_softmax(-1) * target_sim).sum(-1) * weight).sum() / num_boxes
        terms = {"ce": ce}
        terms.update(box_losses(boxes[rows, matched], target_boxes, num_boxes))
        if proj_queries is not None and proj_tokens is not None and self.weight_dict["align"] > 0:
            terms["align"] = self.align_loss(proj_queries, proj_tokens, matched, token_map, text_mask, num_boxes)
        return terms

    def align_loss(self, proj_queries: Tensor, proj_tokens: Tensor, matched: Tensor, token_map: Tensor,
                   text_mask: Tensor, num_boxes: float) -> Tensor:
        """Symmetric box-to-token and token-to-box contrastive alignment (MDETR's ``loss_contrastive_align``)."""
        b, _q, _ = proj_queries.shape
        logits = proj_queries @ proj_tokens.transpose(1, 2) / self.temperature  # [B, Q, L]
        positive = torch.zeros_like(logits, dtype=torch.bool)
        positive[torch.arange(b, device=logits.device), matched] = token_map
        padded = (text_mask == 0)[:, None, :].expand_as(logits)
        # padding tokens are never candidates (MDETR keeps them; masking them is the cleaner choice)
        neg_logits = logits.masked_fill(padded, float("-inf"))
        pos_logits = logits.masked_fill(~positive, 0.0)
        boxes_with_pos = positive.any(2)
        box_to_token = (-pos_logits.sum(2) / (positive.sum(2) + 1e-6) + neg_logits.logsumexp(2))
        box_to_token = box_to_token.masked_fill(~boxes_with_pos, 0.0).sum()
        tokens_with_pos = positive.any(1)
        token_to_box = (-pos_logits.sum(1) / (positive.sum(1) + 1e-6) + logits.logsumexp(1))
        token_to_box = token_to_box.masked_fill(~tokens_with_pos, 0.0).sum()
        return (box_to_token + token_to_box) / 2 / num_boxes

    def forward(self, out: GroundingOutput, target_boxes: Tensor, text: dict[str, Tensor]) -> dict:
        """Returns ``{"loss": Tensor, "ce", "l1", "giou", "align": floats of the last layer, "aux": float}``."""
        if out.logits is None or out.query_boxes is None:
            raise ValueError("MDETRCriterion needs an MDETR output (logits and query_boxes)")
        device = out.logits.device
        target_boxes = target_boxes.to(device, out.query_boxes.dtype)
        check_targets(target_boxes, out.logits.shape[0])
        positive_map = text["positive_map"].to(device)
        token_map = positive_map[:, : text["attention_mask"].shape[1]] > 0
        text_mask = text["attention_mask"].to(device)
        token_map = token_map.to(device)
        layers = [(out.logits, out.query_boxes, out.proj_queries)]
        if self.aux_loss:
            layers += [(a["logits"], a["query_boxes"], a.get("proj_queries")) for a in out.aux_outputs]
        with full_precision(device):
            return self._total(layers, out.proj_tokens, target_boxes.float(), positive_map, token_map, text_mask)

    def _total(self, layers: list, proj_tokens: Tensor | None, target_boxes: Tensor, positive_map: Tensor,
               token_map: Tensor, text_mask: Tensor) -> dict:
        def f32(x: Tensor | None) -> Tensor | None:
            return None if x is None else x.float()

        device = target_boxes.device
        total = torch.zeros((), device=device)
        last_terms: dict[str, Tensor] = {}
        aux_total = torch.zeros((), device=device)
        for i, (logits, boxes, proj_queries) in enumerate(layers):
            terms = self.layer_losses(f32(logits), f32(boxes), f32(proj_queries), f32(proj_tokens), target_boxes,
                                      positive_map, token_map, text_mask)
            weighted = sum(self.weight_dict[k] * v for k, v in terms.items())
            total = total + weighted
            if i == 0:
                last_terms = terms
            else:
                aux_total = aux_total + weighted.detach()
        logged = _logged(total, last_terms)
        logged["aux"] = float(aux_total)
        return logged
