"""The training loop: AdamW groups, schedules, clipping, autocast, checkpoints, resume, selection.

Run directory::

    RUN/checkpoint/     the selected model (best validation mIoU), plain merged weights
    RUN/last/           the latest epoch + optimiser/scheduler/RNG state, for --resume
    RUN/train_log.jsonl one JSON line per epoch
    RUN/done.json       written when training has finished

Resume granularity is the epoch: a run killed mid-epoch restarts that epoch from the state
saved at the end of the previous one, and then follows the uninterrupted run exactly
(the data order and augmentation are functions of (seed, epoch, index)).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from agpt.engine.checkpoint import (
    load_training_state, load_weights, recover_dir, save_checkpoint, training_state_writer,
)
from agpt.engine.config import RunConfig, TrainConfig
from agpt.engine.datasets import collate
from agpt.engine.evaluation import move_text
from agpt.engine.runtime import autocast, configure_device, progress_bar, seed_everything, seed_worker, to_float32
from agpt.errors import AgptError


class LrFactor:
    """Multiplier of the base learning rates at optimiser step ``s`` (a picklable, JSON-able callable).

    ``step``: x ``drop_factor`` from epoch ``drop_epoch`` on (StepLR, no warm-up);
    ``warmup_linear``: linear warm-up over ``warmup_steps``, then linear decay to 0 at ``total_steps``;
    ``constant``: 1.
    """

    def __init__(self, schedule: str, steps_per_epoch: int, total_steps: int, drop_epoch: int,
                 drop_factor: float, warmup_steps: int):
        self.schedule = schedule
        self.steps_per_epoch = steps_per_epoch
        self.total_steps = total_steps
        self.drop_epoch = drop_epoch
        self.drop_factor = drop_factor
        self.warmup_steps = warmup_steps

    def __call__(self, step: int) -> float:
        if self.schedule == "step":
            return self.drop_factor if step >= self.drop_epoch * self.steps_per_epoch else 1.0
        if self.schedule == "warmup_linear":
            if step < self.warmup_steps:
                return (step + 1) / self.warmup_steps
            span = max(1, self.total_steps - self.warmup_steps)
            return max(0.0, (self.total_steps - step) / span)
        return 1.0


def build_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW over ``model.param_groups(lr, lr_text, lr_visual)``, keeping only trainable tensors."""
    groups = []
    for group in model.param_groups(cfg.lr, cfg.lr_text, cfg.lr_visual):
        params = [p for p in group["params"] if p.requires_grad]
        if params:
            groups.append({**group, "params": params})
    if not groups:
        raise AgptError("nothing to train: every parameter is frozen")
    return torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)


def build_scheduler(optimizer, cfg: TrainConfig, steps_per_epoch: int) -> torch.optim.lr_scheduler.LambdaLR:
    total = cfg.epochs * steps_per_epoch
    factor = LrFactor(cfg.schedule, steps_per_epoch, total, cfg.drop_epoch, cfg.lr_drop_factor,
                      max(1, int(math.ceil(cfg.warmup_fraction * total))))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def train_step(model, criterion, optimizer, batch: dict, device: torch.device, amp: bool,
               clip_max_norm: float = 0.0) -> torch.Tensor:
    """One optimiser step on a collated batch; returns the (detached) loss.

    Forward under bf16 autocast on CUDA (fp32 on CPU); the loss is computed in fp32.
    A non-finite loss skips the update (the caller decides whether to stop).
    """
    text = move_text(model.tokenize(batch["phrases"]), device)
    images = batch["images"].to(device, non_blocking=True)
    targets = batch["boxes"].to(device, non_blocking=True).float()
    with autocast(device, amp):
        out = model(images, text, batch["image_index"].to(device))
    loss = criterion(to_float32(out) if device.type == "cuda" else out, targets, text)["loss"]
    optimizer.zero_grad(set_to_none=True)
    if not torch.isfinite(loss):
        return loss.detach()
    loss.backward()
    if clip_max_norm > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip_max_norm)
    optimizer.step()
    return loss.detach()


@dataclass
class TrainResult:
    best_epoch: int
    best_val_miou: float
    epochs_run: int
    seconds: float


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


