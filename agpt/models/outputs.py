"""Typed model outputs shared by TransVG, MedRPG and MDETR."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor


@dataclass
class GroundingOutput:
    """What every grounding model returns for ``B`` phrases.

    - ``pred_boxes``: ``Tensor[B, 4]``, cxcywh normalised to [0, 1] of the square canvas: the answer.
    - ``scores``: ``Tensor[B]`` confidence of that box (MDETR: 1 - p(no-object) of the chosen query;
      TransVG/MedRPG have no confidence head and return 1).
    - ``logits``: MDETR soft-token logits ``Tensor[B, Q, 256]`` (last slot = no-object), else None.
    - ``query_boxes``: MDETR ``Tensor[B, Q, 4]`` cxcywh of every query, else None.
    - ``aux_outputs``: MDETR, one dict per earlier decoder layer with ``logits``, ``query_boxes``,
      ``proj_queries``; empty otherwise.
    - ``proj_queries`` / ``proj_tokens``: MDETR contrastive-alignment embeddings ``[B, Q, 64]`` /
      ``[B, L, 64]`` (L2-normalised), else None.
    - ``fusion_tokens`` / ``fusion_attention``: MedRPG, the last fusion layer's output ``[B, T, d]`` and
      head-averaged attention ``[B, T, T]`` over ``[REG; text (L); visual (h*w)]``; else None.
    - ``text_len`` and ``feature_hw``: L and (h, w) of that layout.
    """

    pred_boxes: Tensor
    scores: Tensor
    logits: Tensor | None = None
    query_boxes: Tensor | None = None
    aux_outputs: list[dict[str, Tensor]] = field(default_factory=list)
    proj_queries: Tensor | None = None
    proj_tokens: Tensor | None = None
    fusion_tokens: Tensor | None = None
    fusion_attention: Tensor | None = None
    text_len: int = 0
    feature_hw: tuple[int, int] = (0, 0)
