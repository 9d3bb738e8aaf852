"""TransVG: tiny-config forward/backward, image_index gathering, one-batch overfit."""

from __future__ import annotations

import pytest
import torch

from agpt.boxes import box_cxcywh_to_xyxy, paired_iou
from agpt.models import ModelConfig, build_criterion, build_model
from tests.unit.models.conftest import random_boxes


@pytest.fixture(scope="module")
def tiny_cfg() -> ModelConfig:
    return ModelConfig.from_preset("transvg", "tiny")


def test_forward_backward_shapes(tiny_cfg, phrases):
    model = build_model(tiny_cfg)
    criterion = build_criterion(tiny_cfg)
    text = model.tokenize(phrases)
    images = torch.randn(len(phrases), 1, tiny_cfg.image_size, tiny_cfg.image_size)
    out = model(images, text)
    assert out.pred_boxes.shape == (len(phrases), 4)
    assert out.scores.shape == (len(phrases),)
    assert ((out.pred_boxes >= 0) & (out.pred_boxes <= 1)).all()
    losses = criterion(out, random_boxes(len(phrases)), text)
    assert losses["loss"].dim() == 0 and torch.isfinite(losses["loss"])
    assert set(losses) == {"loss", "l1", "giou"} and isinstance(losses["l1"], float)
    losses["loss"].backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None for g in grads), "every parameter takes part in the loss"
    assert sum(float(g.abs().sum()) for g in grads) > 0


def test_image_index_equals_separate_pairs(tiny_cfg, phrases):
    model = build_model(tiny_cfg).eval()
    images = torch.randn(2, 1, tiny_cfg.image_size, tiny_cfg.image_size)
    image_index = torch.tensor([0, 1, 1, 0])
    with torch.no_grad():
        shared = model(images, model.tokenize(phrases), image_index=image_index).pred_boxes
        separate = torch.cat([
            model(images[int(i)][None], model.tokenize([p])).pred_boxes for p, i in zip(phrases, image_index)])
    torch.testing.assert_close(shared, separate, atol=1e-5, rtol=1e-4)


def test_bad_image_index_raises(tiny_cfg, phrases):
    model = build_model(tiny_cfg)
    images = torch.randn(2, 1, tiny_cfg.image_size, tiny_cfg.image_size)
    with pytest.raises(ValueError, match="image_index"):
        model(images, model.tokenize(phrases))
    with pytest.raises(ValueError, match="image_index"):
        model(images, model.tokenize(phrases), image_index=torch.tensor([0, 1, 2, 0]))


def test_wrong_image_size_raises(tiny_cfg, phrases):
    model = build_model(tiny_cfg)
    with pytest.raises(ValueError, match="image_size"):
        model(torch.randn(4, 1, 2 * tiny_cfg.image_size, 2 * tiny_cfg.image_size), model.tokenize(phrases))


def test_one_batch_overfit(tiny_cfg):
    """Loss falls sharply and IoU rises on one fixed batch."""
    model = build_model(tiny_cfg)
    criterion = build_criterion(tiny_cfg)
    g = torch.Generator().manual_seed(1)
    images = torch.randn(2, 1, tiny_cfg.image_size, tiny_cfg.image_size, generator=g)
    phrases = ["left lung", "right lung", "cardiac silhouette", "trachea", "left lung", "spine"]
    image_index = torch.tensor([0, 0, 0, 1, 1, 1])
    targets = random_boxes(len(phrases), g)
    text = model.tokenize(phrases)
    opt = torch.optim.AdamW(model.param_groups(2e-3, 2e-3, 2e-3), weight_decay=0.0)
    first = first_iou = None
    for _ in range(100):
        out = model(images, text, image_index=image_index)
        loss = criterion(out, targets, text)["loss"]
        if first is None:
            first = float(loss.detach())
            first_iou = float(paired_iou(box_cxcywh_to_xyxy(out.pred_boxes.detach()), box_cxcywh_to_xyxy(targets)).mean())
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        out = model(images, text, image_index=image_index)
    final = float(criterion(out, targets, text)["loss"])
    iou = paired_iou(box_cxcywh_to_xyxy(out.pred_boxes), box_cxcywh_to_xyxy(targets))
    assert final < 0.2 * first, (first, final)
    assert float(iou.mean()) > 0.75 and float(iou.mean()) > first_iou + 0.3, (first_iou, iou)