class Trainer:
    """Trains ``model`` on ``train_set`` and selects the epoch with the best ``validate(model)['miou']``.

    ``validate(model) -> {"miou": float, "acc@0.5": float}``. ``save_model(model)`` returns the
    module whose weights go into ``checkpoint/`` (the LoRA-merged copy in LoRA mode).
    ``on_epoch_end(epoch)`` is a test hook, called after the epoch's checkpoints are written.
    """

    def __init__(self, run: RunConfig, model: torch.nn.Module, criterion: torch.nn.Module, train_set,
                 validate: Callable[[torch.nn.Module], dict], out_dir: str | Path, device: torch.device,
                 batch_size: int, save_model: Callable[[torch.nn.Module], torch.nn.Module] | None = None,
                 progress: bool = True, on_epoch_end: Callable[[int], None] | None = None):
        self.run = run
        self.cfg = run.train
        self.model = model
        self.criterion = criterion
        self.train_set = train_set
        self.validate = validate
        self.out = Path(out_dir)
        self.device = device
        self.batch_size = batch_size
        self.save_model = save_model or (lambda m: m)
        self.progress = progress
        self.on_epoch_end = on_epoch_end
        self.n_parameters = count_parameters(model)

    # --- setup -------------------------------------------------------------------------------

    def steps_per_epoch(self) -> int:
        n = math.ceil(len(self.train_set) / self.batch_size)
        if self.cfg.max_steps_per_epoch:
            n = min(n, self.cfg.max_steps_per_epoch)
        if n < 1:
            raise AgptError("the training set is empty")
        return n

    def loader(self, epoch: int) -> DataLoader:
        self.train_set.set_epoch(epoch)
        g = torch.Generator().manual_seed(self.cfg.seed * 100_003 + epoch)
        order = torch.randperm(len(self.train_set), generator=g).tolist()
        return DataLoader(
            self.train_set, batch_size=self.batch_size, sampler=order, collate_fn=collate,
            num_workers=self.cfg.num_workers, worker_init_fn=seed_worker, generator=g,
            pin_memory=self.device.type == "cuda", persistent_workers=False,
        )

    def info(self, epoch: int, metrics: dict[str, Any]) -> dict[str, Any]:
        return {"run": self.run.to_dict(), "seed": self.cfg.seed, "data_manifest_hash": self.run.data_manifest_hash,
                "epoch": epoch, "metrics": metrics, "n_parameters": self.n_parameters}

    # --- the loop ----------------------------------------------------------------------------

    def fit(self, resume: bool = False) -> TrainResult:
        cfg, out = self.cfg, self.out
        if (out / "done.json").exists() and resume:
            done = json.loads((out / "done.json").read_text())
            return TrainResult(done["best_epoch"], done["best_val_miou"], 0, 0.0)
        last = recover_dir(out / "last")
        recover_dir(out / "checkpoint")
        if last is not None and not resume:
            raise AgptError(f"{out}: holds a previous run (last/); pass --resume to continue it or choose a new --out")
        out.mkdir(parents=True, exist_ok=True)
        seed_everything(cfg.seed)
        configure_device(self.device, cfg.amp)
        self.model.to(self.device)
        optimizer = build_optimizer(self.model, cfg)
        steps = self.steps_per_epoch()
        scheduler = build_scheduler(optimizer, cfg, steps)
        start_epoch, best_miou, best_epoch = 0, -math.inf, -1
        if resume and last is not None:
            self._check_resumable(last)
            load_weights(self.model, last)
            self.model.to(self.device)
            state = load_training_state(last, optimizer, scheduler)
            start_epoch, best_miou, best_epoch = state["epoch"] + 1, state["best_val_miou"], state["best_epoch"]
            self._truncate_log(start_epoch)
        started = time.time()
        for epoch in range(start_epoch, cfg.epochs):
            t0 = time.time()
            lr = optimizer.param_groups[0]["lr"]  # the main group's rate at the start of this epoch
            train_loss, n_items = self._train_epoch(epoch, optimizer, scheduler, steps)
            val = self.validate(self.model)
            seconds = time.time() - t0
            miou = float(val.get("miou", float("nan")))
            record = {
                "epoch": epoch, "train_loss": train_loss, "val_miou": miou, "val_acc@0.5": float(val.get("acc@0.5")),
                "lr": lr, "seconds": round(seconds, 3),
                "n_parameters": self.n_parameters, "train_items": n_items,
                "items_per_second": round(n_items / seconds, 3) if seconds > 0 else None,
            }
            if not math.isnan(miou) and miou > best_miou:
                best_miou, best_epoch = miou, epoch
                save_checkpoint(out / "checkpoint", self.save_model(self.model), self.info(epoch, record))
            state = {"epoch": epoch, "best_val_miou": best_miou, "best_epoch": best_epoch}
            save_checkpoint(out / "last", self.model, self.info(epoch, record),
                            extra=training_state_writer(optimizer, scheduler, state))
            with open(out / "train_log.jsonl", "a") as f:
                f.write(json.dumps(record) + "\n")
            if self.on_epoch_end is not None:
                self.on_epoch_end(epoch)
        if best_epoch < 0:  # validation never produced a number (empty val split): keep the last epoch
            raise AgptError("validation produced no mIoU (is the validation split empty?)")
        result = TrainResult(best_epoch, best_miou, cfg.epochs - start_epoch, time.time() - started)
        (out / "done.json").write_text(json.dumps({
            "best_epoch": best_epoch, "best_val_miou": best_miou, "epochs": cfg.epochs,
            "seconds_this_invocation": round(result.seconds, 3),
        }) + "\n")
        return result

    def _train_epoch(self, epoch: int, optimizer, scheduler, steps: int) -> tuple[float, int]:
        self.model.train()
        cfg, device = self.cfg, self.device
        total, count, n_items = 0.0, 0, 0
        bar = progress_bar(steps, f"epoch {epoch + 1}/{cfg.epochs}", self.progress)
        t0 = time.time()
        try:
            for i, batch in enumerate(self.loader(epoch)):
                if i >= steps:
                    break
                if hasattr(self.criterion, "set_progress"):  # fraction of training done (TaCo ramp)
                    self.criterion.set_progress((epoch * steps + i) / (cfg.epochs * steps))
                loss = train_step(self.model, self.criterion, optimizer, batch, device, cfg.amp, cfg.clip_max_norm)
                if not torch.isfinite(loss):
                    raise AgptError(f"epoch {epoch}, step {i}: the loss is not finite ({loss.item()})")
                scheduler.step()
                total += float(loss.detach())
                count += 1
                n_items += len(batch["phrases"])
                bar.update(1)
                bar.set_postfix(loss=f"{total / count:.4f}", phrases_per_s=f"{n_items / (time.time() - t0):.1f}")
        finally:
            bar.close()
        return total / max(count, 1), n_items

    # --- resume helpers ----------------------------------------------------------------------

    def _check_resumable(self, last: Path) -> None:
        meta = json.loads((last / "config.json").read_text())
        saved, now = meta.get("run", {}), self.run.to_dict()
        # Where and how fast it runs may change between invocations; what it computes may not.
        runtime_only = ("device", "num_workers", "eval_batch_size")
        for d in (saved, now):
            d["train"] = {k: v for k, v in (d.get("train") or {}).items() if k not in runtime_only}
        for key in ("setting", "model", "train", "data_manifest_hash", "init"):
            if saved.get(key) != now.get(key):
                raise AgptError(
                    f"{last}: --resume with a different configuration ({key} differs: "
                    f"saved {json.dumps(saved.get(key), sort_keys=True)[:300]} vs now "
                    f"{json.dumps(now.get(key), sort_keys=True)[:300]}); use a new --out"
                )

    def _truncate_log(self, start_epoch: int) -> None:
        """Drop log lines of epochs after the resumed checkpoint (written before a crash)."""
        path = self.out / "train_log.jsonl"
        if not path.exists():
            return
        keep = [line for line in path.read_text().splitlines() if line.strip()
                and json.loads(line)["epoch"] < start_epoch]
        path.write_text("".join(line + "\n" for line in keep))
