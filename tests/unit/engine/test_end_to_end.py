"""pretrain -> finetune -> evaluate -> ground through the CLI on a small prepared directory + cache."""

from __future__ import annotations

import csv
import json

import numpy as np
import torch
import pytest
from PIL import Image

from agpt.cli import main
from agpt.data.prepared import read_prepared_mscxr


def common(prepared_data, out):
    prepared, cache, _ = prepared_data
    return ["--preset", "tiny", "--prepared", str(prepared), "--cache", str(cache), "--out", str(out),
            "--no-progress", "--device", "cpu"]


@pytest.fixture(scope="module")
def pretrained(prepared_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("pre") / "run"
    assert main(["pretrain", "--model", "transvg", *common(prepared_data, out), "--epochs", "2", "--seed", "3",
                 "--synonym-strategy", "uniform"]) == 0
    return out


def read_log(run):
    return [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]


def test_pretrain_run_directory(prepared_data, pretrained):
    assert {p.name for p in pretrained.iterdir()} >= {"checkpoint", "last", "train_log.jsonl", "done.json"}
    log = read_log(pretrained)
    assert [r["epoch"] for r in log] == [0, 1]
    for r in log:
        assert {"epoch", "train_loss", "val_miou", "val_acc@0.5", "lr", "seconds", "n_parameters"} <= set(r)
    meta = json.loads((pretrained / "checkpoint" / "config.json").read_text())
    assert meta["run"]["setting"] == "pretrain" and meta["run"]["model"]["name"] == "transvg"
    assert meta["data_manifest_hash"] == "fixture-hash-1" and meta["seed"] == 3
    assert meta["run"]["train"]["synonym_strategy"] == "uniform"
    assert {"model.safetensors", "config.json", "optimizer.pt", "trainer_state.json", "rng.safetensors"} <= {
        p.name for p in (pretrained / "last").iterdir()}
    # A finished run resumed is a no-op; an existing run without --resume is refused.
    assert main(["pretrain", "--model", "transvg", *common(prepared_data, pretrained), "--epochs", "2", "--seed", "3",
                 "--synonym-strategy", "uniform", "--resume"]) == 0
    assert main(["pretrain", "--model", "transvg", *common(prepared_data, pretrained), "--epochs", "2", "--seed", "3",
                 "--synonym-strategy", "uniform"]) == 2


@pytest.fixture(scope="module")
def finetuned(prepared_data, pretrained, tmp_path_factory):
    out = tmp_path_factory.mktemp("ft") / "run"
    assert main(["finetune", "--model", "transvg", *common(prepared_data, out), "--epochs", "2",
                 "--init", str(pretrained / "checkpoint"), "--train-fraction", "0.5"]) == 0
    return out


def test_finetune_from_agpt_checkpoint(finetuned, pretrained):
    meta = json.loads((finetuned / "checkpoint" / "config.json").read_text())
    assert meta["run"]["setting"] == "finetune" and meta["run"]["init"] == str(pretrained / "checkpoint")
    assert meta["run"]["train"]["train_fraction"] == 0.5
    assert meta["run"]["extra"]["n_train_phrases"] == 3  # half of each of the 3 categories (2 each) -> 1 each
    assert len(read_log(finetuned)) == 2


def test_finetune_init_must_be_the_same_model(prepared_data, pretrained, tmp_path, capsys):
    rc = main(["finetune", "--model", "mdetr", *common(prepared_data, tmp_path / "x"), "--epochs", "1",
               "--init", str(pretrained / "checkpoint")])
    assert rc == 2
    assert "is a 'transvg' model but --model is 'mdetr'" in capsys.readouterr().err


def run_evaluate(prepared_data, finetuned, tmp_path):
    prepared, cache, _ = prepared_data
    out = tmp_path / "eval"
    assert main(["evaluate", "--checkpoint", str(finetuned / "checkpoint"), "--prepared", str(prepared),
                 "--cache", str(cache), "--split", "test", "--out", str(out), "--device", "cpu"]) == 0
    with open(out / "predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    gold = read_prepared_mscxr(prepared, "test")
    assert list(rows[0]) == ["dicom_id", "label_text", "x", "y", "w", "h", "score"]
    assert [(r["dicom_id"], r["label_text"]) for r in rows] == [(s.dicom_id, s.label_text) for s in gold]
    for r, s in zip(rows, gold):  # boxes are in original pixels, inside the image
        x, y, w, h = (float(r[k]) for k in "xywh")
        assert 0 <= x and 0 <= y and x + w <= s.image_width + 1e-6 and y + h <= s.image_height + 1e-6
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"miou", "acc@0.5", "per_category", "checkpoint", "split", "seconds", "n"} <= set(metrics)
    assert metrics["split"] == "test" and metrics["n"] == len(gold) and 0 <= metrics["miou"] <= 1
    return rows


def test_evaluate_writes_predictions_and_metrics(prepared_data, finetuned, tmp_path):
    run_evaluate(prepared_data, finetuned, tmp_path)


def test_ground_matches_evaluate_and_draws(prepared_data, finetuned, tmp_path, capsys):
    prepared, cache, image_root = prepared_data
    rows = run_evaluate(prepared_data, finetuned, tmp_path)
    capsys.readouterr()
    sample = read_prepared_mscxr(prepared, "test")[0]
    overlay = tmp_path / "overlay.png"
    assert main(["ground", "--checkpoint", str(finetuned), "--image", str(image_root / sample.path),
                 "--phrase", sample.label_text, "--out", str(overlay), "--device", "cpu"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model"] == "transvg" and result["phrase"] == sample.label_text
    # Same image through load_image + the cache's letterbox: the same box as evaluate wrote.
    expected = np.array([float(rows[0][k]) for k in "xywh"])
    np.testing.assert_allclose([result[k] for k in "xywh"], expected, atol=1e-3)
    with Image.open(overlay) as im:
        assert im.size == (sample.image_width, sample.image_height) and im.mode == "RGB"
    phrases = tmp_path / "phrases.txt"
    phrases.write_text("left lung\n\nright costophrenic angle\n")
    assert main(["ground", "--checkpoint", str(finetuned / "checkpoint"), "--image", str(image_root / sample.path),
                 "--phrases-file", str(phrases), "--device", "cpu"]) == 0
    many = json.loads(capsys.readouterr().out)
    assert [r["phrase"] for r in many["results"]] == ["left lung", "right costophrenic angle"]


def test_same_seed_same_weights(prepared_data, tmp_path):
    from safetensors.torch import load_file

    def run(name, seed):
        out = tmp_path / name
        assert main(["finetune", "--model", "transvg", *common(prepared_data, out), "--epochs", "1",
                     "--max-steps-per-epoch", "1", "--init", "none", "--seed", str(seed)]) == 0
        return load_file(str(out / "checkpoint" / "model.safetensors"))

    a, b, c = run("a", 1), run("b", 1), run("c", 2)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_lora_finetune_saves_merged_plain_weights(prepared_data, pretrained, tmp_path):
    from safetensors.torch import load_file

    prepared, cache, _ = prepared_data
    out = tmp_path / "lora"
    assert main(["finetune", "--model", "transvg", *common(prepared_data, out), "--epochs", "1",
                 "--max-steps-per-epoch", "2", "--init", str(pretrained / "checkpoint"), "--mode", "lora"]) == 0
    init = load_file(str(pretrained / "checkpoint" / "model.safetensors"))
    last = load_file(str(out / "last" / "model.safetensors"))
    merged = load_file(str(out / "checkpoint" / "model.safetensors"))
    assert set(merged) == set(init)  # plain parameter names: loads without peft
    assert any("lora_A" in k for k in last)
    text_base = [k for k in last if k.startswith("text_encoder.") and ".base_layer." in k]
    assert text_base
    for k in text_base:  # frozen base weights are unchanged by training
        assert torch.equal(last[k], init[k.replace(".base_layer.", ".")]), k
    changed = [k.replace(".base_layer.", ".") for k in text_base]
    assert any(not torch.equal(merged[k], init[k]) for k in changed)  # the adapters are merged in
    assert main(["evaluate", "--checkpoint", str(out), "--prepared", str(prepared), "--cache", str(cache),
                 "--split", "val", "--out", str(tmp_path / "ev"), "--device", "cpu"]) == 0


@pytest.mark.parametrize("model", ["mdetr", "medrpg"])
def test_other_models_pretrain_finetune_evaluate_ground(model, prepared_data, tmp_path, capsys):
    prepared, cache, image_root = prepared_data
    short = ["--epochs", "1", "--max-steps-per-epoch", "2"]
    assert main(["pretrain", "--model", model, *common(prepared_data, tmp_path / "pre"), *short]) == 0
    assert main(["finetune", "--model", model, *common(prepared_data, tmp_path / "ft"), *short,
                 "--init", str(tmp_path / "pre")]) == 0
    assert main(["evaluate", "--checkpoint", str(tmp_path / "ft"), "--prepared", str(prepared), "--cache",
                 str(cache), "--split", "test", "--out", str(tmp_path / "ev"), "--device", "cpu"]) == 0
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert 0 <= metrics["miou"] <= 1
    sample = read_prepared_mscxr(prepared, "test")[0]
    capsys.readouterr()
    assert main(["ground", "--checkpoint", str(tmp_path / "pre"), "--image", str(image_root / sample.path),
                 "--phrase", "left lung", "--device", "cpu"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model"] == model and result["setting"] == "pretrain" and 0 <= result["score"] <= 1


def test_ground_a_phantom_dicom_and_its_jpg(finetuned, tmp_path, capsys):
    assert main(["phantom", "--out", str(tmp_path / "ph"), "--seed", "1", "--n-pretrain", "1",
                 "--n-mscxr-images", "3"]) == 0
    dcm = sorted((tmp_path / "ph" / "mimic-cxr" / "files").rglob("*.dcm"))[0]
    jpg = next((tmp_path / "ph" / "mimic-cxr-jpg" / "files").rglob(dcm.stem + ".jpg"))
    capsys.readouterr()
    boxes = []
    for image in (dcm, jpg):
        assert main(["ground", "--checkpoint", str(finetuned), "--image", str(image), "--phrase",
                     "small right pleural effusion", "--out", str(tmp_path / f"{image.suffix[1:]}.png"),
                     "--device", "cpu"]) == 0
        r = json.loads(capsys.readouterr().out)
        assert 0 <= r["x"] and r["x"] + r["w"] <= r["width"] + 1e-6 and r["y"] + r["h"] <= r["height"] + 1e-6
        boxes.append((np.array([r[k] for k in "xywh"]), r["width"]))
    # The DICOM (mimic_jpg_equivalent pixels) and its JPG give (nearly) the same box.
    np.testing.assert_allclose(boxes[0][0], boxes[1][0], atol=0.02 * boxes[0][1])


def test_pretrain_warns_about_patients_shared_with_the_test_split(prepared_data, tmp_path, capsys):
    import shutil

    prepared, cache, _ = prepared_data
    leaky = tmp_path / "prepared"
    shutil.copytree(prepared, leaky)
    test_subject = read_prepared_mscxr(prepared, "test")[0].subject_id
    lines = (leaky / "anatomy_train.csv").read_text().splitlines()
    header = lines[0].split(",")
    col = header.index("subject_id")
    row = lines[1].split(",")
    row[col] = test_subject
    (leaky / "anatomy_train.csv").write_text("\n".join([lines[0], ",".join(row), *lines[2:]]) + "\n")
    assert main(["pretrain", "--model", "transvg", "--preset", "tiny", "--prepared", str(leaky), "--cache",
                 str(cache), "--out", str(tmp_path / "run"), "--epochs", "1", "--max-steps-per-epoch", "1",
                 "--no-progress", "--device", "cpu"]) == 0
    assert "1 pre-training patient(s) also appear in" in capsys.readouterr().err


def test_cli_resume_after_a_kill_equals_the_uninterrupted_run(prepared_data, pretrained, tmp_path):
    import argparse

    from safetensors.torch import load_file

    from agpt.commands import finetune as finetune_command
    from agpt.engine.runs import run_finetune

    def args_for(out, resume=False):
        parser = argparse.ArgumentParser()
        finetune_command.add_arguments(parser)
        argv = ["--model", "transvg", *common(prepared_data, out), "--epochs", "2", "--max-steps-per-epoch", "2",
                "--init", str(pretrained / "checkpoint"), "--mode", "lora", "--seed", "4"]
        return parser.parse_args(argv + (["--resume"] if resume else []))

    class Killed(Exception):
        pass

    def kill(epoch):
        raise Killed

    assert run_finetune(args_for(tmp_path / "full")) == 0
    with pytest.raises(Killed):
        run_finetune(args_for(tmp_path / "cut"), on_epoch_end=kill)
    assert not (tmp_path / "cut" / "done.json").exists()
    assert run_finetune(args_for(tmp_path / "cut", resume=True)) == 0
    for name in ("last", "checkpoint"):
        a = load_file(str(tmp_path / "full" / name / "model.safetensors"))
        b = load_file(str(tmp_path / "cut" / name / "model.safetensors"))
        assert all(torch.equal(a[k], b[k]) for k in a), name
    assert read_log(tmp_path / "full")[-1]["train_loss"] == read_log(tmp_path / "cut")[-1]["train_loss"]
