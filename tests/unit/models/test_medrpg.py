"""MedRPG: the TaCo loss, negative boxes, region pooling, the weight ramp."""

from __future__ import annotations

import pytest
import torch

from agpt.boxes import box_cxcywh_to_xyxy, paired_iou
from agpt.models import ModelConfig, build_criterion, build_model
from agpt.models.medrpg import region_mask, sample_negative_boxes, taco_loss
from tests.unit.models.conftest import random_boxes


def test_forward_backward_and_outputs(phrases):
    cfg = ModelConfig.from_preset("medrpg", "tiny")
    model, criterion = build_model(cfg), build_criterion(cfg)
    text = model.tokenize(phrases)
    out = model(torch.randn(2, 1, cfg.image_size, cfg.image_size), text, image_index=torch.tensor([0, 0, 1, 1]))
    length = text["input_ids"].shape[1]
    tokens = 1 + length + cfg.feature_size ** 2
    assert out.fusion_tokens.shape == (4, tokens, cfg.hidden_dim)
    assert out.fusion_attention.shape == (4, tokens, tokens)
    torch.testing.assert_close(out.fusion_attention.sum(-1), torch.ones(4, tokens))
    # padded text tokens get no attention
    pad = torch.cat([torch.zeros(4, 1), (text["attention_mask"] == 0).float(), torch.zeros(4, cfg.feature_size ** 2)], 1)
    assert float((out.fusion_attention.detach() * pad[:, None, :]).sum()) == 0.0
    criterion.set_progress(1.0)
    losses = criterion(out, random_boxes(4), text)
    assert set(losses) == {"loss", "l1", "giou", "taco", "taco_weight"}
    assert losses["taco_weight"] == pytest.approx(0.05) and torch.isfinite(losses["loss"])
    losses["loss"].backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_weight_ramp():
    criterion = build_criterion(ModelConfig.from_preset("medrpg", "tiny"))
    assert criterion.taco_weight == 0.0
    criterion.set_progress(0.5)
    assert criterion.taco_weight == pytest.approx(0.05 * 0.5 ** 0.9)
    with pytest.raises(ValueError, match="progress"):
        criterion.set_progress(1.5)


def test_negative_boxes_are_deterministic_low_iou_and_sized():
    targets = random_boxes(16, torch.Generator().manual_seed(3)) * torch.tensor([1, 1, 0.6, 0.6])
    neg1 = sample_negative_boxes(targets, 5, 0.25, 0.1, torch.Generator().manual_seed(0))
    neg2 = sample_negative_boxes(targets, 5, 0.25, 0.1, torch.Generator().manual_seed(0))
    assert neg1.shape == (16, 5, 4) and torch.equal(neg1, neg2)
    iou = paired_iou(box_cxcywh_to_xyxy(neg1), box_cxcywh_to_xyxy(targets[:, None].expand_as(neg1)))
    assert (iou <= 0.25 + 1e-6).all()
    ratio = neg1[..., 2:] / targets[:, None, 2:]
    assert ((ratio >= 0.9 - 1e-5) & (ratio <= 1.1 + 1e-5)).all()
    xyxy = box_cxcywh_to_xyxy(neg1)
    assert (xyxy >= -1e-6).all() and (xyxy <= 1 + 1e-6).all()


def test_region_mask_cells():
    mask = region_mask(torch.tensor([[0.375, 0.125, 0.25, 0.25]]), 4, 4).view(4, 4)  # x 0.25-0.5, y 0-0.25
    expected = torch.zeros(4, 4)
    expected[0, 1] = 1
    assert torch.equal(mask, expected)
    tiny_box = region_mask(torch.tensor([[0.9, 0.9, 0.01, 0.01]]), 4, 4)
    assert tiny_box.sum() == 1  # at least one cell


def _synthetic(separation: float):
    """Fusion outputs where the GT region moves towards the text code and the negatives away, by `separation`."""
    h = w = 4
    length, d, b = 3, 8, 2
    tokens = torch.zeros(b, 1 + length + h * w, d)
    tokens[..., 1] = 1.0  # a shared component, so every cosine is defined
    first_visual = 1 + length
    tokens[:, 1, 0] = 1.0  # the text [CLS] points along e0
    tokens[:, first_visual + 0, 0] = separation  # GT cell (0, 0)
    negative_cells = [3, 7, 11, 14, 15]
    for cell in negative_cells:
        tokens[:, first_visual + cell, 0] = -separation
    target = torch.tensor([[0.125, 0.125, 0.25, 0.25]]).expand(b, 4).clone()
    negatives = torch.tensor([[(c % 4 + 0.5) / 4, (c // 4 + 0.5) / 4, 0.25, 0.25] for c in negative_cells])
    attention = torch.full((b, tokens.shape[1], tokens.shape[1]), 1.0 / tokens.shape[1])
    return tokens, attention, length, (h, w), target, negatives.expand(b, 5, 4).clone()


def test_taco_finite_and_falls_when_positive_and_negatives_separate():
    losses = [float(taco_loss(*_synthetic(s), temperature=0.1)) for s in (0.0, 0.3, 1.0, 3.0)]
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[0] == pytest.approx(float(torch.log(torch.tensor(6.0))), abs=1e-4)  # all equal: chance among 6
    assert losses[0] > losses[1] > losses[2] > losses[3] and losses[3] < 0.05


def test_criterion_state_dict_restores_the_negative_generator():
    cfg = ModelConfig.from_preset("medrpg", "tiny")
    first = build_criterion(cfg)
    first.set_progress(0.3)
    targets = random_boxes(4)
    sample_negative_boxes(targets, 5, 0.25, 0.1, first.generator)  # advance, as training does
    state = first.state_dict()
    expected = sample_negative_boxes(targets, 5, 0.25, 0.1, first.generator)
    resumed = build_criterion(cfg)
    resumed.load_state_dict(state)
    assert resumed.progress == 0.3
    assert torch.equal(sample_negative_boxes(targets, 5, 0.25, 0.1, resumed.generator), expected)
