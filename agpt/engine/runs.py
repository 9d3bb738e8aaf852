"""Setting up and running ``agpt pretrain`` / ``agpt finetune`` from command-line arguments."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from agpt.engine import loading
from agpt.engine.config import RunConfig, TrainConfig, build_train_config, load_config_sections
from agpt.engine.datasets import AnatomyDataset, PhraseDataset, stratified_subset
from agpt.engine.evaluation import predict
from agpt.engine.runtime import choose_device, seed_everything
from agpt.engine.trainer import Trainer
from agpt.engine.transforms import Augment, AugmentConfig
from agpt.errors import AgptError


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags shared by ``pretrain`` and ``finetune`` (see docs/architecture.md, Engine)."""
    parser.add_argument("--model", required=True, help="transvg | mdetr | medrpg")
    parser.add_argument("--preset", required=True, help="tiny | small | paper")
    parser.add_argument("--prepared", required=True, type=Path, help="prepared directory (agpt data prepare)")
    parser.add_argument("--cache", required=True, type=Path, help="image cache (agpt data cache)")
    parser.add_argument("--out", required=True, type=Path, help="run directory")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None, dest="batch_size")
    parser.add_argument("--config", type=Path, default=None, help="YAML with optional sections model: and train:")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last/ state")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None)
    parser.add_argument("--num-workers", type=int, default=None, dest="num_workers")
    parser.add_argument("--max-steps-per-epoch", type=int, default=None, dest="max_steps_per_epoch",
                        help="cap on optimiser steps per epoch (smoke runs, benchmarks)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (it is off anyway without a TTY)")


def _prepared_hash(prepared: Path) -> str:
    from agpt.data.prepared import read_manifest

    return str(read_manifest(prepared).get("hash", ""))


def open_cache(cache_dir: Path, model_cfg: Any):
    from agpt.data.cache import ImageCache

    if not Path(cache_dir).is_dir():
        raise AgptError(f"{cache_dir}: cache directory not found (build it with agpt data cache)")
    # Opening checks the cache is complete and not stale, and its canvas size fits the model.
    return ImageCache.open(cache_dir, size=loading.canvas_size(model_cfg) if model_cfg is not None else None)


def _train_overrides(args: argparse.Namespace, setting: str) -> dict[str, Any]:
    cli = {"seed": args.seed, "epochs": args.epochs, "device": args.device, "num_workers": args.num_workers,
           "max_steps_per_epoch": args.max_steps_per_epoch}
    # --batch-size counts images when pre-training (each brings its anatomy phrases), phrases when fine-tuning.
    cli["images_per_batch" if setting == "pretrain" else "batch_size"] = args.batch_size
    if setting == "pretrain":
        cli.update({"synonyms": args.synonyms, "synonym_strategy": args.synonym_strategy, "synonym_k": args.synonym_k})
    else:
        cli.update({"finetune_mode": args.mode, "train_fraction": args.train_fraction})
    return cli


def _augment(train: TrainConfig) -> Augment | None:
    return Augment(AugmentConfig(geometric=train.augment_geometric)) if train.augment else None


def synonym_sampler(train: TrainConfig):
    """The ``SynonymSampler`` for pre-training, or None for canonical anatomy names."""
    if train.synonyms == "none" or train.synonym_strategy == "none":
        return None
    from agpt.synonyms import SynonymSampler, load_synonym_table

    table_path = None if train.synonyms == "bundled" else train.synonyms
    if table_path is not None and not Path(table_path).is_file():
        raise AgptError(f"{table_path}: synonym table not found")
    try:
        table = load_synonym_table(table_path)
        return SynonymSampler(table, strategy=train.synonym_strategy, k=train.synonym_k, seed=train.seed)
    except ValueError as err:
        raise AgptError(f"synonyms: {err}") from None


