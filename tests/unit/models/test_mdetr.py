"""MDETR: tiny forward/backward, positive map, image_index gathering, several queries, overfit."""

from __future__ import annotations

import pytest
import torch

from agpt.boxes import box_cxcywh_to_xyxy, paired_iou
from agpt.models import ModelConfig, build_criterion, build_model
from agpt.models.mdetr import positive_map_from_offsets
from tests.unit.models.conftest import random_boxes


@pytest.fixture(scope="module")
def tiny_mdetr():
    return build_model(ModelConfig.from_preset("mdetr", "tiny"))


@pytest.fixture(scope="module")
def minilm_mdetr():
    """MDETR on the real MiniLM tokenizer (1 layer, to stay fast)."""
    return build_model(ModelConfig.from_preset("mdetr", "tiny", text_encoder="minilm", text_layers=1))


def test_forward_backward_shapes(tiny_mdetr, phrases):
    cfg = tiny_mdetr.config
    criterion = build_criterion(cfg)
    text = tiny_mdetr.tokenize(phrases)
    assert text["positive_map"].shape == (len(phrases), 256)
    out = tiny_mdetr(torch.randn(2, 1, cfg.image_size, cfg.image_size), text, image_index=torch.tensor([0, 1, 0, 1]))
    assert out.pred_boxes.shape == (4, 4) and out.scores.shape == (4,)
    assert out.logits.shape == (4, cfg.num_queries, 256)
    assert out.query_boxes.shape == (4, cfg.num_queries, 4)
    assert len(out.aux_outputs) == cfg.decoder_layers - 1
    assert out.proj_tokens.shape == (4, text["input_ids"].shape[1], cfg.align_dim)
    assert ((out.scores > 0) & (out.scores < 1)).all()
    losses = criterion(out, random_boxes(4), text)
    assert set(losses) >= {"loss", "ce", "l1", "giou", "align", "aux"}
    assert torch.isfinite(losses["loss"]) and losses["aux"] > 0
    tiny_mdetr.zero_grad()
    losses["loss"].backward()
    assert all(p.grad is not None for p in tiny_mdetr.parameters() if p.requires_grad)


def test_several_queries_pick_the_best_scoring_query(phrases):
    cfg = ModelConfig.from_preset("mdetr", "tiny", num_queries=5)
    model = build_model(cfg).eval()
    text = model.tokenize(phrases)
    with torch.no_grad():
        out = model(torch.randn(4, 1, cfg.image_size, cfg.image_size), text)
    scores = 1 - out.logits.softmax(-1)[..., -1]
    best = scores.argmax(1)
    torch.testing.assert_close(out.pred_boxes, out.query_boxes[torch.arange(4), best])
    torch.testing.assert_close(out.scores, scores.max(1).values)
    losses = build_criterion(cfg)(out, random_boxes(4), text)
    assert torch.isfinite(losses["loss"])


def test_image_index_equals_separate_pairs(tiny_mdetr, phrases):
    cfg = tiny_mdetr.config
    tiny_mdetr.eval()
    images = torch.randn(2, 1, cfg.image_size, cfg.image_size)
    index = torch.tensor([1, 0, 1, 1])
    with torch.no_grad():
        shared = tiny_mdetr(images, tiny_mdetr.tokenize(phrases), image_index=index).pred_boxes
        separate = torch.cat([tiny_mdetr(images[int(i)][None], tiny_mdetr.tokenize([p])).pred_boxes
                              for p, i in zip(phrases, index)])
    tiny_mdetr.train()
    torch.testing.assert_close(shared, separate, atol=1e-5, rtol=1e-4)


def _positive_pieces(model, phrase: str) -> list[str]:
    text = model.tokenize([phrase])
    tokens = model.tokenizer.convert_ids_to_tokens(text["input_ids"][0].tolist())
    pmap = text["positive_map"][0]
    assert torch.isclose(pmap.sum(), torch.tensor(1.0))
    return [tok for j, tok in enumerate(tokens) if pmap[j] > 0]


def test_positive_map_multi_piece_word_and_punctuation(minilm_mdetr):
    # MiniLM's general vocabulary splits "pneumothorax" into six word pieces: all are positive
    assert _positive_pieces(minilm_mdetr, "pneumothorax") == ["p", "##ne", "##um", "##otho", "##ra", "##x"]
    # punctuation, [CLS], [SEP] and padding are never positive
    pieces = _positive_pieces(minilm_mdetr, "small, left-sided effusion.")
    assert pieces == ["small", "left", "sided", "e", "##ff", "##usion"]
    assert all(p not in pieces for p in [",", ".", "-", "[CLS]", "[SEP]", "[PAD]"])
    assert "small" in pieces and "left" in pieces and "sided" in pieces


def test_positive_map_uniform_and_padded(minilm_mdetr):
    text = minilm_mdetr.tokenize(["left lung", "right lower lung zone opacity"])
    pmap = text["positive_map"]
    assert (pmap[0] > 0).sum() == 2 and torch.allclose(pmap[0][pmap[0] > 0], torch.tensor(0.5))
    # padding positions of the short phrase are zero
    length = text["attention_mask"].shape[1]
    assert pmap[0, :length][text["attention_mask"][0] == 0].sum() == 0
    assert pmap[:, length:].sum() == 0


def test_positive_map_custom_span():
    offsets = torch.tensor([[[0, 0], [0, 5], [6, 10], [11, 19], [0, 0]]])
    phrase = "small left effusion"
    pmap = positive_map_from_offsets(offsets, [phrase], [[(11, 19)]])
    assert pmap[0, 3] == 1.0 and pmap[0].sum() == 1.0
    with pytest.raises(ValueError, match="outside"):
        positive_map_from_offsets(offsets, [phrase], [[(11, 40)]])
    with pytest.raises(ValueError, match="no word token"):
        positive_map_from_offsets(torch.tensor([[[0, 0], [0, 1], [0, 0]]]), ["."], None)


def test_one_batch_overfit():
    cfg = ModelConfig.from_preset("mdetr", "tiny")
    model = build_model(cfg)
    criterion = build_criterion(cfg)
    g = torch.Generator().manual_seed(2)
    images = torch.randn(2, 1, cfg.image_size, cfg.image_size, generator=g)
    phrases = ["left lung", "right lung", "cardiac silhouette", "trachea", "left lung", "spine"]
    index = torch.tensor([0, 0, 0, 1, 1, 1])
    targets = random_boxes(len(phrases), g)
    text = model.tokenize(phrases)
    opt = torch.optim.AdamW(model.param_groups(2e-3, 2e-3, 2e-3), weight_decay=0.0)
    first = first_iou = None
    for _ in range(100):
        out = model(images, text, image_index=index)
        loss = criterion(out, targets, text)["loss"]
        if first is None:
            first = float(loss.detach())
            first_iou = float(paired_iou(box_cxcywh_to_xyxy(out.pred_boxes.detach()), box_cxcywh_to_xyxy(targets)).mean())
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.1)  # MDETR's published clip
        opt.step()
    model.eval()
    with torch.no_grad():
        out = model(images, text, image_index=index)
    final = float(criterion(out, targets, text)["loss"])
    iou = paired_iou(box_cxcywh_to_xyxy(out.pred_boxes), box_cxcywh_to_xyxy(targets))
    assert final < 0.3 * first, (first, final)
    assert float(iou.mean()) > 0.7 and float(iou.mean()) > first_iou + 0.3, (first_iou, iou)
