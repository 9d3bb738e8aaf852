"""Checkpoint directories: ``model.safetensors`` + ``config.json``, written atomically, loaded safely.

A checkpoint never executes code when loaded: tensors are safetensors, scalars JSON, and the
optimiser state (``last/`` only) is read with ``torch.load(weights_only=True)``.

Layout::

    checkpoint/  model.safetensors  config.json                 (plain, merged weights)
    last/        model.safetensors  config.json  optimizer.pt  trainer_state.json  rng.safetensors
"""

from __future__ import annotations

import functools
import json
import os
import random
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

import agpt
from agpt.errors import AgptError

FORMAT = "agpt-checkpoint-1"
MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


@functools.lru_cache(maxsize=1)
def git_sha() -> str | None:
    """The git commit of the agpt source tree, when it is a git checkout (else None)."""
    root = Path(agpt.__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def code_version() -> dict[str, Any]:
    return {"agpt": agpt.__version__, "git_sha": git_sha(), "torch": torch.__version__}


def state_dict_for_saving(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Contiguous CPU copies; tied tensors are cloned so safetensors accepts them."""
    out: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for key, value in model.state_dict().items():
        t = value.detach().to("cpu")
        ptr = t.untyped_storage().data_ptr() if t.numel() else None
        out[key] = t.clone().contiguous() if ptr in seen else t.contiguous()
        if ptr is not None:
            seen.add(ptr)
    return out


def write_atomic_dir(target: str | Path, write: Any) -> Path:
    """Call ``write(tmp_dir)`` then move ``tmp_dir`` onto ``target`` with ``os.replace``.

    A crash leaves either the old directory or the new one (plus, at worst, a stale
    ``.target.old``/``.target.tmp*`` sibling that :func:`recover_dir` cleans up), never a half-written one.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp", dir=target.parent))
    try:
        write(tmp)
        old = target.parent / f".{target.name}.old"
        if old.exists():
            shutil.rmtree(old)
        if target.exists():
            os.replace(target, old)
        os.replace(tmp, target)
        if old.exists():
            shutil.rmtree(old)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def recover_dir(target: str | Path) -> Path | None:
    """Return ``target`` if it exists; after a crash mid-swap restore ``.target.old``; else None."""
    target = Path(target)
    old = target.parent / f".{target.name}.old"
    if not target.exists() and old.exists():
        os.replace(old, target)
    return target if target.exists() else None


def save_checkpoint(target: str | Path, model: torch.nn.Module, info: dict[str, Any], extra: Any = None) -> Path:
    """Write ``model.safetensors`` + ``config.json`` (``info`` + format + code version) atomically.

    ``extra(tmp_dir)`` may add more files (the training state of ``last/``).
    """
    meta = {"format": FORMAT, **info, "code_version": code_version()}

    def write(tmp: Path) -> None:
        save_file(state_dict_for_saving(model), str(tmp / MODEL_FILE), metadata={"format": FORMAT})
        (tmp / CONFIG_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True, default=_json_default) + "\n")
        if extra is not None:
            extra(tmp)

    return write_atomic_dir(target, write)


def resolve_checkpoint_dir(path: str | Path) -> Path:
    """A checkpoint directory, or a run directory whose ``checkpoint/`` is meant."""
    path = Path(path)
    if not (path / CONFIG_FILE).exists() and (path / "checkpoint" / CONFIG_FILE).exists():
        return path / "checkpoint"
    return path


def read_checkpoint_config(ckpt_dir: str | Path) -> dict[str, Any]:
    """The ``config.json`` of a checkpoint directory; a clear error when it is not one."""
    ckpt_dir = Path(ckpt_dir)
    path = ckpt_dir / CONFIG_FILE
    if not ckpt_dir.is_dir():
        raise AgptError(f"{ckpt_dir}: checkpoint directory not found")
    if not path.is_file() or not (ckpt_dir / MODEL_FILE).is_file():
        raise AgptError(f"{ckpt_dir}: not an agpt checkpoint (needs {MODEL_FILE} and {CONFIG_FILE})")
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise AgptError(f"{path}: not valid JSON: {err}") from None
    if meta.get("format") != FORMAT:
        raise AgptError(f"{path}: unknown checkpoint format {meta.get('format')!r}; expected {FORMAT!r}")
    return meta


def load_weights(model: torch.nn.Module, ckpt_dir: str | Path) -> None:
    """Load ``model.safetensors`` into ``model``; fail loudly on missing, unexpected or mis-shaped keys."""
    path = Path(ckpt_dir) / MODEL_FILE
    try:
        state = load_file(str(path))
    except Exception as err:  # safetensors raises its own error types
        raise AgptError(f"{path}: cannot read weights: {err}") from None
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = [f"{k} {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
             for k in own if k in state and state[k].shape != own[k].shape]
    problems = []
    if wrong:
        problems.append(f"{len(wrong)} shape mismatch(es): " + "; ".join(wrong[:5]))
    if missing:
        problems.append(f"{len(missing)} missing key(s): " + ", ".join(missing[:5]))
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s): " + ", ".join(unexpected[:5]))
    if problems:
        raise AgptError(f"{path}: weights do not fit the model ({' | '.join(problems)})")
    model.load_state_dict(state, strict=True)


# --- training state (last/) --------------------------------------------------------------------


def capture_rng_state() -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(JSON-able python/numpy state, tensors of the torch CPU/CUDA generators)."""
    py = random.getstate()
    np_state = np.random.get_state()
    scalars = {
        "python": [py[0], list(py[1]), py[2]],
        "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
    }
    tensors = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"torch_cuda_{i}"] = s
    return scalars, tensors


def restore_rng_state(scalars: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
    v, state, gauss = scalars["python"]
    random.setstate((v, tuple(state), gauss))
    name, keys, pos, has_gauss, cached = scalars["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(tensors["torch_cpu"])
    cuda = [tensors[k] for k in sorted(tensors) if k.startswith("torch_cuda_")]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda[: torch.cuda.device_count()])


def training_state_writer(optimizer: torch.optim.Optimizer, scheduler: Any, state: dict[str, Any]):
    """Returns ``extra(tmp_dir)`` for :func:`save_checkpoint` writing the resumable training state."""

    def write(tmp: Path) -> None:
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        scalars, tensors = capture_rng_state()
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp / "rng.safetensors"))
        payload = {**state, "scheduler": scheduler.state_dict(), "rng": scalars}
        (tmp / "trainer_state.json").write_text(json.dumps(payload, default=_json_default) + "\n")

    return write


def load_training_state(last_dir: str | Path, optimizer: torch.optim.Optimizer, scheduler: Any) -> dict[str, Any]:
    """Restore optimiser, scheduler and RNG states from ``last/``; returns the trainer state dict."""
    last_dir = Path(last_dir)
    try:
        payload = json.loads((last_dir / "trainer_state.json").read_text())
        opt_state = torch.load(last_dir / "optimizer.pt", map_location="cpu", weights_only=True)
        rng_tensors = load_file(str(last_dir / "rng.safetensors"))
    except (OSError, json.JSONDecodeError, RuntimeError) as err:
        raise AgptError(f"{last_dir}: cannot read the training state for --resume: {err}") from None
    optimizer.load_state_dict(opt_state)
    scheduler.load_state_dict(payload.pop("scheduler"))
    restore_rng_state(payload.pop("rng"), rng_tensors)
    return payload


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, (tuple, set)):
        return list(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