def _validator(dataset, cache, device, train: TrainConfig, phrases_per_item: int):
    batch = max(1, train.eval_batch_size // max(1, phrases_per_item))

    def validate(model) -> dict:
        return predict(model, dataset, cache, device, batch_size=batch, amp=train.amp).summary()

    return validate


def warn(message: str) -> None:
    print(f"agpt: warning: {message}", file=sys.stderr)


def warn_patient_overlap(prepared: Path, images) -> None:
    """Warn when pre-training images share patients with the MS-CXR test split (a leak, unless intended)."""
    from agpt.data.prepared import read_prepared_mscxr

    test_subjects = {s.subject_id for s in read_prepared_mscxr(prepared, "test") if s.subject_id}
    shared = {im.subject_id for im in images if im.subject_id in test_subjects}
    if shared:
        warn(f"{len(shared)} pre-training patient(s) also appear in {prepared}/mscxr_test.csv "
             "(was it prepared with --leakage-guard none?)")


def _report(out: Path, result, setting: str) -> int:
    print(json.dumps({"setting": setting, "out": str(out), "best_epoch": result.best_epoch,
                      "best_val_miou": result.best_val_miou, "checkpoint": str(out / "checkpoint")}))
    return 0


def run_pretrain(args: argparse.Namespace, on_epoch_end=None) -> int:
    """``agpt pretrain``: AGPT on anatomy phrase-box pairs, selected on anatomy val mIoU."""
    from agpt.data.prepared import read_prepared_anatomy
    from agpt.models import build_criterion

    model_yaml, train_yaml = load_config_sections(args.config)
    train = build_train_config(args.preset, "pretrain", train_yaml, _train_overrides(args, "pretrain"))
    model_cfg = loading.model_config(args.model, args.preset, model_yaml)
    cache = open_cache(args.cache, model_cfg)
    device = choose_device(train.device)
    train_images = read_prepared_anatomy(args.prepared, "train")
    val_images = read_prepared_anatomy(args.prepared, "val")
    if not train_images:
        raise AgptError(f"{args.prepared}: anatomy_train.csv has no images")
    if not val_images:
        raise AgptError(f"{args.prepared}: anatomy_val.csv has no images (needed for model selection)")
    warn_patient_overlap(args.prepared, train_images + val_images)
    train_set = AnatomyDataset(train_images, cache, synonym_sampler(train), train.anatomies_per_image,
                               _augment(train), train.seed)
    val_set = AnatomyDataset(val_images, cache, None, 0, None, train.seed)
    run = RunConfig("pretrain", model_cfg.to_dict(), train, _prepared_hash(args.prepared),
                    extra={"canvas_size": int(cache.size), "preset": args.preset,
                           "n_train_images": len(train_set), "n_val_images": len(val_set)})
    seed_everything(train.seed)  # the model's initialisation depends on the seed too
    model = loading.build(model_cfg)
    trainer = Trainer(run, model, build_criterion(model_cfg), train_set,
                      _validator(val_set, cache, device, train, 29), args.out, device,
                      batch_size=train.images_per_batch, progress=not args.no_progress, on_epoch_end=on_epoch_end)
    return _report(args.out, trainer.fit(resume=args.resume), "pretrain")


def initial_model_config(args: argparse.Namespace, model_yaml: dict[str, Any]):
    """ModelConfig for fine-tuning: the preset's, or the init checkpoint's (same model name required)."""
    if str(args.init) == "none":
        return loading.model_config(args.model, args.preset, model_yaml), None
    from agpt.engine.checkpoint import read_checkpoint_config, resolve_checkpoint_dir

    init_dir = resolve_checkpoint_dir(args.init)
    meta = read_checkpoint_config(init_dir)
    saved = dict((meta.get("run") or {}).get("model") or {})
    if saved.get("name") != args.model:
        raise AgptError(f"--init {init_dir}: checkpoint is a {saved.get('name')!r} model but --model is {args.model!r}")
    saved_preset = (meta.get("run") or {}).get("extra", {}).get("preset")
    if saved_preset not in (None, args.preset):
        raise AgptError(f"--init {init_dir}: checkpoint has preset {saved_preset!r} but --preset is {args.preset!r}")
    saved.update(model_yaml)
    return loading.model_config_from_dict(saved), (init_dir, meta)


def run_finetune(args: argparse.Namespace, on_epoch_end=None) -> int:
    """``agpt finetune``: MS-CXR train split (optionally a stratified fraction), selected on val mIoU."""
    from agpt.data.prepared import read_prepared_mscxr
    from agpt.engine.checkpoint import load_weights
    from agpt.models import build_criterion

    model_yaml, train_yaml = load_config_sections(args.config)
    train = build_train_config(args.preset, "finetune", train_yaml, _train_overrides(args, "finetune"))
    model_cfg, init = initial_model_config(args, model_yaml)
    cache = open_cache(args.cache, model_cfg)
    device = choose_device(train.device)
    train_samples = stratified_subset(read_prepared_mscxr(args.prepared, "train"), train.train_fraction, train.seed)
    val_samples = read_prepared_mscxr(args.prepared, "val")
    if not train_samples:
        raise AgptError(f"{args.prepared}: mscxr_train.csv has no phrases")
    if not val_samples:
        raise AgptError(f"{args.prepared}: mscxr_val.csv has no phrases (needed for model selection)")
    train_set = PhraseDataset(train_samples, cache, _augment(train), train.seed)
    val_set = PhraseDataset(val_samples, cache, None, train.seed)
    seed_everything(train.seed)  # the model's initialisation depends on the seed too
    model = loading.build(model_cfg)
    init_hash = ""
    if init is not None:
        load_weights(model, init[0])
        init_hash = str(init[1].get("data_manifest_hash", ""))
        if init_hash and init_hash != _prepared_hash(args.prepared):
            warn(f"--init {init[0]} was trained on another prepared directory (manifest {init_hash[:12]}); "
                 "make sure its pre-training data excluded this MS-CXR split's patients")
    save_model = None
    if train.finetune_mode == "lora":
        model = loading.apply_lora(model, train)
        save_model = loading.merged_copy
    run = RunConfig("finetune", model_cfg.to_dict(), train, _prepared_hash(args.prepared),
                    init=str(init[0]) if init else "none", init_manifest_hash=init_hash,
                    extra={"canvas_size": int(cache.size), "preset": args.preset,
                           "n_train_phrases": len(train_set), "n_val_phrases": len(val_set)})
    trainer = Trainer(run, model, build_criterion(model_cfg), train_set,
                      _validator(val_set, cache, device, train, 1), args.out, device,
                      batch_size=train.batch_size, save_model=save_model, progress=not args.no_progress,
                      on_epoch_end=on_epoch_end)
    return _report(args.out, trainer.fit(resume=args.resume), "finetune")
