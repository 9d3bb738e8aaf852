"""Building models from configs and from checkpoints; LoRA on and merged off."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch

from agpt.engine.checkpoint import load_weights, read_checkpoint_config
from agpt.engine.config import TrainConfig
from agpt.errors import AgptError


def model_config(name: str, preset: str, overrides: dict[str, Any] | None = None):
    """``ModelConfig.from_preset(name, preset, **overrides)`` with user errors as ``AgptError``."""
    from agpt.models import ModelConfig

    try:
        return ModelConfig.from_preset(name=name, preset=preset, **(overrides or {}))
    except (ValueError, TypeError) as err:
        raise AgptError(f"model configuration: {err}") from None


def model_config_from_dict(d: dict[str, Any]):
    from agpt.models import ModelConfig

    try:
        return ModelConfig.from_dict(d)
    except (ValueError, TypeError, KeyError) as err:
        raise AgptError(f"model configuration in checkpoint: {err}") from None


def build(cfg) -> torch.nn.Module:
    from agpt.models import build_model

    try:
        return build_model(cfg)
    except ValueError as err:
        raise AgptError(str(err)) from None


def model_name(cfg) -> str:
    return str(getattr(cfg, "name", None) or cfg.to_dict().get("name"))


def canvas_size(cfg) -> int | None:
    """The model's input canvas side, when its config declares one."""
    for key in ("image_size", "canvas_size", "size"):
        value = getattr(cfg, key, None)
        if isinstance(value, int):
            return value
    return None


def load_checkpoint_model(ckpt_dir: str | Path, device: torch.device | str = "cpu"):
    """Build the model described by a checkpoint's ``config.json`` and load its weights.

    Returns ``(model, meta)``; the model is in eval mode on ``device``.
    """
    meta = read_checkpoint_config(ckpt_dir)
    model_dict = (meta.get("run") or {}).get("model")
    if not isinstance(model_dict, dict):
        raise AgptError(f"{Path(ckpt_dir) / 'config.json'}: no run.model section")
    cfg = model_config_from_dict(model_dict)
    model = build(cfg)
    load_weights(model, ckpt_dir)
    return model.to(device).eval(), meta


def lora_settings(train: TrainConfig):
    """The models' ``LoraSettings`` from the LoRA fields of ``TrainConfig``."""
    from agpt.models.lora import LoraSettings

    try:
        return LoraSettings(rank=train.lora_rank, alpha=train.lora_alpha, dropout=train.lora_dropout,
                            text_targets=tuple(train.lora_text_targets) or None,
                            visual_targets=tuple(train.lora_visual_targets), backbone=train.lora_backbone)
    except ValueError as err:
        raise AgptError(f"LoRA settings: {err}") from None


def apply_lora(model: torch.nn.Module, train: TrainConfig) -> torch.nn.Module:
    from agpt.models.lora import apply_lora as _apply

    try:
        return _apply(model, lora_settings(train))
    except ValueError as err:
        raise AgptError(f"LoRA: {err}") from None


def merged_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of a LoRA model with the adapters merged into plain weights (the original keeps training)."""
    from agpt.models.lora import merge_lora

    return merge_lora(copy.deepcopy(model).cpu())
