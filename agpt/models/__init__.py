"""Grounding models (TransVG, MDETR, MedRPG), their losses, LoRA and published-weight conversion."""

from agpt.models.build import build_criterion, build_model
from agpt.models.config import MODEL_NAMES, PRESET_NAMES, ModelConfig
from agpt.models.outputs import GroundingOutput

__all__ = ["MODEL_NAMES", "PRESET_NAMES", "GroundingOutput", "ModelConfig", "build_criterion", "build_model"]
