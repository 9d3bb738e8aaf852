"""Building models from configs and from checkpoints; LoRA on and merged off."""

from __future__ import annotations

import copy
import dataclasses
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
    """The models' ``LoraSettings`` from the LoRA fields of ``TrainConfig`` (empty targets = default)."""
    from agpt.models.lora import LoraSettings

    names = {f.name for f in dataclasses.fields(LoraSettings)}
    values = {"rank": train.lora_rank, "r": train.lora_rank, "alpha": train.lora_alpha,
              "lora_alpha": train.lora_alpha, "dropout": train.lora_dropout, "lora_dropout": train.lora_dropout}
    if train.lora_targets:
        values["targets"] = tuple(train.lora_targets)
        values["target_modules"] = tuple(train.lora_targets)
    return LoraSettings(**{k: v for k, v in values.items() if k in names})


def apply_lora(model: torch.nn.Module, train: TrainConfig) -> torch.nn.Module:
    from agpt.models.lora import apply_lora as _apply

    result = _apply(model, lora_settings(train))
    return model if result is None else result


def merged_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of a LoRA model with the adapters merged into plain weights (the original keeps training)."""
    from agpt.models.lora import merge_lora

    clone = copy.deepcopy(model).cpu()
    result = merge_lora(clone)
    return clone if result is None else result
