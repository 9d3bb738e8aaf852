"""TrainConfig/RunConfig, --config YAML, datasets over the cache, collate, stratified subsets."""

from collections import Counter

import numpy as np
import pytest
import torch

from agpt.data.records import AnatomyImage, PhraseSample
from agpt.engine.config import RunConfig, TrainConfig, build_train_config, load_config_sections
from agpt.engine.datasets import AnatomyDataset, PhraseDataset, collate, stratified_subset
from agpt.engine.transforms import Augment
from agpt.errors import AgptError

from engine_fakes import make_cache


def test_train_config_round_trip_and_validation():
    cfg = TrainConfig(epochs=3, lora_text_targets=("query", "value"), schedule="warmup_linear")
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    run = RunConfig("finetune", {"name": "transvg"}, cfg, "abc", init="x")
    assert RunConfig.from_dict(run.to_dict()) == run
    with pytest.raises(ValueError, match="valid: step, warmup_linear, constant"):
        TrainConfig(schedule="cosine")
    with pytest.raises(AgptError, match="unknown key\\(s\\) epoch;.*valid keys: epochs"):
        TrainConfig.from_dict({"epoch": 3})


def test_yaml_sections_and_cli_precedence(tmp_path):
    path = tmp_path / "extra.yaml"
    path.write_text("model:\n  hidden_dim: 32\ntrain:\n  epochs: 7\n  lr: 0.001\n")
    model, train = load_config_sections(path)
    assert model == {"hidden_dim": 32} and train == {"epochs": 7, "lr": 0.001}
    cfg = build_train_config("tiny", "finetune", train, {"epochs": 2, "seed": None})
    assert cfg.epochs == 2 and cfg.lr == 0.001 and cfg.seed == 0  # CLI wins; None = not given
    path.write_text("train:\n  epoch: 3\n")
    with pytest.raises(AgptError, match="unknown key\\(s\\) epoch"):
        load_config_sections(path)
    path.write_text("optimiser:\n  lr: 1\n")
    with pytest.raises(AgptError, match="valid sections: model, train"):
        load_config_sections(path)


def phrase(dicom_id, text, category, boxes):
    return PhraseSample(dicom_id=dicom_id, label_text=text, category_name=category, path="p", image_width=1,
                        image_height=1, boxes_xyxy=tuple(boxes))


def test_phrase_dataset_target_is_the_union_box():
    cache = make_cache(size=32)
    lb = cache.letterbox("img0")
    s = phrase("img0", "two blobs", "Edema", [(2, 3, 10, 12), (20, 25, 30, 35)])
    item = PhraseDataset([s], cache)[0]
    assert item["image"].shape == (1, 32, 32) and item["phrases"] == ["two blobs"]
    expected = lb.original_xyxy_to_normalised_cxcywh(np.array([2.0, 3.0, 30.0, 35.0]))
    np.testing.assert_allclose(item["boxes"][0].numpy(), expected, rtol=1e-5)


def test_dataset_rejects_images_missing_from_cache():
    with pytest.raises(AgptError, match="not in the cache.*nope"):
        PhraseDataset([phrase("nope", "x", "Edema", [(0, 0, 1, 1)])], make_cache())


def canonical_pairs(image, sampler, rng):
    return [(sampler(name, rng) if sampler else name, name, box) for name, box in image.boxes.items()]


def anatomy_image(dicom_id):
    boxes = {f"anat{i}": (i, i, 20 + i, 30 + i) for i in range(6)}
    return AnatomyImage(dicom_id, "1", "2", "p", 60, 60, "train", boxes)


def test_anatomy_dataset_is_deterministic_per_seed_epoch_index():
    cache = make_cache(size=32)
    sampler = lambda name, rng: f"{name}-{rng.integers(1000)}"  # noqa: E731
    ds = AnatomyDataset([anatomy_image("img1"), anatomy_image("img2")], cache, sampler, anatomies_per_image=3,
                        augment=Augment(), seed=5, pairs_fn=canonical_pairs)
    a = ds[1]
    b = ds[1]
    assert a["phrases"] == b["phrases"] and torch.equal(a["image"], b["image"]) and len(a["phrases"]) == 3
    ds.set_epoch(1)
    c = ds[1]
    assert c["phrases"] != a["phrases"] or not torch.equal(c["image"], a["image"])
    all_ds = AnatomyDataset([anatomy_image("img1")], cache, None, 0, None, 0, pairs_fn=canonical_pairs)
    assert all_ds[0]["phrases"] == [f"anat{i}" for i in range(6)]


def test_collate_shares_unaugmented_images():
    cache = make_cache(size=32)
    samples = [phrase("img0", "a", "Edema", [(1, 1, 5, 5)]), phrase("img1", "b", "Edema", [(1, 1, 5, 5)]),
               phrase("img0", "c", "Edema", [(2, 2, 6, 6)])]
    batch = collate([PhraseDataset(samples, cache)[i] for i in range(3)])
    assert batch["images"].shape == (2, 1, 32, 32)
    assert batch["image_index"].tolist() == [0, 1, 0] and batch["boxes"].shape == (3, 4)
    aug = collate([PhraseDataset(samples, cache, Augment())[i] for i in range(3)])
    assert aug["images"].shape == (3, 1, 32, 32) and aug["image_index"].tolist() == [0, 1, 2]
    ds = AnatomyDataset([anatomy_image("img1"), anatomy_image("img2")], cache, None, 0, None, 0,
                        pairs_fn=canonical_pairs)
    b = collate([ds[0], ds[1]])
    assert b["images"].shape[0] == 2 and b["image_index"].tolist() == [0] * 6 + [1] * 6


def test_stratified_subset_is_stratified_and_deterministic():
    cats = ["Edema"] * 40 + ["Pneumonia"] * 20 + ["Pneumothorax"] * 10 + ["Atelectasis"] * 1
    samples = [phrase(f"d{i}", f"p{i}", c, [(0, 0, 1, 1)]) for i, c in enumerate(cats)]
    sub = stratified_subset(samples, 0.5, seed=3)
    counts = Counter(s.category_name for s in sub)
    assert counts == {"Edema": 20, "Pneumonia": 10, "Pneumothorax": 5, "Atelectasis": 1}
    assert sub == stratified_subset(samples, 0.5, seed=3)
    assert sub != stratified_subset(samples, 0.5, seed=4)
    assert [samples.index(s) for s in sub] == sorted(samples.index(s) for s in sub)  # input order kept
    assert stratified_subset(samples, 1.0, seed=0) == samples
    with pytest.raises(ValueError):
        stratified_subset(samples, 0.0, seed=0)
