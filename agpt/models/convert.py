"""Loading published checkpoints (DETR-R50/R101, TransVG, MDETR) into our models by key mapping.

Files are read with ``torch.load(weights_only=True)``: tensors and plain containers only, no code
from the file ever runs.  The mapping (models.md §8.8):

- ResNet (torchvision names under ``backbone.0.body.``): ``conv1/bn1`` -> ``embedder.embedder.
  {convolution,normalization}``; ``layer{i}.{j}.conv{k}/bn{k}`` -> ``encoder.stages.{i-1}.layers.{j}.
  layer.{k-1}.{convolution,normalization}``; ``downsample.0/1`` -> ``shortcut.{convolution,normalization}``.
  A 3-channel ``conv1`` is summed over its input channels for our 1-channel input (exact for a
  grayscale image replicated to RGB, with one mean/std for all channels as AGPT normalises).
- ``nn.MultiheadAttention``: ``in_proj_weight/bias`` rows ``[0:d] [d:2d] [2d:3d]`` -> ``q_proj/k_proj/v_proj``;
  ``out_proj`` -> ``o_proj``.  Encoder layers: ``linear1/2`` -> ``fc1/2``, ``norm1`` ->
  ``self_attn_layer_norm``, ``norm2`` -> ``final_layer_norm``.  MDETR decoder layers:
  ``cross_attn_image`` -> ``encoder_attn``, ``norm1/norm3/norm4`` -> ``self_attn_layer_norm/
  encoder_attn_layer_norm/final_layer_norm``; ``transformer.decoder.norm`` -> ``decoder.layer_norm``.
- DETR -> TransVG/MedRPG: backbone, ``input_proj`` and ``transformer.encoder`` -> ``visual.*`` and
  ``visual_encoder``; DETR -> MDETR: backbone and ``input_proj`` only (the rest is DETR's detector).
- TransVG: ``visumodel.*`` as DETR; ``textmodel.bert.*`` -> ``text_encoder.model.*`` (pooler dropped);
  ``visu_proj`` -> ``visual_proj``; ``vl_transformer.encoder.layers`` -> ``fusion.layers``;
  ``text_proj``, ``reg_token``, ``vl_pos_embed``, ``bbox_embed`` keep their names.
- MDETR: ``transformer.encoder/decoder`` -> ``encoder/decoder``; ``transformer.text_encoder.*`` ->
  ``text_encoder.model.*``; ``transformer.resizer`` -> ``resizer``; heads keep their names; a
  ``query_embed`` with more rows than our ``num_queries`` keeps its first rows (AGPT uses 1 query).

Anything that does not map or whose shape differs is reported, never silently dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from agpt.errors import AgptError

SOURCES: tuple[str, ...] = ("detr", "transvg", "mdetr")

_ENCODER_LAYER = {"linear1": "fc1", "linear2": "fc2", "norm1": "self_attn_layer_norm", "norm2": "final_layer_norm"}
_MDETR_DECODER_LAYER = {"linear1": "fc1", "linear2": "fc2", "norm1": "self_attn_layer_norm",
                        "norm3": "encoder_attn_layer_norm", "norm4": "final_layer_norm"}
_ATTENTION = {"self_attn": "self_attn", "cross_attn_image": "encoder_attn"}


@dataclass
class LoadReport:
    """What :func:`load_published_weights` did: target keys loaded, target keys left at their
    initial values, source keys with no place in the model, and shape mismatches."""

    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple, tuple]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"loaded {len(self.loaded)} tensors; {len(self.missing)} model keys not in the file; "
                f"{len(self.unexpected)} file keys unused; {len(self.mismatched)} shape mismatches")


def read_state_dict(path: str | Path, key: str | None = None) -> dict[str, Tensor]:
    """The state dict in a published checkpoint, read with ``weights_only=True``.

    ``key`` picks an entry of the saved dict (default: ``model`` when present, as in DETR,
    TransVG and MDETR checkpoints; MDETR also stores ``model_ema``).
    """
    path = Path(path)
    if not path.is_file():
        raise AgptError(f"{path}: checkpoint file does not exist")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise AgptError(f"{path}: cannot read as a weights-only torch checkpoint ({exc})") from exc
    if key is not None:
        if not isinstance(obj, dict) or key not in obj:
            raise AgptError(f"{path}: no entry {key!r} in the checkpoint")
        obj = obj[key]
    elif isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj = obj["model"]
    if not isinstance(obj, dict) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise AgptError(f"{path}: not a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def resnet_key(key: str) -> str | None:
    """torchvision ResNet parameter name -> transformers ResNetBackbone name (None for ``fc``)."""
    if m := re.fullmatch(r"conv1\.weight", key):
        return "embedder.embedder.convolution.weight"
    if m := re.fullmatch(r"bn1\.(\w+)", key):
        return f"embedder.embedder.normalization.{m[1]}"
    if m := re.fullmatch(r"layer(\d)\.(\d+)\.conv(\d)\.weight", key):
        return f"encoder.stages.{int(m[1]) - 1}.layers.{m[2]}.layer.{int(m[3]) - 1}.convolution.weight"
    if m := re.fullmatch(r"layer(\d)\.(\d+)\.bn(\d)\.(\w+)", key):
        return f"encoder.stages.{int(m[1]) - 1}.layers.{m[2]}.layer.{int(m[3]) - 1}.normalization.{m[4]}"
    if m := re.fullmatch(r"layer(\d)\.(\d+)\.downsample\.0\.weight", key):
        return f"encoder.stages.{int(m[1]) - 1}.layers.{m[2]}.shortcut.convolution.weight"
    if m := re.fullmatch(r"layer(\d)\.(\d+)\.downsample\.1\.(\w+)", key):
        return f"encoder.stages.{int(m[1]) - 1}.layers.{m[2]}.shortcut.normalization.{m[3]}"
    return None


def layer_items(key: str, value: Tensor, src: str, dst: str, names: dict[str, str]) -> list[tuple[str, Tensor]] | None:
    """One DETR-style layer parameter ``src<N>.<rest>`` -> our names under ``dst<N>.``; None if not such a key."""
    m = re.fullmatch(re.escape(src) + r"(\d+)\.(.+)", key)
    if not m:
        return None
    index, rest = m[1], m[2]
    prefix = f"{dst}{index}."
    if a := re.fullmatch(r"(self_attn|cross_attn_image)\.in_proj_(weight|bias)", rest):
        attn, kind = _ATTENTION[a[1]], a[2]
        q, k, v = value.chunk(3, dim=0)
        return [(f"{prefix}{attn}.{p}_proj.{kind}", t) for p, t in zip("qkv", (q, k, v))]
    if a := re.fullmatch(r"(self_attn|cross_attn_image)\.out_proj\.(weight|bias)", rest):
        return [(f"{prefix}{_ATTENTION[a[1]]}.o_proj.{a[2]}", value)]
    if (a := re.fullmatch(r"(\w+)\.(weight|bias)", rest)) and a[1] in names:
        return [(f"{prefix}{names[a[1]]}.{a[2]}", value)]
    return []


def _rules(source: str, model_name: str) -> list[tuple[str, str]]:
    """(source prefix, target prefix) pairs for plain renames."""
    if source == "detr":
        return [("input_proj.", "visual.input_proj.")]
    if source == "transvg":
        return [("visumodel.input_proj.", "visual.input_proj."), ("visu_proj.", "visual_proj."),
                ("text_proj.", "text_proj."), ("reg_token.", "reg_token."), ("vl_pos_embed.", "vl_pos_embed."),
                ("bbox_embed.", "bbox_embed."), ("textmodel.bert.", "text_encoder.model.")]
    return [("input_proj.", "visual.input_proj."), ("transformer.text_encoder.", "text_encoder.model."),
            ("transformer.resizer.", "resizer."), ("transformer.decoder.norm.", "decoder.layer_norm."),
            ("query_embed.", "query_embed."), ("class_embed.", "class_embed."), ("bbox_embed.", "bbox_embed."),
            ("contrastive_align_projection_image.", "contrastive_align_projection_image."),
            ("contrastive_align_projection_text.", "contrastive_align_projection_text.")]


def _layer_rules(source: str, model_name: str) -> list[tuple[str, str, dict[str, str]]]:
    if source == "detr":
        if model_name == "mdetr":
            return []  # DETR's image-only encoder is not MDETR's joint encoder
        return [("transformer.encoder.layers.", "visual_encoder.layers.", _ENCODER_LAYER)]
    if source == "transvg":
        return [("visumodel.transformer.encoder.layers.", "visual_encoder.layers.", _ENCODER_LAYER),
                ("vl_transformer.encoder.layers.", "fusion.layers.", _ENCODER_LAYER)]
    return [("transformer.encoder.layers.", "encoder.layers.", _ENCODER_LAYER),
            ("transformer.decoder.layers.", "decoder.layers.", _MDETR_DECODER_LAYER)]


def convert_state_dict(state: dict[str, Tensor], source: str,
                       model_name: str) -> tuple[dict[str, Tensor], list[str], dict[str, str]]:
    """Map a published state dict to our parameter names.

    Returns ``(mapped {our name: tensor}, unmapped source keys, origin {our name: source key})``.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown checkpoint source {source!r}; choose one of {list(SOURCES)}")
    fits = {"detr": ("transvg", "medrpg", "mdetr"), "transvg": ("transvg", "medrpg"), "mdetr": ("mdetr",)}
    if model_name not in fits[source]:
        raise ValueError(f"a {source} checkpoint does not fit model {model_name!r}; it fits {list(fits[source])}")
    backbone_prefix = "visumodel.backbone.0.body." if source == "transvg" else "backbone.0.body."
    rules, layer_rules = _rules(source, model_name), _layer_rules(source, model_name)
    mapped: dict[str, Tensor] = {}
    origin: dict[str, str] = {}
    unmapped: list[str] = []
    for key, value in state.items():
        items: list[tuple[str, Tensor]] | None = None
        if key.startswith(backbone_prefix):
            target = resnet_key(key[len(backbone_prefix):])
            items = [(f"visual.backbone.body.{target}", value)] if target else None
        else:
            for src, dst, names in layer_rules:
                items = layer_items(key, value, src, dst, names)
                if items is not None:
                    break
            if items is None:
                for src, dst in rules:
                    if key.startswith(src):
                        rest = key[len(src):]
                        items = None if rest.startswith("pooler.") else [(dst + rest, value)]
                        break
        if not items:
            unmapped.append(key)
            continue
        mapped.update(items)
        origin.update({name: key for name, _ in items})
    return mapped, unmapped, origin


