"""TransVG (Deng et al., ICCV 2021): DETR visual encoder + text encoder + [REG]-token fusion transformer."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from agpt.models.attention import MLP, TransformerEncoder, xavier_init_
from agpt.models.backbone import VisualFeatures
from agpt.models.config import ModelConfig
from agpt.models.grounding import GroundingModel, float32_head
from agpt.models.outputs import GroundingOutput
from agpt.models.text_encoder import encode_unique


class TransVG(GroundingModel):
    """TransVG with the published layout (models.md §2), sized by :class:`ModelConfig`.

    images ``[B_img, 1, S, S]`` -> ResNet -> 1x1 conv -> DETR encoder (2-D sine positions on Q/K)
    -> Linear ``visual_proj``; phrases -> text encoder -> Linear ``text_proj``; the fusion
    transformer runs over ``[REG; text (L); visual (h*w)]`` with a learned position table
    ``vl_pos_embed`` of ``1 + max_query_len + h*w`` rows (text rows ``1..L``, visual rows after
    ``1 + max_query_len``, exactly as TransVG's fixed-length padding with padded tokens masked);
    the [REG] output goes through an MLP and a sigmoid -> cxcywh in [0, 1].

    The visual branch runs once per image; ``image_index`` gathers it per phrase.
    """

    visual_prefixes = ("visual.", "visual_encoder.")

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        d = cfg.hidden_dim
        self.visual = VisualFeatures(cfg)
        self.visual_encoder = TransformerEncoder(cfg.encoder_layers, d, cfg.num_heads, cfg.ffn_dim, cfg.dropout)
        self.visual_proj = nn.Linear(d, d)
        self.text_proj = nn.Linear(self.text_encoder.hidden_size, d)
        self.reg_token = nn.Embedding(1, d)
        self.num_visual_tokens = cfg.feature_size ** 2
        self.vl_pos_embed = nn.Embedding(1 + cfg.max_query_len + self.num_visual_tokens, d)
        self.fusion = TransformerEncoder(cfg.fusion_layers, d, cfg.num_heads, cfg.ffn_dim, cfg.dropout)
        self.bbox_embed = MLP(d, d, 4, 3)
        self.return_fusion = False  # MedRPG sets True: keep the last fusion layer's tokens and attention
        for module in (self.visual_encoder, self.visual_proj, self.text_proj, self.fusion, self.bbox_embed):
            xavier_init_(module)

    def encode_images(self, images: Tensor) -> tuple[Tensor, tuple[int, int]]:
        """``[B_img, 1, S, S]`` -> ``(visual tokens [B_img, h*w, d], (h, w))``, once per image."""
        tokens, pos, hw = self.visual(images)
        if tokens.shape[1] != self.num_visual_tokens:
            raise ValueError(f"images of side {images.shape[-1]} give {tokens.shape[1]} visual tokens; this model "
                             f"was built for image_size={self.config.image_size} ({self.num_visual_tokens} tokens)")
        tokens, _ = self.visual_encoder(tokens, pos)
        return self.visual_proj(tokens), hw

    def encode_text(self, text: dict[str, Tensor]) -> Tensor:
        """``input_ids/attention_mask [B, L]`` -> ``[B, L, d]``."""
        hidden = encode_unique(self.text_encoder, text["input_ids"], text["attention_mask"])
        return self.text_proj(hidden)

    def forward(self, images: Tensor, text: dict[str, Tensor], image_index: Tensor | None = None) -> GroundingOutput:
        """``images [B_img, 1, S, S]``, ``text`` from :meth:`tokenize` (B phrases), ``image_index [B]``."""
        text = {k: v.to(images.device) for k, v in text.items()}
        input_ids, attention_mask = text["input_ids"], text["attention_mask"]
        n = input_ids.shape[0]
        index = self.check_image_index(image_index, n, images.shape[0], images.device)
        visual, hw = self.encode_images(images)
        visual = visual[index]
        words = self.encode_text(text)
        length = words.shape[1]
        if length > self.config.max_query_len:
            raise ValueError(f"text has {length} tokens > max_query_len={self.config.max_query_len}; use model.tokenize")
        d = visual.shape[-1]
        reg = self.reg_token.weight.expand(n, 1, d)
        sequence = torch.cat([reg, words, visual], dim=1)
        table = self.vl_pos_embed.weight
        first_visual = 1 + self.config.max_query_len
        pos = torch.cat([table[: 1 + length], table[first_visual:]], dim=0)[None]
        padding = torch.cat([
            torch.zeros(n, 1, dtype=torch.bool, device=images.device),
            attention_mask == 0,
            torch.zeros(n, visual.shape[1], dtype=torch.bool, device=images.device),
        ], dim=1)
        fused, attention = self.fusion(sequence, pos, padding, last_weights=self.return_fusion)
        boxes = float32_head(self.bbox_embed, fused[:, 0]).sigmoid()
        out = GroundingOutput(pred_boxes=boxes, scores=torch.ones(n, device=boxes.device, dtype=boxes.dtype),
                              text_len=length, feature_hw=hw)
        if self.return_fusion:
            out.fusion_tokens, out.fusion_attention = fused, attention
        return out
