"""A llama-architecture transformer in PyTorch, laid out so its weights export to
GGUF (`llama` arch) without any permutation: RMSNorm, rotary embeddings that rotate
adjacent pairs (2i, 2i+1) of each head (the Meta / llama.cpp "norm" RoPE), grouped
query attention, SwiGLU feed-forward, untied output matrix.

train.py builds it from a `ModelConfig`; to_gguf.py reads `gguf_tensors()`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class ModelConfig:
    dim: int = 128
    hidden_dim: int = 352
    n_layers: int = 4
    n_heads: int = 4
    n_kv_heads: int = 2
    vocab_size: int = 1024
    seq_len: int = 256
    rms_eps: float = 1e-5
    rope_theta: float = 10000.0

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))  # (dim,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_tables(cfg: ModelConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin, each (seq_len, head_dim/2): angle pos * theta^(-2i/head_dim)."""
    hd = cfg.head_dim
    inv = 1.0 / (cfg.rope_theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    ang = torch.outer(torch.arange(cfg.seq_len, dtype=torch.float64), inv)
    return torch.cos(ang).float(), torch.sin(ang).float()


def rope_apply(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate pairs (2i, 2i+1) of x: (batch, heads, seq, head_dim)."""
    a, b = x[..., 0::2], x[..., 1::2]
    out = torch.stack((a * cos - b * sin, a * sin + b * cos), dim=-1)
    return out.flatten(-2)


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        hd = cfg.head_dim
        self.cfg = cfg
        self.attn_norm = RMSNorm(cfg.dim, cfg.rms_eps)
        self.wq = nn.Linear(cfg.dim, cfg.n_heads * hd, bias=False)     # (n_heads*hd, dim)
        self.wk = nn.Linear(cfg.dim, cfg.n_kv_heads * hd, bias=False)  # (n_kv*hd, dim)
        self.wv = nn.Linear(cfg.dim, cfg.n_kv_heads * hd, bias=False)  # (n_kv*hd, dim)
        self.wo = nn.Linear(cfg.n_heads * hd, cfg.dim, bias=False)     # (dim, n_heads*hd)
        self.ffn_norm = RMSNorm(cfg.dim, cfg.rms_eps)
        self.w1 = nn.Linear(cfg.dim, cfg.hidden_dim, bias=False)       # gate (hidden, dim)
        self.w3 = nn.Linear(cfg.dim, cfg.hidden_dim, bias=False)       # up   (hidden, dim)
        self.w2 = nn.Linear(cfg.hidden_dim, cfg.dim, bias=False)       # down (dim, hidden)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        c = self.cfg
        bsz, t, _ = x.shape
        h = self.attn_norm(x)
        q = self.wq(h).view(bsz, t, c.n_heads, c.head_dim).transpose(1, 2)
        k = self.wk(h).view(bsz, t, c.n_kv_heads, c.head_dim).transpose(1, 2)
        v = self.wv(h).view(bsz, t, c.n_kv_heads, c.head_dim).transpose(1, 2)
        q, k = rope_apply(q, cos, sin), rope_apply(k, cos, sin)
        rep = c.n_heads // c.n_kv_heads
        k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
        att = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.wo(att.transpose(1, 2).reshape(bsz, t, -1))
        h = self.ffn_norm(x)
        return x + self.w2(F.silu(self.w1(h)) * self.w3(h))


class Llama(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok_embeddings = nn.Embedding(cfg.vocab_size, cfg.dim)  # (vocab, dim)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.dim, cfg.rms_eps)
        self.output = nn.Linear(cfg.dim, cfg.vocab_size, bias=False)  # (vocab, dim)
        cos, sin = rope_tables(cfg)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        self.apply(self._init)
        for name, p in self.named_parameters():
            if name.endswith(("wo.weight", "w2.weight")):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * cfg.n_layers))

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (batch, t) -> logits (batch, t, vocab)."""
        t = tokens.shape[1]
        x = self.tok_embeddings(tokens)
        cos, sin = self.cos[:t], self.sin[:t]
        for layer in self.layers:
            x = layer(x, cos, sin)
        return self.output(self.norm(x))

    @torch.no_grad()
    def generate(self, prompt: list[int], n: int, temperature: float = 0.0, min_p: float = 0.0,
                 gen: torch.Generator | None = None) -> list[int]:
        """Continue `prompt` by n tokens: greedy when temperature is 0, else sampled
        from the tokens at least min_p times as likely as the most likely one."""
        ids = list(prompt)
        for _ in range(n):
            ctx = torch.tensor([ids[-self.cfg.seq_len:]])
            logits = self(ctx)[0, -1]
            if temperature <= 0:
                nxt = int(torch.argmax(logits))
            else:
                probs = torch.softmax(logits / temperature, dim=-1)
                probs[probs < min_p * probs.max()] = 0.0
                nxt = int(torch.multinomial(probs, 1, generator=gen))
            ids.append(nxt)
        return ids[len(prompt):]

    def gguf_tensors(self) -> dict[str, np.ndarray]:
        """Every weight under its GGUF name, shaped (out, in) as float32 numpy."""
        def npy(t: torch.Tensor) -> np.ndarray:
            return t.detach().cpu().float().numpy().copy()

        out = {
            "token_embd.weight": npy(self.tok_embeddings.weight),
            "output_norm.weight": npy(self.norm.weight),
            "output.weight": npy(self.output.weight),
        }
        for i, b in enumerate(self.layers):
            p = f"blk.{i}."
            out.update({
                p + "attn_norm.weight": npy(b.attn_norm.weight),
                p + "attn_q.weight": npy(b.wq.weight),
                p + "attn_k.weight": npy(b.wk.weight),
                p + "attn_v.weight": npy(b.wv.weight),
                p + "attn_output.weight": npy(b.wo.weight),
                p + "ffn_norm.weight": npy(b.ffn_norm.weight),
                p + "ffn_gate.weight": npy(b.w1.weight),
                p + "ffn_up.weight": npy(b.w3.weight),
                p + "ffn_down.weight": npy(b.w2.weight),
            })
        return out
