"""Published-checkpoint conversion on synthetic state dicts with the original key names and shapes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from agpt.errors import AgptError
from agpt.models import ModelConfig, build_model
from agpt.models.attention import MultiHeadAttention
from agpt.models.convert import convert_state_dict, load_converted, load_published_weights, read_state_dict


def torchvision_resnet18(width: float, prefix: str, stages: int = 4) -> dict[str, torch.Tensor]:
    """A torchvision-named ResNet-18 state dict (3-channel conv1), written independently of our model."""
    g = torch.Generator().manual_seed(0)
    sd = {}

    def bn(name, c):
        for p in ("weight", "bias", "running_mean", "running_var"):
            sd[f"{prefix}{name}.{p}"] = torch.rand(c, generator=g) + 0.5
        sd[f"{prefix}{name}.num_batches_tracked"] = torch.tensor(7)

    stem = int(64 * width)
    sd[f"{prefix}conv1.weight"] = torch.randn(stem, 3, 7, 7, generator=g)
    bn("bn1", stem)
    in_c = stem
    for i in range(1, stages + 1):
        c = int(64 * 2 ** (i - 1) * width)
        for j in range(2):
            sd[f"{prefix}layer{i}.{j}.conv1.weight"] = torch.randn(c, in_c if j == 0 else c, 3, 3, generator=g)
            bn(f"layer{i}.{j}.bn1", c)
            sd[f"{prefix}layer{i}.{j}.conv2.weight"] = torch.randn(c, c, 3, 3, generator=g)
            bn(f"layer{i}.{j}.bn2", c)
            if j == 0 and i > 1:
                sd[f"{prefix}layer{i}.{j}.downsample.0.weight"] = torch.randn(c, in_c, 1, 1, generator=g)
                bn(f"layer{i}.{j}.downsample.1", c)
        in_c = c
    sd[f"{prefix}fc.weight"] = torch.randn(10, in_c, generator=g)
    return sd


def detr_layer(prefix: str, d: int, ffn: int, decoder: bool = False) -> dict[str, torch.Tensor]:
    """One DETR/MDETR layer with nn.MultiheadAttention parameter names."""
    g = torch.Generator().manual_seed(len(prefix))
    sd = {}
    for attn in (["self_attn", "cross_attn_image"] if decoder else ["self_attn"]):
        sd[f"{prefix}{attn}.in_proj_weight"] = torch.randn(3 * d, d, generator=g)
        sd[f"{prefix}{attn}.in_proj_bias"] = torch.randn(3 * d, generator=g)
        sd[f"{prefix}{attn}.out_proj.weight"] = torch.randn(d, d, generator=g)
        sd[f"{prefix}{attn}.out_proj.bias"] = torch.randn(d, generator=g)
    sd[f"{prefix}linear1.weight"], sd[f"{prefix}linear1.bias"] = torch.randn(ffn, d, generator=g), torch.randn(ffn)
    sd[f"{prefix}linear2.weight"], sd[f"{prefix}linear2.bias"] = torch.randn(d, ffn, generator=g), torch.randn(d)
    for norm in (["norm1", "norm3", "norm4"] if decoder else ["norm1", "norm2"]):
        sd[f"{prefix}{norm}.weight"], sd[f"{prefix}{norm}.bias"] = torch.rand(d) + 0.5, torch.randn(d)
    return sd


def linear(prefix: str, out_dim: int, in_dim: int) -> dict[str, torch.Tensor]:
    return {f"{prefix}weight": torch.randn(out_dim, in_dim), f"{prefix}bias": torch.randn(out_dim)}


def test_attention_split_matches_nn_multihead_attention():
    d, heads = 32, 4
    reference = nn.MultiheadAttention(d, heads, batch_first=True).eval()
    ours = MultiHeadAttention(d, heads).eval()
    state = {f"layers.0.self_attn.{k}": v for k, v in reference.state_dict().items()}
    model_like = {}
    from agpt.models.convert import _ENCODER_LAYER, layer_items
    for k, v in state.items():
        for name, t in layer_items(k, v, "layers.", "layers.", _ENCODER_LAYER):
            model_like[name.removeprefix("layers.0.self_attn.")] = t
    ours.load_state_dict(model_like, strict=True)
    x, y = torch.randn(2, 5, d), torch.randn(2, 7, d)
    pad = torch.zeros(2, 7, dtype=torch.bool)
    pad[1, 5:] = True
    expected = reference(x, y, y, key_padding_mask=pad)[0]
    torch.testing.assert_close(ours(x, y, y, key_padding_mask=pad)[0], expected, atol=1e-5, rtol=1e-4)


def test_detr_into_transvg_visual_branch(tmp_path):
    cfg = ModelConfig.from_preset("transvg", "tiny")
    model = build_model(cfg)
    d, ffn = cfg.hidden_dim, cfg.ffn_dim
    state = torchvision_resnet18(0.5, "backbone.0.body.")
    state.update(linear("input_proj.", d, 128))
    state["input_proj.weight"] = state["input_proj.weight"][:, :, None, None]
    for i in range(2):
        state.update(detr_layer(f"transformer.encoder.layers.{i}.", d, ffn))
    state.update(detr_layer("transformer.decoder.layers.0.", d, ffn))  # DETR's decoder: not ours
    state.update(linear("class_embed.", 92, d))
    path = tmp_path / "detr-r18.pth"
    torch.save({"model": state, "args": {"lr": 1e-4}}, path)
    report = load_published_weights(model, path, "detr")
    sd = model.state_dict()
    q = state["transformer.encoder.layers.1.self_attn.in_proj_weight"]
    torch.testing.assert_close(sd["visual_encoder.layers.1.self_attn.k_proj.weight"], q[d:2 * d])
    torch.testing.assert_close(sd["visual_encoder.layers.0.final_layer_norm.weight"],
                               state["transformer.encoder.layers.0.norm2.weight"])
    torch.testing.assert_close(sd["visual.backbone.body.embedder.embedder.convolution.weight"],
                               state["backbone.0.body.conv1.weight"].sum(1, keepdim=True))
    torch.testing.assert_close(sd["visual.backbone.body.encoder.stages.2.layers.0.shortcut.normalization.running_var"],
                               state["backbone.0.body.layer3.0.downsample.1.running_var"])
    # every backbone and visual-encoder weight came from the file; the rest (text, fusion, heads) did not
    assert not [k for k in report.missing if k.startswith(("visual.", "visual_encoder."))]
    assert any(k.startswith("fusion.") for k in report.missing)
    assert any("layer4" in k for k in report.unexpected)  # tiny reads stage3: layer4 has no place
    assert "class_embed.weight" in report.unexpected and not report.mismatched
    assert any("summed" in n for n in report.notes)


def test_transvg_checkpoint_fills_the_whole_model():
    cfg = ModelConfig.from_preset("transvg", "tiny")
    model = build_model(cfg)
    d, ffn = cfg.hidden_dim, cfg.ffn_dim
    state = torchvision_resnet18(0.5, "visumodel.backbone.0.body.", stages=3)
    state["visumodel.input_proj.weight"] = torch.randn(d, 128, 1, 1)
    state["visumodel.input_proj.bias"] = torch.randn(d)
    for i in range(2):
        state.update(detr_layer(f"visumodel.transformer.encoder.layers.{i}.", d, ffn))
        state.update(detr_layer(f"vl_transformer.encoder.layers.{i}.", d, ffn))
    # pytorch_pretrained_bert names are HF BERT names: take them from a BERT of the right shape
    bert = {f"textmodel.bert.{k}": torch.randn_like(v) for k, v in model.text_encoder.model.state_dict().items()}
    bert["textmodel.bert.pooler.dense.weight"] = torch.randn(32, 32)
    state.update(bert)
    state.update(linear("visu_proj.", d, d))
    state.update(linear("text_proj.", d, 32))
    state["reg_token.weight"] = torch.randn(1, d)
    state["vl_pos_embed.weight"] = torch.randn(1 + cfg.max_query_len + cfg.feature_size ** 2, d)
    for i, (o, n) in enumerate([(d, d), (d, d), (4, d)]):
        state.update(linear(f"bbox_embed.layers.{i}.", o, n))
    report = load_converted(model, state, "transvg")
    assert report.missing == [] and report.mismatched == []
    assert sorted(report.unexpected) == ["textmodel.bert.pooler.dense.weight", "visumodel.backbone.0.body.fc.weight"]
    sd = model.state_dict()
    torch.testing.assert_close(sd["fusion.layers.1.self_attn.v_proj.bias"],
                               state["vl_transformer.encoder.layers.1.self_attn.in_proj_bias"][2 * d:])
    torch.testing.assert_close(sd["visual_proj.weight"], state["visu_proj.weight"])


def test_mdetr_checkpoint_fills_the_whole_model():
    cfg = ModelConfig.from_preset("mdetr", "tiny")
    model = build_model(cfg)
    d, ffn = cfg.hidden_dim, cfg.ffn_dim
    state = torchvision_resnet18(0.5, "backbone.0.body.", stages=3)
    state["input_proj.weight"], state["input_proj.bias"] = torch.randn(d, 128, 1, 1), torch.randn(d)
    for i in range(2):
        state.update(detr_layer(f"transformer.encoder.layers.{i}.", d, ffn))
        state.update(detr_layer(f"transformer.decoder.layers.{i}.", d, ffn, decoder=True))
    state["transformer.decoder.norm.weight"], state["transformer.decoder.norm.bias"] = torch.rand(d), torch.rand(d)
    state.update({f"transformer.text_encoder.{k}": torch.randn_like(v)
                  for k, v in model.text_encoder.model.state_dict().items()})
    state.update(linear("transformer.resizer.fc.", d, 32))
    state["transformer.resizer.layer_norm.weight"], state["transformer.resizer.layer_norm.bias"] = torch.rand(d), torch.rand(d)
    state["query_embed.weight"] = torch.randn(100, d)
    state.update(linear("class_embed.", 256, d))
    for i, (o, n) in enumerate([(d, d), (d, d), (4, d)]):
        state.update(linear(f"bbox_embed.layers.{i}.", o, n))
    state.update(linear("contrastive_align_projection_image.", 64, d))
    state.update(linear("contrastive_align_projection_text.", 64, d))
    report = load_converted(model, state, "mdetr")
    assert report.missing == [] and report.mismatched == [] and report.unexpected == ["backbone.0.body.fc.weight"]
    sd = model.state_dict()
    torch.testing.assert_close(sd["query_embed.weight"], state["query_embed.weight"][:1])
    torch.testing.assert_close(sd["decoder.layers.1.encoder_attn.q_proj.weight"],
                               state["transformer.decoder.layers.1.cross_attn_image.in_proj_weight"][:d])
    torch.testing.assert_close(sd["decoder.layers.0.encoder_attn_layer_norm.bias"],
                               state["transformer.decoder.layers.0.norm3.bias"])
    torch.testing.assert_close(sd["decoder.layer_norm.weight"], state["transformer.decoder.norm.weight"])


def test_shape_mismatch_reported_and_bad_inputs(tmp_path):
    model = build_model(ModelConfig.from_preset("transvg", "tiny"))
    report = load_converted(model, {"reg_token.weight": torch.randn(1, 999)}, "transvg")
    assert report.mismatched == [("reg_token.weight", (1, 999), (1, 32))]
    with pytest.raises(ValueError, match="does not fit model 'mdetr'"):
        convert_state_dict({}, "transvg", "mdetr")
    with pytest.raises(ValueError, match="unknown checkpoint source 'yolo'"):
        convert_state_dict({}, "yolo", "transvg")
    with pytest.raises(AgptError, match="does not exist"):
        read_state_dict(tmp_path / "none.pth")
    # a pickled object that is not plain tensors is refused (weights_only), never executed
    bad = tmp_path / "bad.pth"
    torch.save({"model": {"x": nn.Linear(2, 2)}}, bad)
    with pytest.raises(AgptError, match="weights-only"):
        read_state_dict(bad)


def torchvision_resnet50(prefix: str) -> dict[str, torch.Tensor]:
    """torchvision-named ResNet-50 (v1.5 bottlenecks: conv1 1x1, conv2 3x3, conv3 1x1, downsample)."""
    sd = {f"{prefix}conv1.weight": torch.zeros(64, 3, 7, 7)}
    for p in ("weight", "bias", "running_mean", "running_var"):
        sd[f"{prefix}bn1.{p}"] = torch.zeros(64)
    in_c = 64
    for i, (blocks, width) in enumerate(zip([3, 4, 6, 3], [64, 128, 256, 512]), start=1):
        for j in range(blocks):
            shapes = {1: (width, in_c if j == 0 else 4 * width, 1, 1), 2: (width, width, 3, 3), 3: (4 * width, width, 1, 1)}
            for k, shape in shapes.items():
                sd[f"{prefix}layer{i}.{j}.conv{k}.weight"] = torch.zeros(shape)
                for p in ("weight", "bias", "running_mean", "running_var"):
                    sd[f"{prefix}layer{i}.{j}.bn{k}.{p}"] = torch.zeros(shape[0])
            if j == 0:
                sd[f"{prefix}layer{i}.{j}.downsample.0.weight"] = torch.zeros(4 * width, in_c, 1, 1)
                for p in ("weight", "bias", "running_mean", "running_var"):
                    sd[f"{prefix}layer{i}.{j}.downsample.1.{p}"] = torch.zeros(4 * width)
        in_c = 4 * width
    return sd


def test_detr_r50_backbone_fills_the_paper_preset_backbone():
    cfg = ModelConfig.from_preset("transvg", "paper", frozen_batchnorm=True)
    model = build_model(cfg)
    state = torchvision_resnet50("backbone.0.body.")
    state["input_proj.weight"], state["input_proj.bias"] = torch.zeros(256, 2048, 1, 1), torch.zeros(256)
    report = load_converted(model, state, "detr")
    assert report.mismatched == [] and report.unexpected == []
    assert not [k for k in report.missing if k.startswith("visual.")]
    assert float(model.visual.backbone.body.encoder.stages[3].layers[2].layer[2].convolution.weight.detach().abs().sum()) == 0
