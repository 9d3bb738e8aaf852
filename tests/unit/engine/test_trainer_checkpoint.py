"""Checkpoint round trip and safety, the training loop, train_log.jsonl, resume == uninterrupted."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from agpt.data.records import PhraseSample
from agpt.engine.checkpoint import (
    load_weights, read_checkpoint_config, recover_dir, save_checkpoint, write_atomic_dir,
)
from agpt.engine.config import RunConfig, TrainConfig
from agpt.engine.datasets import PhraseDataset
from agpt.engine.evaluation import predict
from agpt.engine.trainer import LrFactor, Trainer
from agpt.engine.transforms import Augment
from agpt.errors import AgptError

from engine_fakes import FakeCriterion, FakeGrounder, make_cache

LOG_KEYS = {"epoch", "train_loss", "val_miou", "val_acc@0.5", "lr", "seconds", "n_parameters"}


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    model = FakeGrounder()
    save_checkpoint(tmp_path / "ck", model, {"epoch": 3, "seed": 1, "run": {"model": {"name": "fake"}}})
    meta = read_checkpoint_config(tmp_path / "ck")
    assert meta["epoch"] == 3 and meta["format"] == "agpt-checkpoint-1"
    assert meta["code_version"]["agpt"] and "git_sha" in meta["code_version"]
    other = FakeGrounder()
    load_weights(other, tmp_path / "ck")
    for (k, a), (_, b) in zip(model.state_dict().items(), other.state_dict().items()):
        assert torch.equal(a, b), k
    assert set(load_file(str(tmp_path / "ck" / "model.safetensors"))) == set(model.state_dict())


def test_loading_fails_loudly_on_wrong_shapes(tmp_path):
    save_checkpoint(tmp_path / "ck", FakeGrounder(dim=16), {})
    with pytest.raises(AgptError, match="shape mismatch"):
        load_weights(FakeGrounder(dim=8), tmp_path / "ck")
    with pytest.raises(AgptError, match="not an agpt checkpoint"):
        read_checkpoint_config(tmp_path)


def test_atomic_write_keeps_the_old_directory_on_failure(tmp_path):
    target = tmp_path / "last"
    write_atomic_dir(target, lambda d: (d / "a.txt").write_text("old"))

    def broken(d):
        (d / "a.txt").write_text("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        write_atomic_dir(target, broken)
    assert (target / "a.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["last"]  # no temp leftovers
    # A crash between the two renames leaves only .last.old: recovered on the next start.
    (tmp_path / "last").rename(tmp_path / ".last.old")
    assert recover_dir(target) == target and (target / "a.txt").read_text() == "old"


def test_lr_schedules():
    step = LrFactor("step", steps_per_epoch=10, total_steps=90, drop_epoch=6, drop_factor=0.1, warmup_steps=1)
    assert step(59) == 1.0 and step(60) == 0.1
    warm = LrFactor("warmup_linear", 10, 100, 0, 0.1, warmup_steps=10)
    assert warm(0) == pytest.approx(0.1) and warm(9) == 1.0 and warm(55) == pytest.approx(0.5) and warm(100) == 0.0


def samples():
    rng = np.random.default_rng(0)
    out = []
    for i in range(10):
        x, y = rng.uniform(0, 20, 2)
        out.append(PhraseSample(f"img{i % 5}", f"finding {i % 3} left", "Edema", "p", 1, 1,
                                ((x, y, x + 15, y + 20),)))
    return out


def make_trainer(out_dir, epochs=3, on_epoch_end=None, **train):
    cache = make_cache(size=32, n=5)
    cfg = TrainConfig(epochs=epochs, batch_size=4, lr=3e-3, lr_text=3e-3, lr_visual=3e-3, seed=11, device="cpu",
                      clip_max_norm=1.0, **train)
    run = RunConfig("finetune", {"name": "fake"}, cfg, "hash123")
    torch.manual_seed(123)  # the model's initialisation
    model = FakeGrounder()
    train_set = PhraseDataset(samples(), cache, Augment(), cfg.seed)
    val_set = PhraseDataset(samples()[:4], cache)
    validate = lambda m: predict(m, val_set, cache, torch.device("cpu"), batch_size=8).summary()  # noqa: E731
    return Trainer(run, model, FakeCriterion(), train_set, validate, out_dir, torch.device("cpu"), batch_size=4,
                   progress=False, on_epoch_end=on_epoch_end)


def test_train_log_and_run_directory(tmp_path):
    result = make_trainer(tmp_path / "run").fit()
    lines = [json.loads(x) for x in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    assert [x["epoch"] for x in lines] == [0, 1, 2]
    for line in lines:
        assert LOG_KEYS <= set(line)
        assert 0.0 <= line["val_miou"] <= 1.0 and np.isfinite(line["train_loss"])
    best = max(lines, key=lambda x: x["val_miou"])
    assert result.best_epoch == best["epoch"]
    meta = read_checkpoint_config(tmp_path / "run" / "checkpoint")
    assert meta["epoch"] == best["epoch"] and meta["seed"] == 11 and meta["data_manifest_hash"] == "hash123"
    assert meta["run"]["train"]["epochs"] == 3
    assert read_checkpoint_config(tmp_path / "run" / "last")["epoch"] == 2
    done = json.loads((tmp_path / "run" / "done.json").read_text())
    assert done["best_epoch"] == best["epoch"]
    with pytest.raises(AgptError, match="pass --resume"):
        (tmp_path / "run" / "done.json").unlink()
        make_trainer(tmp_path / "run").fit()


class Killed(Exception):
    pass


def test_resume_after_interruption_equals_uninterrupted_run(tmp_path):
    full = make_trainer(tmp_path / "full")
    full.fit()

    def kill_after_first(epoch):
        if epoch == 0:
            raise Killed

    with pytest.raises(Killed):
        make_trainer(tmp_path / "cut", on_epoch_end=kill_after_first).fit()
    # A half-written log line of the killed epoch 1 must not survive the resume.
    with open(tmp_path / "cut" / "train_log.jsonl", "a") as f:
        f.write(json.dumps({"epoch": 1, "train_loss": 0}) + "\n")
    resumed = make_trainer(tmp_path / "cut")
    resumed.fit(resume=True)
    for (k, a), (_, b) in zip(full.model.state_dict().items(), resumed.model.state_dict().items()):
        assert torch.equal(a, b), k
    log_full = [json.loads(x) for x in (tmp_path / "full" / "train_log.jsonl").read_text().splitlines()]
    log_cut = [json.loads(x) for x in (tmp_path / "cut" / "train_log.jsonl").read_text().splitlines()]
    assert [x["epoch"] for x in log_cut] == [0, 1, 2]
    for a, b in zip(log_full, log_cut):
        assert a["train_loss"] == b["train_loss"] and a["val_miou"] == b["val_miou"] and a["lr"] == b["lr"]
    ck_full = load_file(str(tmp_path / "full" / "checkpoint" / "model.safetensors"))
    ck_cut = load_file(str(tmp_path / "cut" / "checkpoint" / "model.safetensors"))
    assert all(torch.equal(ck_full[k], ck_cut[k]) for k in ck_full)


def test_resume_refuses_a_changed_configuration(tmp_path):
    with pytest.raises(Killed):
        make_trainer(tmp_path / "run", on_epoch_end=lambda e: (_ for _ in ()).throw(Killed())).fit()
    with pytest.raises(AgptError, match="different configuration \\(train differs"):
        make_trainer(tmp_path / "run", epochs=5).fit(resume=True)


def test_training_reduces_the_loss(tmp_path):
    trainer = make_trainer(tmp_path / "run", epochs=12, augment=False, schedule="constant")
    trainer.fit()
    lines = [json.loads(x) for x in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    assert lines[-1]["train_loss"] < 0.8 * lines[0]["train_loss"]
