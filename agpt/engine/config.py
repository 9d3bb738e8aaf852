"""Training configuration: ``TrainConfig``, ``RunConfig``, per-preset defaults and ``--config`` YAML."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agpt.errors import AgptError

SCHEDULES = ("step", "warmup_linear", "constant")
FINETUNE_MODES = ("full", "lora")
SYNONYM_STRATEGIES = ("none", "uniform", "frequency")
SETTINGS = ("pretrain", "finetune")
DEVICES = ("auto", "cpu", "cuda")
LORA_BACKBONE_MODES = ("lora", "frozen", "full")


@dataclass
class TrainConfig:
    """Everything about one training run except the model architecture.

    Batches: fine-tuning batches hold ``batch_size`` phrases (each with its own, augmented
    image); pre-training batches hold ``images_per_batch`` images, each grounding
    ``anatomies_per_image`` anatomy phrases (0 = all 29, as the AGPT authors do).
    """

    epochs: int = 10  # full passes over the training set
    batch_size: int = 8  # phrases per fine-tuning batch (and per evaluation batch x4)
    images_per_batch: int = 4  # images per pre-training batch
    anatomies_per_image: int = 0  # anatomy phrases per pre-training image; 0 = all of them
    lr: float = 1e-4  # fusion layers and heads
    lr_text: float = 1e-5  # text encoder (0 freezes it)
    lr_visual: float = 1e-5  # image backbone and visual encoder (0 freezes them)
    weight_decay: float = 1e-4  # AdamW
    schedule: str = "step"  # step (StepLR) | warmup_linear | constant
    lr_drop_epoch: int = 0  # step: epoch at which lr *= lr_drop_factor; 0 = at 2/3 of the epochs
    lr_drop_factor: float = 0.1  # step: multiplicative drop
    warmup_fraction: float = 0.01  # warmup_linear: fraction of all steps spent warming up
    clip_max_norm: float = 0.0  # gradient clipping by global norm; 0 = off
    finetune_mode: str = "full"  # full | lora (adapters on the pre-trained encoders)
    lora_rank: int = 8
    lora_alpha: float = 16.0
    lora_dropout: float = 0.05
    lora_text_targets: tuple[str, ...] = ()  # text-encoder module suffixes; () = by architecture
    lora_visual_targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")  # visual encoder
    lora_backbone: str = "lora"  # ResNet: lora (adapters on convolutions) | frozen | full
    train_fraction: float = 1.0  # category-stratified subset of the MS-CXR train split
    synonyms: str = "bundled"  # synonym table: bundled | none | path to a table file
    synonym_strategy: str = "uniform"  # none | uniform | frequency
    synonym_k: int = 5  # uniform: draw from the first k synonyms
    augment: bool = True  # intensity (brightness/contrast/gamma) + Gaussian noise (never a flip)
    augment_geometric: bool = True  # also scale/translate/small affine (AGPT pre-training: off)
    seed: int = 0
    num_workers: int = 0  # DataLoader workers (0 = load in the main process)
    device: str = "auto"  # auto | cpu | cuda
    amp: bool = True  # bf16 autocast + TF32 on CUDA (ignored on CPU: fp32)
    eval_batch_size: int = 32  # phrases per batch at validation/evaluation
    max_steps_per_epoch: int = 0  # cap on optimiser steps per epoch (benchmarks, smoke runs); 0 = no cap

    def __post_init__(self) -> None:
        self.lora_text_targets = tuple(self.lora_text_targets)
        self.lora_visual_targets = tuple(self.lora_visual_targets)
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming any bad value (and the valid ones)."""
        _choice("schedule", self.schedule, SCHEDULES)
        _choice("finetune_mode", self.finetune_mode, FINETUNE_MODES)
        _choice("synonym_strategy", self.synonym_strategy, SYNONYM_STRATEGIES)
        _choice("device", self.device, DEVICES)
        _choice("lora_backbone", self.lora_backbone, LORA_BACKBONE_MODES)
        for name in ("epochs", "batch_size", "images_per_batch", "eval_batch_size", "lora_rank", "synonym_k"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"train.{name} must be >= 1, got {getattr(self, name)!r}")
        for name in ("anatomies_per_image", "lr_drop_epoch", "num_workers", "max_steps_per_epoch"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"train.{name} must be >= 0, got {getattr(self, name)!r}")
        for name in ("lr", "lr_text", "lr_visual", "weight_decay", "clip_max_norm", "lora_alpha"):
            if float(getattr(self, name)) < 0:
                raise ValueError(f"train.{name} must be >= 0, got {getattr(self, name)!r}")
        if not 0.0 < self.train_fraction <= 1.0:
            raise ValueError(f"train.train_fraction must be in (0, 1], got {self.train_fraction!r}")
        if not 0.0 <= self.warmup_fraction < 1.0:
            raise ValueError(f"train.warmup_fraction must be in [0, 1), got {self.warmup_fraction!r}")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise ValueError(f"train.lora_dropout must be in [0, 1), got {self.lora_dropout!r}")

    @property
    def drop_epoch(self) -> int:
        """The StepLR drop epoch actually used (60 of 90 in the papers, i.e. 2/3)."""
        return self.lr_drop_epoch or max(1, (2 * self.epochs) // 3)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["lora_text_targets"] = list(self.lora_text_targets)
        d["lora_visual_targets"] = list(self.lora_visual_targets)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        check_keys("train", d, cls)
        return cls(**d)


# Defaults per (preset, setting), applied under the YAML/CLI values. The small numbers are
# sized with benchmarks/bench_training.py so the CPU grid fits in ~20 minutes (docs/engine.md).
PRESET_TRAIN_DEFAULTS: dict[tuple[str, str], dict[str, Any]] = {
    ("tiny", "pretrain"): {"epochs": 2, "images_per_batch": 2, "augment_geometric": False},
    ("tiny", "finetune"): {"epochs": 2, "batch_size": 4},
    ("small", "pretrain"): {"epochs": 2, "images_per_batch": 8, "augment_geometric": False},
    ("small", "finetune"): {"epochs": 3, "batch_size": 8},
    ("paper", "pretrain"): {"epochs": 40, "images_per_batch": 8, "lr": 1e-4, "lr_text": 1e-5, "lr_visual": 1e-5,
                            "augment_geometric": False},
    ("paper", "finetune"): {"epochs": 90, "batch_size": 8, "lr": 5e-5, "lr_text": 1e-5, "lr_visual": 1e-5},
}


def preset_train_defaults(preset: str, setting: str) -> dict[str, Any]:
    """The TrainConfig values a preset uses unless the YAML or the command line says otherwise."""
    _choice("setting", setting, SETTINGS)
    return dict(PRESET_TRAIN_DEFAULTS.get((preset, setting), {}))


@dataclass
class RunConfig:
    """The effective configuration of one run, stored in every checkpoint's ``config.json``.

    ``model`` is ``ModelConfig.to_dict()`` (kept as a plain dict so this module does not
    depend on the model code); ``init`` is the initial checkpoint directory or ``none``.
    """

    setting: str
    model: dict[str, Any]
    train: TrainConfig
    data_manifest_hash: str = ""
    init: str = "none"
    init_manifest_hash: str = ""  # data-manifest hash of the init checkpoint (provenance)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _choice("setting", self.setting, SETTINGS)

    @property
    def model_name(self) -> str:
        return str(self.model.get("name", ""))

    def to_dict(self) -> dict[str, Any]:
        return {
            "setting": self.setting,
            "model": dict(self.model),
            "train": self.train.to_dict(),
            "data_manifest_hash": self.data_manifest_hash,
            "init": self.init,
            "init_manifest_hash": self.init_manifest_hash,
            "extra": dict(self.extra),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        check_keys("run", d, cls)
        d = dict(d)
        d["train"] = TrainConfig.from_dict(d["train"])
        return cls(**d)


def check_keys(section: str, d: dict[str, Any], cls: type) -> None:
    """Raise ``AgptError`` for keys of ``d`` that are not fields of dataclass ``cls``."""
    if not isinstance(d, dict):
        raise AgptError(f"{section}: expected a mapping, got {type(d).__name__}")
    valid = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(d) - set(valid))
    if unknown:
        raise AgptError(f"{section}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(valid)}")


def load_config_sections(path: str | Path | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read a ``--config`` YAML file -> ``(model_overrides, train_overrides)``.

    The file is a mapping with optional sections ``model:`` and ``train:``; anything else is
    an error. Train keys are checked here; model keys are checked by the model builder.
    """
    if path is None:
        return {}, {}
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise AgptError(f"{path}: config file not found") from None
    except yaml.YAMLError as err:
        raise AgptError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise AgptError(f"{path}: expected a mapping with sections model:/train:, got {type(data).__name__}")
    unknown = sorted(set(data) - {"model", "train"})
    if unknown:
        raise AgptError(f"{path}: unknown section(s) {', '.join(map(str, unknown))}; valid sections: model, train")
    model, train = data.get("model") or {}, data.get("train") or {}
    for name, section in (("model", model), ("train", train)):
        if not isinstance(section, dict):
            raise AgptError(f"{path}: section {name}: must be a mapping")
    check_keys(f"{path}: train", train, TrainConfig)
    return dict(model), dict(train)


def build_train_config(preset: str, setting: str, yaml_train: dict[str, Any], cli: dict[str, Any]) -> TrainConfig:
    """Preset defaults < YAML ``train:`` section < command-line flags (``None`` = not given)."""
    values = preset_train_defaults(preset, setting)
    values.update(yaml_train)
    values.update({k: v for k, v in cli.items() if v is not None})
    check_keys("train", values, TrainConfig)
    try:
        return TrainConfig(**values)
    except (TypeError, ValueError) as err:
        raise AgptError(f"invalid training configuration: {err}") from None


def _choice(name: str, value: str, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise ValueError(f"unknown {name} {value!r}; valid: {', '.join(valid)}")
