"""Spatial attention with reference tokens (Durian §2.3) and temporal self-attention.

Spatial attention: queries from the target frame's tokens; keys/values from
[target | portrait | attribute₁ … attributeₐ]. Attributes are organised in *groups*: attention runs
once per group over the keys of that group's members, and the group outputs are blended per frame
with weights that sum to one. One group holding every attribute is **composition** (tokens
concatenated); two groups of one attribute each with weights (1−α, α) is **interpolation**
((1−α)·F¹ + α·F²), all inside one pass.
"""
from __future__ import annotations

import contextlib
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .blocks import zero_module

NEG = -1e4  # additive bias that removes a key (finite, so fp16 and ONNX stay NaN-free)
SDPA_ROWS = 32_768  # sequences per fused-attention call in training
_fused_in_eval = False


@contextlib.contextmanager
def fused_attention_in_eval(on: bool = True):
    """Within it, eval-mode attention (sampling) runs PyTorch's fused kernels as training does,
    instead of the explicit softmax the exporter writes: the same function, PyTorch at its best for
    benchmarks (bench_sampler)."""
    global _fused_in_eval
    before, _fused_in_eval = _fused_in_eval, on
    try:
        yield
    finally:
        _fused_in_eval = before


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(dim, dim, bias=False)
        self.to_v = nn.Linear(dim, dim, bias=False)
        self.to_out = nn.Linear(dim, dim)

    def forward(self, q_in: torch.Tensor, kv_in: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        """q_in [B, N, C], kv_in [B, M, C], bias [B, 1, 1, M] or None → [B, N, C]."""
        B, N, C = q_in.shape
        h = self.heads
        q = self.to_q(q_in).reshape(B, N, h, C // h).transpose(1, 2)
        k = self.to_k(kv_in).reshape(B, -1, h, C // h).transpose(1, 2)
        v = self.to_v(kv_in).reshape(B, -1, h, C // h).transpose(1, 2)
        if self.training or _fused_in_eval:
            # training: PyTorch's fused kernels (flash / memory-efficient); the same function. The
            # CUDA kernels take at most 65,535 sequences per launch (their grid's y dimension), and
            # temporal attention has one sequence per latent pixel, so large batches go in slices.
            mask = None if bias is None else bias.to(q.dtype)
            out = torch.cat([F.scaled_dot_product_attention(q[i:i + SDPA_ROWS], k[i:i + SDPA_ROWS], v[i:i + SDPA_ROWS],
                                                            attn_mask=None if mask is None else mask[i:i + SDPA_ROWS])
                             for i in range(0, B, SDPA_ROWS)]) if B > SDPA_ROWS else \
                F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        else:
            # export and sampling: explicit softmax, the graph the ONNX exporter writes
            w = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(C // h))
            if bias is not None:
                w = w + bias
            out = w.softmax(-1) @ v
        return self.to_out(out.transpose(1, 2).reshape(B, N, C))


class RefContext:
    """The reference features one denoiser layer attends to, with the group structure.

    portrait [B, Np, C]; attrs [B, A, Na, C]; members [B, G, A] (0/1); weights [B, F, G].
    """

    def __init__(self, portrait: torch.Tensor, attrs: torch.Tensor, members: torch.Tensor, weights: torch.Tensor):
        self.portrait, self.attrs, self.members, self.weights = portrait, attrs, members, weights


class SpatialTransformer(nn.Module):
    """LayerNorm → (spatial attention) → feed-forward, on [B·F, C, h, w] feature maps.

    In a ReferenceNet (`record` set) it is plain self-attention and it returns the normalised
    tokens it attended with — the hidden states the denoiser's spatial attention consumes.
    """

    def __init__(self, dim: int, heads: int, ff_mult: int = 4):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, ff_mult * dim), nn.GELU(), nn.Linear(ff_mult * dim, dim))

    def forward(self, x: torch.Tensor, frames: int = 1, ref: RefContext | None = None,
                record: list | None = None) -> torch.Tensor:
        BF, C, H, W = x.shape
        tokens = x.flatten(2).transpose(1, 2)  # [BF, N, C]
        n = self.norm1(tokens)
        if record is not None:
            record.append(n)
        if ref is None:
            a = self.attn(n, n)
        else:
            a = self._spatial(n, frames, ref)
        tokens = tokens + a
        tokens = tokens + self.ff(self.norm2(tokens))
        return tokens.transpose(1, 2).reshape(BF, C, H, W)

    def _spatial(self, n: torch.Tensor, frames: int, ref: RefContext) -> torch.Tensor:
        BF, N, C = n.shape
        B = BF // frames
        A, Na = ref.attrs.shape[1], ref.attrs.shape[2]
        G = ref.members.shape[1]
        Np = ref.portrait.shape[1]
        # keys: [target | portrait | attr_1..attr_A], per frame
        port = ref.portrait[:, None].expand(B, frames, Np, C).reshape(BF, Np, C)
        attrs = ref.attrs.reshape(B, 1, A * Na, C).expand(B, frames, A * Na, C).reshape(BF, A * Na, C)
        kv = torch.cat([n, port, attrs], 1)  # [BF, M, C]
        M = kv.shape[1]
        # per-group key bias: attributes outside the group are masked out
        attr_bias = ((1 - ref.members) * NEG)[..., None].expand(B, G, A, Na).reshape(B, G, A * Na)
        bias = torch.cat([torch.zeros(B, G, N + Np, device=n.device, dtype=n.dtype), attr_bias], -1)  # [B, G, M]
        bias = bias[:, None].expand(B, frames, G, M).reshape(BF * G, 1, 1, M)
        q = n[:, None].expand(BF, G, N, C).reshape(BF * G, N, C)
        kvg = kv[:, None].expand(BF, G, M, C).reshape(BF * G, M, C)
        out = self.attn(q, kvg, bias).reshape(BF, G, N, C)
        w = ref.weights.reshape(BF, G)[:, :, None, None]
        return (out * w).sum(1)


class TemporalTransformer(nn.Module):
    """Self-attention across frames at every spatial position; zero-initialised output so that
    inserting it leaves a stage-1 model unchanged (AnimateDiff / Animate Anyone)."""

    def __init__(self, dim: int, heads: int, max_frames: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        zero_module(self.attn.to_out)
        pos = torch.arange(max_frames)[:, None] / torch.pow(10000, torch.arange(0, dim, 2)[None] / dim)
        pe = torch.zeros(max_frames, dim)
        pe[:, 0::2], pe[:, 1::2] = torch.sin(pos), torch.cos(pos)
        self.register_buffer("pos", pe, persistent=False)

    def forward(self, x: torch.Tensor, frames: int, gate: torch.Tensor | None = None) -> torch.Tensor:
        """`gate` [B] (optional): a clip's residual is multiplied by it (UNet: t >= temporal_min_t)."""
        BF, C, H, W = x.shape
        B = BF // frames
        t = x.reshape(B, frames, C, H * W).permute(0, 3, 1, 2).reshape(B * H * W, frames, C)
        n = self.norm(t) + self.pos[:frames][None]
        if frames == 1 and self.training:
            # one frame attends only to itself: softmax over one key is 1, so the output is the value
            r = self.attn.to_out(self.attn.to_v(n))
        else:
            r = self.attn(n, n)
        if gate is not None:
            r = r * gate.to(r.dtype).repeat_interleave(H * W)[:, None, None]
        t = t + r
        return t.reshape(B, H * W, frames, C).permute(0, 2, 3, 1).reshape(BF, C, H, W)