def load_published_weights(model: nn.Module, path: str | Path, source: str, key: str | None = None) -> LoadReport:
    """Load a published ``source`` checkpoint (``detr``, ``transvg``, ``mdetr``) file into ``model``.

    Tensors whose shapes differ are skipped and reported (except the two adaptations in the
    module docstring); keys of ``model`` the file does not provide keep their values.
    """
    state = read_state_dict(path, key)
    return load_converted(model, state, source)


def load_converted(model: nn.Module, state: dict[str, Tensor], source: str) -> LoadReport:
    """:func:`load_published_weights` for a state dict already in memory."""
    mapped, unmapped, origin = convert_state_dict(state, source, model.config.name)
    own = model.state_dict()
    report = LoadReport(unexpected=list(unmapped))
    accepted: dict[str, Tensor] = {}
    for name, value in mapped.items():
        if name not in own:
            report.unexpected.append(origin[name])
            continue
        target = own[name]
        if name.endswith("embedder.embedder.convolution.weight") and value.shape[1] == 3 and target.shape[1] == 1:
            value = value.sum(dim=1, keepdim=True)
            report.notes.append("conv1: summed the 3 RGB input channels into 1")
        if name == "query_embed.weight" and value.shape[0] > target.shape[0] and value.shape[1:] == target.shape[1:]:
            report.notes.append(f"query_embed: kept the first {target.shape[0]} of {value.shape[0]} queries")
            value = value[: target.shape[0]]
        if value.shape != target.shape:
            report.mismatched.append((origin[name], tuple(value.shape), tuple(target.shape)))
            continue
        accepted[name] = value.to(target.dtype)
    model.load_state_dict(accepted, strict=False)
    report.loaded = sorted(accepted)
    report.missing = sorted(k for k in own if k not in accepted and not k.endswith("num_batches_tracked"))
    return report
