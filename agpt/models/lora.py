"""LoRA through peft: low-rank adapters on the pre-trained encoders, full training of fusion layers and heads.

This is the project's own design choice ("LoRA stabilisation of full-model training"); the AGPT
paper's code has no LoRA.  The frozen base weights never change; ``merge_lora`` folds the
adapters in and returns a plain model whose state dict loads into a non-LoRA model.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from peft import LoraConfig, inject_adapter_in_model
from peft.tuners.tuners_utils import BaseTunerLayer
from torch import Tensor, nn

from agpt.models.grounding import GroundingModel

# Attention projections of the text encoders, by transformers model_type.
TEXT_TARGETS: dict[str, tuple[str, ...]] = {
    "bert": ("query", "key", "value", "attention.output.dense"),
    "roberta": ("query", "key", "value", "attention.output.dense"),
    "distilbert": ("q_lin", "k_lin", "v_lin", "out_lin"),
}
BACKBONE_MODES: tuple[str, ...] = ("lora", "frozen", "full")


@dataclass
class LoraSettings:
    """How ``apply_lora`` adapts a grounding model."""

    rank: int = 8
    """Rank r of every adapter."""
    alpha: float = 16.0
    """LoRA scaling numerator (the update is scaled by alpha / rank)."""
    dropout: float = 0.05
    """Dropout on the adapters' input."""
    text_targets: tuple[str, ...] | None = None
    """Module-name suffixes adapted in the text encoder; None = by architecture (BERT/RoBERTa
    ``query,key,value,attention.output.dense``; DistilBERT ``q_lin,k_lin,v_lin,out_lin``)."""
    visual_targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    """Module-name suffixes adapted in the pre-trained visual transformer encoder (TransVG/MedRPG
    ``visual_encoder``; MDETR has none: its joint encoder is a fusion module and trains fully)."""
    backbone: str = "lora"
    """ResNet backbone: ``lora`` (adapters on every convolution), ``frozen`` or ``full`` (trains fully)."""

    def __post_init__(self) -> None:
        if self.rank < 1:
            raise ValueError(f"LoraSettings.rank={self.rank} must be >= 1")
        if self.alpha <= 0:
            raise ValueError(f"LoraSettings.alpha={self.alpha} must be positive")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"LoraSettings.dropout={self.dropout} must be in [0, 1)")
        if self.backbone not in BACKBONE_MODES:
            raise ValueError(f"LoraSettings.backbone={self.backbone!r} is not valid; choose one of {list(BACKBONE_MODES)}")
        if self.text_targets is not None:
            self.text_targets = tuple(self.text_targets)
        self.visual_targets = tuple(self.visual_targets)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["text_targets"] = list(self.text_targets) if self.text_targets is not None else None
        data["visual_targets"] = list(self.visual_targets)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoraSettings:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown LoraSettings field(s) {unknown}; valid fields: {sorted(names)}")
        return cls(**data)


def _encoder_prefixes(model: GroundingModel) -> dict[str, str]:
    """Which pre-trained encoder each module prefix belongs to."""
    prefixes = {"text_encoder.": "text", "visual.backbone.": "backbone"}
    if hasattr(model, "visual_encoder"):
        prefixes["visual_encoder."] = "visual"
    return prefixes


def lora_target_names(model: GroundingModel, settings: LoraSettings) -> list[str]:
    """Full names of the modules that get adapters (exact names, so fusion layers are never matched)."""
    text_targets = settings.text_targets
    if text_targets is None:
        model_type = model.text_encoder.model_type
        if model_type not in TEXT_TARGETS:
            raise ValueError(f"no default LoRA targets for text encoder type {model_type!r}; known: "
                             f"{sorted(TEXT_TARGETS)}; set LoraSettings.text_targets")
        text_targets = TEXT_TARGETS[model_type]
    def matches(name: str, suffixes: tuple[str, ...]) -> bool:
        return any(name == t or name.endswith("." + t) for t in suffixes)

    names = []
    for name, module in model.named_modules():
        is_linear, is_conv = isinstance(module, nn.Linear), isinstance(module, nn.Conv2d)
        text = name.startswith("text_encoder.") and is_linear and matches(name, text_targets)
        visual = name.startswith("visual_encoder.") and is_linear and matches(name, settings.visual_targets)
        backbone = settings.backbone == "lora" and name.startswith("visual.backbone.") and is_conv
        if text or visual or backbone:
            names.append(name)
    if not any(n.startswith("text_encoder.") for n in names):
        raise ValueError(f"LoRA text targets {list(text_targets)} match no layer of the text encoder")
    return names


def apply_lora(model: GroundingModel, settings: LoraSettings) -> GroundingModel:
    """Put LoRA adapters on the pre-trained encoders of ``model`` (in place) and return it.

    Trainable afterwards: the adapters; everything outside the encoders (fusion / joint encoder
    and decoder, [REG], queries, position tables, projections, heads) fully; the backbone fully
    when ``settings.backbone == "full"``.  The encoders' base weights are frozen.
    (BatchNorm running statistics of the backbone still update in ``train()`` mode.)
    """
    if getattr(model, "lora_settings", None) is not None:
        raise ValueError("apply_lora: the model already has LoRA adapters")
    targets = lora_target_names(model, settings)
    frozen_before = {name for name, p in model.named_parameters() if not p.requires_grad}
    config = LoraConfig(r=settings.rank, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                        target_modules=targets, bias="none")
    model = inject_adapter_in_model(config, model)
    prefixes = _encoder_prefixes(model)
    for name, p in model.named_parameters():
        if "lora_" in name:
            p.requires_grad_(True)
            continue
        base_name = name.replace(".base_layer.", ".")
        owner = next((kind for prefix, kind in prefixes.items() if name.startswith(prefix)), None)
        if owner is None:
            p.requires_grad_(base_name not in frozen_before)
        elif owner == "backbone" and settings.backbone == "full":
            p.requires_grad_(True)
        else:
            p.requires_grad_(False)
    model.lora_settings = settings
    return model


def lora_state_dict(model: nn.Module) -> dict[str, Tensor]:
    """Only the adapter weights (``lora_A``/``lora_B``) of a LoRA model, for saving adapters separately."""
    return {k: v for k, v in model.state_dict().items() if "lora_" in k}


def merge_lora(model: GroundingModel) -> GroundingModel:
    """Fold every adapter into its base layer and remove the peft wrappers (in place); returns the model.

    The result has exactly the parameter names of a model built without LoRA, so its state
    dict loads into ``build_model(cfg)`` with ``strict=True``.
    """
    wrapped = [(name, module) for name, module in model.named_modules() if isinstance(module, BaseTunerLayer)]
    for name, module in wrapped:
        module.merge()
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, module.get_base_layer())
    model.lora_settings = None
    return model
