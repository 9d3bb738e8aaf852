"""Device choice, deterministic seeding, autocast and the progress bar."""

from __future__ import annotations

import contextlib
import dataclasses
import random
import sys

import numpy as np
import torch

from agpt.errors import AgptError


def choose_device(name: str = "auto") -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise AgptError("--device cuda: no CUDA device is available (use --device auto or cpu)")
    if name not in ("cpu", "cuda"):
        raise AgptError(f"unknown device {name!r}; valid: auto, cpu, cuda")
    return torch.device(name)


def configure_device(device: torch.device, amp: bool) -> None:
    """TF32 matmuls/convolutions on CUDA when mixed precision is on (no effect on CPU)."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = bool(amp)
        torch.backends.cudnn.allow_tf32 = bool(amp)
        torch.backends.cudnn.benchmark = False  # keep convolution algorithms reproducible


def autocast(device: torch.device, amp: bool):
    """bf16 autocast on CUDA when ``amp``; fp32 (a no-op context) on CPU."""
    if amp and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def to_float32(obj):
    """Recursively cast bf16/fp16 tensors in model outputs (dataclasses, dicts, lists) to fp32.

    The forward pass runs under autocast; the losses (L1, GIoU, Hungarian costs) run in fp32.
    """
    if isinstance(obj, torch.Tensor):
        return obj.float() if obj.is_floating_point() and obj.dtype != torch.float32 else obj
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.replace(obj, **{f.name: to_float32(getattr(obj, f.name))
                                           for f in dataclasses.fields(obj) if f.init})
    if isinstance(obj, dict):
        return {k: to_float32(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)) and not (isinstance(obj, tuple) and hasattr(obj, "_fields")):
        return type(obj)(to_float32(v) for v in obj)
    return obj


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: derive python/numpy seeds from the worker's torch seed.

    Our datasets draw their randomness from explicit per-item generators, so this only guards
    third-party code that touches the global generators.
    """
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def progress_bar(total: int, desc: str, enabled: bool):
    """tqdm on stderr, only when asked for and stderr is a terminal."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, file=sys.stderr, disable=not (enabled and sys.stderr.isatty()),
                leave=False)
