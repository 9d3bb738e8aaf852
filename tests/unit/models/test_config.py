"""ModelConfig presets, (de)serialisation, contradictions; builders reject unknown names; text encoders."""

from __future__ import annotations

import pytest
import torch

from agpt.errors import AgptError
from agpt.models import MODEL_NAMES, PRESET_NAMES, ModelConfig, build_criterion, build_model
from agpt.models.text_encoder import minilm_folder, train_wordpiece_tokenizer


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_presets_round_trip(name, preset):
    cfg = ModelConfig.from_preset(name, preset)
    assert cfg.name == name and cfg.preset == preset
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg


def test_paper_preset_values():
    transvg = ModelConfig.from_preset("transvg", "paper")
    assert (transvg.image_size, transvg.backbone_depth, transvg.encoder_layers, transvg.fusion_layers) == (640, 50, 6, 6)
    assert (transvg.hidden_dim, transvg.max_query_len, transvg.feature_size) == (256, 20, 20)
    assert (transvg.l1_weight, transvg.giou_weight) == (1.0, 1.0)
    mdetr = ModelConfig.from_preset("mdetr", "paper")
    assert (mdetr.backbone_depth, mdetr.encoder_layers, mdetr.decoder_layers, mdetr.num_queries) == (101, 6, 6, 1)
    assert (mdetr.ce_weight, mdetr.l1_weight, mdetr.giou_weight, mdetr.align_weight, mdetr.eos_coef) == (1, 5, 2, 1, 0.1)


def test_overrides_and_unknown_names():
    assert ModelConfig.from_preset("transvg", "tiny", max_query_len=50).max_query_len == 50
    with pytest.raises(ValueError, match="unknown model 'vgtr'.*transvg"):
        ModelConfig.from_preset("vgtr", "tiny")
    with pytest.raises(ValueError, match="unknown preset 'huge'.*tiny"):
        ModelConfig.from_preset("transvg", "huge")
    with pytest.raises(ValueError, match="unknown ModelConfig field.*hiden_dim"):
        ModelConfig.from_preset("transvg", "tiny", hiden_dim=3)
    with pytest.raises(ValueError, match="backbone_depth=152.*18"):
        ModelConfig(backbone_depth=152)
    with pytest.raises(ValueError, match="name='detr'.*mdetr"):
        ModelConfig(name="detr")
    with pytest.raises(ValueError, match="text_encoder='/no/such/folder'.*minilm"):
        build_model(ModelConfig.from_preset("transvg", "tiny", text_encoder="/no/such/folder"))
    cfg = ModelConfig.from_preset("transvg", "tiny")
    cfg.name = "unknown"
    with pytest.raises(ValueError, match="unknown model 'unknown'"):
        build_criterion(cfg)


@pytest.mark.parametrize("bad,match", [
    ({"hidden_dim": 30, "num_heads": 4}, "divisible"),
    ({"num_queries": 3}, "num_queries=3 needs name='mdetr'"),
    ({"image_size": 100}, "multiple of the stage3 stride 16"),
    ({"text_tokenizer": "/tmp/tok"}, "only used with text_encoder='scratch'"),
    ({"dropout": 1.5}, "dropout"),
    ({"taco_max_iou": 1.0}, "taco_max_iou"),
    ({"l1_weight": -1.0}, "l1_weight"),
])
def test_contradictions_raise(bad, match):
    with pytest.raises(ValueError, match=match):
        ModelConfig.from_preset("transvg", "tiny", **({"text_encoder": "minilm"} if "text_tokenizer" in bad else {}),
                                **bad)


def test_mdetr_text_limit():
    with pytest.raises(ValueError, match="max_query_len=300"):
        ModelConfig.from_preset("mdetr", "tiny", max_query_len=300)


def test_minilm_is_the_pretrained_default():
    folder = minilm_folder()
    assert (folder / "model.safetensors").is_file()
    cfg = ModelConfig.from_preset("transvg", "small")
    assert cfg.text_encoder == "minilm"
    model = build_model(cfg.replace(text_layers=1))
    assert model.text_encoder.hidden_size == 384 and model.text_encoder.model.config.num_hidden_layers == 1
    # pretrained, not random: the same weights as the packaged checkpoint
    from safetensors.torch import load_file
    stored = load_file(str(folder / "model.safetensors"))
    key = next(k for k in stored if k.endswith("word_embeddings.weight"))
    torch.testing.assert_close(model.text_encoder.model.embeddings.word_embeddings.weight, stored[key])
    assert not model.text_encoder.model.embeddings.word_embeddings.weight.requires_grad  # frozen in `small`


