"""MDETR (Kamath et al., ICCV 2021): joint image+text encoder, query decoder, soft-token and alignment heads."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from agpt.models.attention import MLP, TransformerDecoder, TransformerEncoder, xavier_init_
from agpt.models.backbone import VisualFeatures
from agpt.models.config import MDETR_MAX_TEXT_LEN, ModelConfig
from agpt.models.grounding import GroundingModel, float32_head
from agpt.models.outputs import GroundingOutput
from agpt.models.text_encoder import encode_unique, tokenize_phrases


class FeatureResizer(nn.Module):
    """MDETR's text resizer: Linear -> LayerNorm (eps 1e-12) -> dropout."""

    def __init__(self, in_dim: int, out_dim: int, dropout: float):
        super().__init__()
        self.fc = nn.Linear(in_dim, out_dim)
        self.layer_norm = nn.LayerNorm(out_dim, eps=1e-12)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(self.layer_norm(self.fc(x)))


def positive_map_from_offsets(offsets: Tensor, phrases: list[str], spans: list[list[tuple[int, int]]] | None,
                              width: int = MDETR_MAX_TEXT_LEN) -> Tensor:
    """Uniform distribution over each phrase's positive tokens -> ``[B, width]`` (token j -> column j).

    A token is positive when its character span (from the fast tokenizer's ``offset_mapping``)
    overlaps one of the phrase's ``spans`` (default: the whole phrase) and contains a letter or
    digit, so special tokens, padding and pure punctuation ("," ".") are never positive while
    every word piece of a split word ("p ##ne ##um ##otho ##ra ##x") is.
    """
    result = torch.zeros(len(phrases), width)
    for i, phrase in enumerate(phrases):
        phrase_spans = spans[i] if spans is not None else [(0, len(phrase))]
        for start, end in phrase_spans:
            if not 0 <= start < end <= len(phrase):
                raise ValueError(f"span ({start}, {end}) is outside phrase {phrase!r}")
        for j, (s, e) in enumerate(offsets[i].tolist()):
            if e <= s or j >= width - 1:  # special/padding token, or beyond the 255 token slots
                continue
            piece = phrase[s:e]
            if any(c.isalnum() for c in piece) and any(s < b and a < e for a, b in phrase_spans):
                result[i, j] = 1.0
        total = result[i].sum()
        if total == 0:
            raise ValueError(f"phrase {phrase!r} has no word token inside its span(s) {phrase_spans}")
        result[i] /= total
    return result


class MDETR(GroundingModel):
    """MDETR sized by :class:`ModelConfig` (models.md §3), one box per phrase.

    Image tokens (ResNet -> 1x1 conv, 2-D sine positions) and text tokens (text encoder ->
    resizer, zero positions) form one sequence for the joint encoder; ``num_queries`` learned
    queries cross-attend to that joint memory in the decoder.  Heads per decoder layer:
    soft-token logits (255 token slots + no-object), an MLP box (sigmoid cxcywh) and 64-d
    L2-normalised contrastive-alignment embeddings (also for the text memory).
    The answer is the box of the query with the highest ``1 - p(no-object)``.
    """

    visual_prefixes = ("visual.backbone.",)

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        d = cfg.hidden_dim
        self.visual = VisualFeatures(cfg)
        self.resizer = FeatureResizer(self.text_encoder.hidden_size, d, cfg.dropout)
        self.encoder = TransformerEncoder(cfg.encoder_layers, d, cfg.num_heads, cfg.ffn_dim, cfg.dropout)
        self.decoder = TransformerDecoder(cfg.decoder_layers, d, cfg.num_heads, cfg.ffn_dim, cfg.dropout)
        self.query_embed = nn.Embedding(cfg.num_queries, d)
        self.class_embed = nn.Linear(d, MDETR_MAX_TEXT_LEN)
        self.bbox_embed = MLP(d, d, 4, 3)
        self.contrastive_align_projection_image = nn.Linear(d, cfg.align_dim)
        self.contrastive_align_projection_text = nn.Linear(d, cfg.align_dim)
        xavier_init_(self.encoder)
        xavier_init_(self.decoder)

    def tokenize(self, phrases: list[str], spans: list[list[tuple[int, int]]] | None = None) -> dict[str, Tensor]:
        """``phrases`` -> ``input_ids``, ``attention_mask`` ``[B, L]`` and ``positive_map`` ``[B, 256]``.

        ``spans``: optional character spans per phrase naming the grounded words (default: the
        whole phrase; see :func:`positive_map_from_offsets`).
        """
        if spans is not None and len(spans) != len(phrases):
            raise ValueError(f"{len(spans)} span lists for {len(phrases)} phrases")
        enc = tokenize_phrases(self.tokenizer, phrases, self.config.max_query_len, offsets=True)
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
                "positive_map": positive_map_from_offsets(enc["offset_mapping"], list(phrases), spans)}

    def heads(self, hs: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Decoder states ``[..., Q, d]`` -> (logits ``[..., Q, 256]``, boxes ``[..., Q, 4]``, align ``[..., Q, 64]``)."""
        return (float32_head(self.class_embed, hs), float32_head(self.bbox_embed, hs).sigmoid(),
                F.normalize(float32_head(self.contrastive_align_projection_image, hs), p=2, dim=-1))

    def forward(self, images: Tensor, text: dict[str, Tensor], image_index: Tensor | None = None) -> GroundingOutput:
        """``images [B_img, 1, S, S]``, ``text`` from :meth:`tokenize` (B phrases), ``image_index [B]``."""
        text = {k: v.to(images.device) for k, v in text.items()}
        attention_mask = text["attention_mask"]
        n = attention_mask.shape[0]
        index = self.check_image_index(image_index, n, images.shape[0], images.device)
        visual, pos, hw = self.visual(images)
        visual = visual[index]
        words = self.resizer(encode_unique(self.text_encoder, text["input_ids"], attention_mask))
        n_visual, length, d = visual.shape[1], words.shape[1], visual.shape[2]
        src = torch.cat([visual, words], dim=1)
        # text tokens get zero positions (MDETR)
        joint_pos = torch.cat([pos.expand(n, -1, -1), torch.zeros(n, length, d, device=src.device, dtype=src.dtype)], 1)
        padding = torch.cat([torch.zeros(n, n_visual, dtype=torch.bool, device=src.device), attention_mask == 0], 1)
        memory, _ = self.encoder(src, joint_pos, padding)
        query_pos = self.query_embed.weight[None].expand(n, -1, -1)
        hs = self.decoder(torch.zeros_like(query_pos), memory, query_pos, joint_pos, padding)  # [layers, B, Q, d]
        logits, boxes, proj_queries = self.heads(hs)
        proj_tokens = F.normalize(float32_head(self.contrastive_align_projection_text, memory[:, n_visual:]), p=2, dim=-1)
        scores_all = 1 - logits[-1].softmax(-1)[..., -1]
        scores, best = scores_all.max(dim=1)
        rows = torch.arange(n, device=src.device)
        aux = [{"logits": logits[i], "query_boxes": boxes[i], "proj_queries": proj_queries[i]}
               for i in range(hs.shape[0] - 1)]
        return GroundingOutput(pred_boxes=boxes[-1][rows, best], scores=scores, logits=logits[-1],
                               query_boxes=boxes[-1], aux_outputs=aux, proj_queries=proj_queries[-1],
                               proj_tokens=proj_tokens, text_len=length, feature_hw=hw)
