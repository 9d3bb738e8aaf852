"""Text encoders given as transformers folders: DistilBERT (ClinicalBERT-style) and RoBERTa, with LoRA targets."""

from __future__ import annotations

import torch
from transformers import AutoTokenizer, DistilBertConfig, DistilBertModel, RobertaConfig, RobertaModel

from agpt.models import ModelConfig, build_criterion, build_model
from agpt.models.lora import LoraSettings, apply_lora, lora_target_names
from agpt.models.text_encoder import build_wordpiece_tokenizer, default_tokenizer_corpus, minilm_folder


def _distilbert_folder(path):
    tok = AutoTokenizer.from_pretrained(str(minilm_folder()))
    DistilBertModel(DistilBertConfig(vocab_size=len(tok), dim=32, n_layers=2, n_heads=2, hidden_dim=64)).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def _roberta_folder(path):
    tok = build_wordpiece_tokenizer(default_tokenizer_corpus())
    RobertaModel(RobertaConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                               intermediate_size=64, pad_token_id=tok.pad_token_id)).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def test_distilbert_folder_trains_and_gets_distilbert_lora_targets(tmp_path):
    cfg = ModelConfig.from_preset("transvg", "tiny", text_encoder=str(_distilbert_folder(tmp_path / "distil")))
    model = build_model(cfg)
    assert model.text_encoder.model_type == "distilbert" and model.text_encoder.hidden_size == 32
    text = model.tokenize(["left lung", "pneumothorax"])
    out = model(torch.randn(2, 1, 64, 64), text)
    build_criterion(cfg)(out, torch.tensor([[0.5, 0.5, 0.3, 0.3]] * 2), text)["loss"].backward()
    names = lora_target_names(model, LoraSettings())
    assert any(n.endswith("attention.q_lin") for n in names) and any(n.endswith("out_lin") for n in names)
    apply_lora(model, LoraSettings())


def test_roberta_folder_in_mdetr(tmp_path):
    cfg = ModelConfig.from_preset("mdetr", "tiny", text_encoder=str(_roberta_folder(tmp_path / "roberta")),
                                  text_layers=1)
    model = build_model(cfg)
    assert model.text_encoder.model_type == "roberta" and model.text_encoder.model.config.num_hidden_layers == 1
    text = model.tokenize(["small left effusion."])
    assert text["positive_map"][0].gt(0).sum() == 3
    out = model(torch.randn(1, 1, 64, 64), text)
    assert out.pred_boxes.shape == (1, 4)
    assert any(n.endswith("attention.self.query") for n in lora_target_names(model, LoraSettings()))


def test_folder_needing_remote_code_is_refused(tmp_path):
    import json

    import pytest

    from agpt.errors import AgptError

    folder = tmp_path / "cxr-bert"
    AutoTokenizer.from_pretrained(str(minilm_folder())).save_pretrained(folder)
    (folder / "config.json").write_text(json.dumps({"model_type": "cxr-bert", "architectures": ["CXRBertModel"],
                                                    "auto_map": {"AutoModel": "modeling_cxrbert.CXRBertModel"}}))
    with pytest.raises(AgptError, match="trust_remote_code"):
        build_model(ModelConfig.from_preset("transvg", "tiny", text_encoder=str(folder)))