def test_text_encoder_folder_and_scratch_tokenizer(tmp_path):
    # a transformers-format folder given by path (here: MiniLM's own folder)
    model = build_model(ModelConfig.from_preset("transvg", "tiny", text_encoder=str(minilm_folder()), text_layers=1))
    assert model.text_encoder.model_type == "bert"
    tok_dir = train_wordpiece_tokenizer(["small left pleural effusion", "right lower lobe opacity"] * 3, tmp_path / "tok")
    assert (tok_dir / "tokenizer.json").is_file()
    scratch = build_model(ModelConfig.from_preset("transvg", "tiny", text_tokenizer=str(tok_dir)))
    ids = scratch.tokenize(["left pleural effusion"])["input_ids"][0].tolist()
    assert scratch.tokenizer.unk_token_id not in ids and len(ids) == 5  # [CLS] left pleural effusion [SEP]
    with pytest.raises(AgptError, match="does not exist"):
        build_model(ModelConfig.from_preset("transvg", "tiny", text_tokenizer=str(tmp_path / "missing")))
    (tmp_path / "empty").mkdir()
    with pytest.raises(AgptError, match="not a transformers model folder"):
        build_model(ModelConfig.from_preset("transvg", "tiny", text_encoder=str(tmp_path / "empty")))


def test_param_groups_cover_every_trainable_parameter_once():
    model = build_model(ModelConfig.from_preset("transvg", "tiny"))
    groups = model.param_groups(1e-4, 1e-5, 2e-5)
    assert [g["name"] for g in groups] == ["main", "text", "visual"]
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids)) == sum(1 for p in model.parameters() if p.requires_grad)
    assert {g["name"]: g["lr"] for g in groups} == {"main": 1e-4, "text": 1e-5, "visual": 2e-5}
    text_ids = {id(p) for p in model.text_encoder.parameters()}
    assert {id(p) for p in groups[1]["params"]} == text_ids
    assert id(model.visual_encoder.layers[0].self_attn.q_proj.weight) in {id(p) for p in groups[2]["params"]}
    assert id(model.reg_token.weight) in {id(p) for p in groups[0]["params"]}


def test_scratch_vocabulary_is_deterministic():
    from agpt.models.text_encoder import build_wordpiece_tokenizer, default_tokenizer_corpus
    corpus = default_tokenizer_corpus()
    first = build_wordpiece_tokenizer(corpus).get_vocab()
    assert build_wordpiece_tokenizer(list(reversed(corpus))).get_vocab() == first
    tok = build_wordpiece_tokenizer(corpus)
    assert tok.unk_token not in tok.tokenize("zygomatic 42% (new)")


@pytest.mark.parametrize("name", ["transvg", "mdetr"])
def test_paper_preset_builds_and_runs_one_pair(name):
    """The published configuration (ResNet-50/101 at 640 px, 6+6 layers) with MiniLM, one pair on CPU."""
    cfg = ModelConfig.from_preset(name, "paper")
    model = build_model(cfg).eval()
    assert model.visual.backbone.num_channels == 2048
    with torch.no_grad():
        out = model(torch.randn(1, 1, 640, 640), model.tokenize(["small left apical pneumothorax"]))
    assert out.pred_boxes.shape == (1, 4) and torch.isfinite(out.pred_boxes).all()


def test_frozen_batchnorm_matches_batchnorm_in_eval_and_has_no_parameters():
    from torch import nn

    from agpt.models.backbone import FrozenBatchNorm2d, freeze_batchnorm_

    bn = nn.BatchNorm2d(6)
    with torch.no_grad():
        bn.weight.uniform_(0.5, 2)
        bn.bias.uniform_(-1, 1)
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
    wrapper = nn.Sequential(bn)
    x = torch.randn(2, 6, 5, 5)
    expected = bn.eval()(x)
    freeze_batchnorm_(wrapper)
    assert isinstance(wrapper[0], FrozenBatchNorm2d) and not list(wrapper.parameters())
    torch.testing.assert_close(wrapper.train()(x), expected)
    model = build_model(ModelConfig.from_preset("transvg", "tiny", frozen_batchnorm=True))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())


@pytest.mark.parametrize("name", ["transvg", "mdetr", "medrpg"])
def test_bf16_autocast_keeps_boxes_and_losses_in_float32(name):
    cfg = ModelConfig.from_preset(name, "tiny")
    model, criterion = build_model(cfg), build_criterion(cfg)
    criterion.set_progress(1.0)
    text = model.tokenize(["left lung", "small right pleural effusion"])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(torch.randn(1, 1, 64, 64), text, image_index=torch.tensor([0, 0]))
        losses = criterion(out, torch.tensor([[0.5, 0.5, 0.2, 0.3]] * 2), text)
    assert out.pred_boxes.dtype == torch.float32 and out.scores.dtype == torch.float32
    assert losses["loss"].dtype == torch.float32 and torch.isfinite(losses["loss"])
    losses["loss"].backward()
