"""Image backbone (transformers ResNetBackbone, 1-channel) and DETR's 2-D sine position encoding."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from transformers import ResNetBackbone, ResNetConfig

from agpt.models.config import ModelConfig

_DEPTHS = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3], 101: [3, 4, 23, 3]}


class FrozenBatchNorm2d(nn.Module):
    """BatchNorm2d with fixed statistics and affine parameters (DETR's choice for pretrained backbones).

    Keeps the BatchNorm buffer names (``weight``, ``bias``, ``running_mean``, ``running_var``) so
    pretrained state dicts load unchanged.
    """

    def __init__(self, num_features: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        for name, value in (("weight", 1.0), ("bias", 0.0), ("running_mean", 0.0), ("running_var", 1.0)):
            self.register_buffer(name, torch.full((num_features,), value))

    def forward(self, x: Tensor) -> Tensor:
        scale = self.weight * (self.running_var + self.eps).rsqrt()
        shift = self.bias - self.running_mean * scale
        return x * scale[None, :, None, None] + shift[None, :, None, None]


def freeze_batchnorm_(module: nn.Module) -> None:
    """Replace every ``nn.BatchNorm2d`` under ``module`` by a :class:`FrozenBatchNorm2d` with its values."""
    for name, child in list(module.named_children()):
        if isinstance(child, nn.BatchNorm2d):
            frozen = FrozenBatchNorm2d(child.num_features, child.eps)
            with torch.no_grad():
                frozen.weight.copy_(child.weight)
                frozen.bias.copy_(child.bias)
                frozen.running_mean.copy_(child.running_mean)
                frozen.running_var.copy_(child.running_var)
            setattr(module, name, frozen)
        else:
            freeze_batchnorm_(child)


def resnet_config(cfg: ModelConfig) -> ResNetConfig:
    """The transformers ResNetConfig for ``cfg`` (1 input channel, widths scaled by backbone_width)."""
    bottleneck = cfg.backbone_depth >= 50
    base = [256, 512, 1024, 2048] if bottleneck else [64, 128, 256, 512]
    widths = [max(8, round(w * cfg.backbone_width)) for w in base]
    # Stages after the one we read would be computed and never used: build only up to it.
    n_stages = int(cfg.backbone_stage[-1])
    return ResNetConfig(
        num_channels=1,
        embedding_size=max(8, round(64 * cfg.backbone_width)),
        hidden_sizes=widths[:n_stages],
        depths=_DEPTHS[cfg.backbone_depth][:n_stages],
        layer_type="bottleneck" if bottleneck else "basic",
        out_features=[cfg.backbone_stage],
    )


class ImageBackbone(nn.Module):
    """ResNet feature extractor: ``images [B, 1, S, S]`` -> ``features [B, C, S/stride, S/stride]``.

    Built from transformers' ``ResNetBackbone`` with random weights (torchvision/timm are not
    usable here); :mod:`agpt.models.convert` loads DETR/TransVG/MDETR ResNet weights into it.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.body = ResNetBackbone(resnet_config(cfg))
        self.num_channels = int(self.body.channels[0])
        if cfg.frozen_batchnorm:
            freeze_batchnorm_(self.body)

    def forward(self, images: Tensor) -> Tensor:
        return self.body(images).feature_maps[0]


def sine_position_encoding(height: int, width: int, dim: int, device=None, dtype=torch.float32,
                           temperature: float = 10000.0) -> Tensor:
    """DETR's normalised 2-D sine encoding for an unpadded ``height x width`` grid -> ``[H*W, dim]``.

    The first ``dim/2`` channels encode y, the rest x (sin/cos interleaved), scale 2*pi.
    """
    if dim % 4:
        raise ValueError(f"sine position encoding needs a width divisible by 4, got {dim}")
    num_feats = dim // 2
    eps, scale = 1e-6, 2 * math.pi
    y = torch.arange(1, height + 1, device=device, dtype=torch.float32)[:, None].expand(height, width)
    x = torch.arange(1, width + 1, device=device, dtype=torch.float32)[None, :].expand(height, width)
    y = y / (height + eps) * scale
    x = x / (width + eps) * scale
    dim_t = torch.arange(num_feats, device=device, dtype=torch.float32)
    dim_t = temperature ** (2 * torch.div(dim_t, 2, rounding_mode="floor") / num_feats)
    pos_x = x[..., None] / dim_t
    pos_y = y[..., None] / dim_t
    pos_x = torch.stack((pos_x[..., 0::2].sin(), pos_x[..., 1::2].cos()), dim=3).flatten(2)
    pos_y = torch.stack((pos_y[..., 0::2].sin(), pos_y[..., 1::2].cos()), dim=3).flatten(2)
    return torch.cat((pos_y, pos_x), dim=2).flatten(0, 1).to(dtype)


class VisualFeatures(nn.Module):
    """Backbone + 1x1 projection: ``images [B, 1, S, S]`` -> ``(tokens [B, h*w, d], pos [1, h*w, d], (h, w))``."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.backbone = ImageBackbone(cfg)
        self.input_proj = nn.Conv2d(self.backbone.num_channels, cfg.hidden_dim, kernel_size=1)
        self.hidden_dim = cfg.hidden_dim

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor, tuple[int, int]]:
        if images.dim() != 4 or images.shape[1] != 1:
            raise ValueError(f"images must be [B, 1, S, S] grayscale, got shape {tuple(images.shape)}")
        feats = self.input_proj(self.backbone(images))
        h, w = feats.shape[-2:]
        tokens = feats.flatten(2).transpose(1, 2)
        pos = sine_position_encoding(h, w, self.hidden_dim, device=feats.device, dtype=tokens.dtype)[None]
        return tokens, pos, (int(h), int(w))
