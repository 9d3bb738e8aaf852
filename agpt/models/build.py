"""build_model / build_criterion: the one place that maps ModelConfig.name to classes."""

from __future__ import annotations

from torch import nn

from agpt.models.config import MODEL_NAMES, ModelConfig
from agpt.models.grounding import GroundingModel


def _check(cfg: ModelConfig) -> None:
    if not isinstance(cfg, ModelConfig):
        raise TypeError(f"expected a ModelConfig, got {type(cfg).__name__}")
    if cfg.name not in MODEL_NAMES:
        raise ValueError(f"unknown model {cfg.name!r}; choose one of {list(MODEL_NAMES)}")


def build_model(cfg: ModelConfig) -> GroundingModel:
    """The model named by ``cfg.name`` (``transvg``, ``mdetr``, ``medrpg``), with random/pretrained-text weights."""
    _check(cfg)
    cfg.validate()
    if cfg.name == "transvg":
        from agpt.models.transvg import TransVG
        return TransVG(cfg)
    if cfg.name == "medrpg":
        from agpt.models.medrpg import MedRPG
        return MedRPG(cfg)
    from agpt.models.mdetr import MDETR
    return MDETR(cfg)


def build_criterion(cfg: ModelConfig) -> nn.Module:
    """The loss of ``cfg.name``: L1 + GIoU (TransVG), + TaCo (MedRPG), MDETR's set loss (MDETR)."""
    _check(cfg)
    if cfg.name == "transvg":
        from agpt.models.losses import BoxCriterion
        return BoxCriterion(cfg)
    if cfg.name == "medrpg":
        from agpt.models.medrpg import MedRPGCriterion
        return MedRPGCriterion(cfg)
    from agpt.models.losses import MDETRCriterion
    return MDETRCriterion(cfg)
