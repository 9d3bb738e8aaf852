"""DETR-style transformer blocks with explicit q/k/v/o projections (peft LoRA applies; SDPA on GPU)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class MultiHeadAttention(nn.Module):
    """Multi-head attention with ``q_proj/k_proj/v_proj/o_proj`` ``nn.Linear`` layers.

    Inputs are batch-first: ``query [B, Nq, d]``, ``key/value [B, Nk, d]``;
    ``key_padding_mask [B, Nk]`` bool, True = padding (ignored as a key).
    Uses ``scaled_dot_product_attention`` unless the head-averaged weights are requested.
    """

    def __init__(self, dim: int, num_heads: int, dropout: float = 0.0):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"attention width {dim} is not divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.dropout = dropout
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.o_proj = nn.Linear(dim, dim)

    def _heads(self, x: Tensor) -> Tensor:
        b, n, _ = x.shape
        return x.view(b, n, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(self, query: Tensor, key: Tensor, value: Tensor, key_padding_mask: Tensor | None = None,
                need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        """Returns ``(output [B, Nq, d], weights [B, Nq, Nk] averaged over heads or None)``."""
        q, k, v = self._heads(self.q_proj(query)), self._heads(self.k_proj(key)), self._heads(self.v_proj(value))
        mask = None
        if key_padding_mask is not None:
            mask = (~key_padding_mask)[:, None, None, :]  # True = attend
        p = self.dropout if self.training else 0.0
        weights = None
        if need_weights:
            scores = (q @ k.transpose(-2, -1)) / self.head_dim ** 0.5
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            probs = scores.softmax(dim=-1)
            weights = probs.mean(dim=1)
            out = F.dropout(probs, p=p, training=self.training) @ v
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        b, _, n, _ = out.shape
        out = out.transpose(1, 2).reshape(b, n, self.num_heads * self.head_dim)
        return self.o_proj(out), weights


def _with_pos(x: Tensor, pos: Tensor | None) -> Tensor:
    return x if pos is None else x + pos


class EncoderLayer(nn.Module):
    """DETR post-norm encoder layer; positions are added to queries and keys only."""

    def __init__(self, dim: int, num_heads: int, ffn_dim: int, dropout: float):
        super().__init__()
        self.self_attn = MultiHeadAttention(dim, num_heads, dropout)
        self.self_attn_layer_norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, ffn_dim)
        self.fc2 = nn.Linear(ffn_dim, dim)
        self.final_layer_norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, src: Tensor, pos: Tensor | None = None, padding_mask: Tensor | None = None,
                need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        qk = _with_pos(src, pos)
        attn, weights = self.self_attn(qk, qk, src, key_padding_mask=padding_mask, need_weights=need_weights)
        src = self.self_attn_layer_norm(src + self.dropout(attn))
        ffn = self.fc2(self.dropout(F.relu(self.fc1(src))))
        return self.final_layer_norm(src + self.dropout(ffn)), weights


class TransformerEncoder(nn.Module):
    """A stack of :class:`EncoderLayer`; ``src [B, N, d]``, ``pos [B|1, N, d]``, ``padding_mask [B, N]``."""

    def __init__(self, num_layers: int, dim: int, num_heads: int, ffn_dim: int, dropout: float):
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(dim, num_heads, ffn_dim, dropout) for _ in range(num_layers))

    def forward(self, src: Tensor, pos: Tensor | None = None, padding_mask: Tensor | None = None,
                last_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        """Returns ``(output [B, N, d], last layer's head-averaged attention [B, N, N] or None)``."""
        weights = None
        for i, layer in enumerate(self.layers):
            want = last_weights and i == len(self.layers) - 1
            src, w = layer(src, pos, padding_mask, need_weights=want)
            if want:
                weights = w
        return src, weights


class DecoderLayer(nn.Module):
    """DETR post-norm decoder layer: self-attention, cross-attention to the memory, FFN."""

    def __init__(self, dim: int, num_heads: int, ffn_dim: int, dropout: float):
        super().__init__()
        self.self_attn = MultiHeadAttention(dim, num_heads, dropout)
        self.self_attn_layer_norm = nn.LayerNorm(dim)
        self.encoder_attn = MultiHeadAttention(dim, num_heads, dropout)
        self.encoder_attn_layer_norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, ffn_dim)
        self.fc2 = nn.Linear(ffn_dim, dim)
        self.final_layer_norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, tgt: Tensor, memory: Tensor, query_pos: Tensor, memory_pos: Tensor | None,
                memory_padding_mask: Tensor | None) -> Tensor:
        qk = tgt + query_pos
        attn, _ = self.self_attn(qk, qk, tgt)
        tgt = self.self_attn_layer_norm(tgt + self.dropout(attn))
        attn, _ = self.encoder_attn(tgt + query_pos, _with_pos(memory, memory_pos), memory,
                                    key_padding_mask=memory_padding_mask)
        tgt = self.encoder_attn_layer_norm(tgt + self.dropout(attn))
        ffn = self.fc2(self.dropout(F.relu(self.fc1(tgt))))
        return self.final_layer_norm(tgt + self.dropout(ffn))


class TransformerDecoder(nn.Module):
    """A stack of :class:`DecoderLayer` with a final LayerNorm applied to every layer's output."""

    def __init__(self, num_layers: int, dim: int, num_heads: int, ffn_dim: int, dropout: float):
        super().__init__()
        self.layers = nn.ModuleList(DecoderLayer(dim, num_heads, ffn_dim, dropout) for _ in range(num_layers))
        self.layer_norm = nn.LayerNorm(dim)

    def forward(self, tgt: Tensor, memory: Tensor, query_pos: Tensor, memory_pos: Tensor | None = None,
                memory_padding_mask: Tensor | None = None) -> Tensor:
        """Returns ``[num_layers, B, Q, d]``: the normalised output of every layer (last = final)."""
        outputs = []
        for layer in self.layers:
            tgt = layer(tgt, memory, query_pos, memory_pos, memory_padding_mask)
            outputs.append(self.layer_norm(tgt))
        return torch.stack(outputs)


class MLP(nn.Module):
    """``num_layers`` Linear layers with ReLU between them (DETR's box head: 256 -> 256 -> 256 -> 4)."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, num_layers: int):
        super().__init__()
        dims = [in_dim] + [hidden_dim] * (num_layers - 1)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims, dims[1:] + [out_dim]))

    def forward(self, x: Tensor) -> Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x


def xavier_init_(module: nn.Module) -> None:
    """Xavier-uniform init of every weight matrix (DETR/TransVG init of transformers and heads)."""
    for p in module.parameters():
        if p.dim() > 1:
            nn.init.xavier_uniform_(p)
