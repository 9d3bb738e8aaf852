"""LoRA: targets, frozen base weights stay unchanged, fusion/heads train, merging gives a plain model."""

from __future__ import annotations

import pytest
import torch

from agpt.models import ModelConfig, build_criterion, build_model
from agpt.models.lora import LoraSettings, apply_lora, lora_state_dict, lora_target_names, merge_lora
from tests.unit.models.conftest import random_boxes


def _train(model, cfg, steps=3):
    criterion = build_criterion(cfg)
    text = model.tokenize(["left lung", "right pleural effusion", "spine"])
    images = torch.randn(3, 1, cfg.image_size, cfg.image_size)
    opt = torch.optim.AdamW(model.param_groups(1e-2, 1e-2, 1e-2), weight_decay=0.1)
    for _ in range(steps):
        loss = criterion(model(images, text), random_boxes(3), text)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()


@pytest.mark.parametrize("name", ["transvg", "mdetr"])
def test_lora_freezes_encoders_and_trains_the_rest(name):
    cfg = ModelConfig.from_preset(name, "tiny", dropout=0.0)
    model = apply_lora(build_model(cfg), LoraSettings(rank=4, alpha=8))
    params = dict(model.named_parameters())
    lora = [n for n in params if "lora_" in n]
    assert lora and all(params[n].requires_grad for n in lora)
    assert any(n.startswith("text_encoder.") for n in lora) and any(n.startswith("visual.backbone.") for n in lora)
    if name == "transvg":
        assert any(n.startswith("visual_encoder.") for n in lora)
        assert not any(n.startswith("fusion.") for n in lora)
    base_encoder = {n: p.detach().clone() for n, p in params.items()
                    if n.startswith(("text_encoder.", "visual.backbone.", "visual_encoder.")) and "lora_" not in n}
    assert base_encoder and not any(params[n].requires_grad for n in base_encoder)
    trained = {n: p.detach().clone() for n, p in params.items()
               if not n.startswith(("text_encoder.", "visual.backbone.", "visual_encoder.")) and p.requires_grad}
    head = "bbox_embed.layers.0.weight"
    assert head in trained
    lora_before = {n: params[n].detach().clone() for n in lora}
    _train(model, cfg)
    after = dict(model.named_parameters())
    for n, before in base_encoder.items():
        assert torch.equal(after[n], before), f"frozen base weight {n} changed"
    assert not torch.equal(after[head], trained[head]), "the box head trains fully"
    assert any(not torch.equal(after[n], lora_before[n]) for n in lora), "the adapters train"


def test_merge_gives_same_outputs_and_plain_state_dict():
    cfg = ModelConfig.from_preset("transvg", "tiny", dropout=0.0)
    model = apply_lora(build_model(cfg), LoraSettings(rank=4, alpha=8, dropout=0.0))
    _train(model, cfg, steps=2)
    adapters = lora_state_dict(model)
    assert adapters and all("lora_" in k for k in adapters)
    model.eval()
    images = torch.randn(2, 1, cfg.image_size, cfg.image_size)
    text = model.tokenize(["left lung", "trachea"])
    with torch.no_grad():
        before = model(images, text).pred_boxes
    merged = merge_lora(model)
    with torch.no_grad():
        after = merged(images, text).pred_boxes
    torch.testing.assert_close(before, after, atol=1e-5, rtol=1e-4)
    plain = build_model(cfg).eval()
    plain.load_state_dict(merged.state_dict(), strict=True)
    with torch.no_grad():
        torch.testing.assert_close(plain(images, text).pred_boxes, after, atol=1e-5, rtol=1e-4)


def test_backbone_modes_and_settings():
    cfg = ModelConfig.from_preset("transvg", "tiny")
    frozen = lora_target_names(build_model(cfg), LoraSettings(backbone="frozen"))
    assert not any(n.startswith("visual.backbone.") for n in frozen)
    full = apply_lora(build_model(cfg), LoraSettings(backbone="full"))
    assert all(p.requires_grad for n, p in full.named_parameters() if n.startswith("visual.backbone."))
    assert LoraSettings.from_dict(LoraSettings(rank=2).to_dict()) == LoraSettings(rank=2)
    with pytest.raises(ValueError, match="backbone='half'.*lora"):
        LoraSettings(backbone="half")
    with pytest.raises(ValueError, match="match no layer"):
        apply_lora(build_model(cfg), LoraSettings(text_targets=("q_lin",)))
    with pytest.raises(ValueError, match="already has LoRA"):
        apply_lora(full, LoraSettings())
