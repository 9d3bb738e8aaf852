"""The shared base of the grounding models: tokenisation, image-row gathering and parameter groups."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from agpt.models.config import ModelConfig
from agpt.models.text_encoder import TextEncoder, load_tokenizer, tokenize_phrases


def float32_head(head: nn.Module, x: Tensor) -> Tensor:
    """Run a small output head in float32 even under bf16/fp16 autocast.

    Box coordinates in bf16 carry ~3 significant digits (+-2.5 px on a 640 px canvas), enough
    to move IoU; the heads are tiny, so full precision costs nothing.
    """
    with torch.autocast(device_type=x.device.type, enabled=False):
        return head(x.float())


class GroundingModel(nn.Module):
    """Base class: one box per (image, phrase).

    Subclasses set ``text_prefixes`` (parameters trained at ``lr_text``) and ``visual_prefixes``
    (at ``lr_visual``); everything else trains at ``lr_main``.
    """

    text_prefixes: tuple[str, ...] = ("text_encoder.",)
    visual_prefixes: tuple[str, ...] = ("visual.",)

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.config = cfg
        self.tokenizer = load_tokenizer(cfg)
        self.text_encoder = TextEncoder(cfg, vocab_size=len(self.tokenizer))

    # ------------------------------------------------------------------ text
    def tokenize(self, phrases: list[str]) -> dict[str, Tensor]:
        """``phrases`` -> ``{"input_ids": LongTensor[B, L], "attention_mask": LongTensor[B, L]}`` (1 = real token)."""
        enc = tokenize_phrases(self.tokenizer, phrases, self.config.max_query_len)
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def check_image_index(image_index: Tensor | None, n_phrases: int, n_images: int, device) -> Tensor:
        """Default ``arange(B)``; checks the phrase -> image-row mapping is in range."""
        if image_index is None:
            if n_images != n_phrases:
                raise ValueError(f"{n_phrases} phrases but {n_images} images: pass image_index (phrase -> image row)")
            return torch.arange(n_phrases, device=device)
        image_index = image_index.to(device=device, dtype=torch.long)
        if image_index.shape != (n_phrases,):
            raise ValueError(f"image_index must have shape [{n_phrases}], got {tuple(image_index.shape)}")
        if n_phrases and (int(image_index.min()) < 0 or int(image_index.max()) >= n_images):
            raise ValueError(f"image_index values must be in [0, {n_images}), got "
                             f"{int(image_index.min())}..{int(image_index.max())}")
        return image_index

    def param_groups(self, lr_main: float, lr_text: float, lr_visual: float) -> list[dict]:
        """AdamW parameter groups ``[{"name", "params", "lr"}]`` (main / text / visual); empty groups dropped.

        Only parameters with ``requires_grad`` are included (LoRA-frozen weights are left out).
        """
        groups: dict[str, list] = {"main": [], "text": [], "visual": []}
        for name, p in self.named_parameters():
            if not p.requires_grad:
                continue
            if name.startswith(self.text_prefixes):
                groups["text"].append(p)
            elif name.startswith(self.visual_prefixes):
                groups["visual"].append(p)
            else:
                groups["main"].append(p)
        lrs = {"main": lr_main, "text": lr_text, "visual": lr_visual}
        return [{"name": k, "params": v, "lr": lrs[k]} for k, v in groups.items() if v]

    def n_parameters(self, trainable_only: bool = False) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)
