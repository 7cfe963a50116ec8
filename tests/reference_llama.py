"""An independent float64 numpy implementation of the llama forward pass, used by
the tests as the reference for the C engine in kernel/llm.

Reads GGUF files through the `gguf` package (dequantizing F16 and the block types with
gguf.quants) and llama2.c legacy checkpoints with numpy. RoPE is the interleaved
(Meta) layout: pairs (2i, 2i+1) within each head rotate by pos * theta^(-2i/head_dim).

Like llama.cpp, the engine multiplies block-type matrices with an input quantized to
Q8_0 (per 32 values: d = max|x| / 127, q = round(x / d)); `quantize_act` (on by
default) applies the same rounding here, so the comparison checks the arithmetic
rather than the scheme.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class RefModel:
    dim: int
    hidden_dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    vocab_size: int
    seq_len: int
    rms_eps: float
    rope_theta: float
    tok_embd: np.ndarray  # (vocab, dim)
    output_norm: np.ndarray  # (dim,)
    output: np.ndarray  # (vocab, dim)
    layers: list[dict[str, np.ndarray]] = field(default_factory=list)
    qact: set[str] = field(default_factory=set)  # tensor names whose input is Q8_0-quantized
    qact_k: set[str] = field(default_factory=set)  # tensor names whose input is Q8_K-rounded
    qact_b: set[str] = field(default_factory=set)  # tensor names whose input is BF16-rounded
    quantize_act: bool = True

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads


def _field_value(reader, key: str):
    f = reader.fields[key]
    v = f.parts[f.data[0]]
    if len(f.types) == 1 and f.types[0].name == "STRING":
        return bytes(v).decode()
    return v.tolist()[0]


def load_gguf(path: str | Path) -> RefModel:
    import gguf

    r = gguf.GGUFReader(str(path))
    g = lambda k, d=None: _field_value(r, k) if k in r.fields else d
    tensors = {}
    qact = set()
    qact_k = set()
    qact_b = set()
    for t in r.tensors:
        if t.tensor_type.name in ("Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"):
            qact.add(t.name)
        if t.tensor_type.name in ("Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"):
            qact_k.add(t.name)
        if t.tensor_type.name == "BF16":
            qact_b.add(t.name)
        arr = gguf.quants.dequantize(np.asarray(t.data), t.tensor_type)
        shape = tuple(int(x) for x in reversed(t.shape.tolist()))  # (ne1, ne0)
        tensors[t.name] = np.asarray(arr, dtype=np.float64).reshape(shape)
    n_layers = int(g("llama.block_count"))
    m = RefModel(
        dim=int(g("llama.embedding_length")), hidden_dim=int(g("llama.feed_forward_length")),
        n_layers=n_layers, n_heads=int(g("llama.attention.head_count")),
        n_kv_heads=int(g("llama.attention.head_count_kv", g("llama.attention.head_count"))),
        vocab_size=tensors["token_embd.weight"].shape[0], seq_len=int(g("llama.context_length")),
        rms_eps=float(g("llama.attention.layer_norm_rms_epsilon", 1e-5)),
        rope_theta=float(g("llama.rope.freq_base", 10000.0)),
        tok_embd=tensors["token_embd.weight"], output_norm=tensors["output_norm.weight"],
        output=tensors.get("output.weight", tensors["token_embd.weight"]))
    tied = "output.weight" not in tensors
    m.qact = {("output" if n == "token_embd.weight" and tied else n) for n in qact}
    m.qact_k = {("output" if n == "token_embd.weight" and tied else n) for n in qact_k}
    m.qact_b = {("output" if n == "token_embd.weight" and tied else n) for n in qact_b}
    for i in range(n_layers):
        p = f"blk.{i}."
        m.layers.append({k: tensors[p + k + ".weight"] for k in (
            "attn_norm", "attn_q", "attn_k", "attn_v", "attn_output",
            "ffn_norm", "ffn_gate", "ffn_up", "ffn_down")})
    return m


def load_llama2c(path: str | Path) -> RefModel:
    """Legacy (version 0) llama2.c checkpoint."""
    raw = Path(path).read_bytes()
    hdr = np.frombuffer(raw[:28], dtype="<i4")
    dim, hidden, n_layers, n_heads, n_kv, vocab, seq_len = (int(x) for x in hdr)
    shared = vocab > 0
    vocab = abs(vocab)
    w = np.frombuffer(raw[28:], dtype="<f4").astype(np.float64)
    hd = dim // n_heads
    kv = n_kv * hd
    off = 0

    def take(*shape: int) -> np.ndarray:
        nonlocal off
        n = int(np.prod(shape))
        a = w[off:off + n].reshape(shape)
        off += n
        return a

    emb = take(vocab, dim)
    att_norm = take(n_layers, dim)
    wq, wk, wv = take(n_layers, dim, dim), take(n_layers, kv, dim), take(n_layers, kv, dim)
    wo = take(n_layers, dim, dim)
    ffn_norm = take(n_layers, dim)
    w1, w2, w3 = take(n_layers, hidden, dim), take(n_layers, dim, hidden), take(n_layers, hidden, dim)
    final = take(dim)
    take(seq_len, hd)  # freq_cis real + imag, unused
    out = emb if shared else take(vocab, dim)
    m = RefModel(dim, hidden, n_layers, n_heads, n_kv, vocab, seq_len, 1e-5, 10000.0, emb, final, out)
    for i in range(n_layers):
        m.layers.append({"attn_norm": att_norm[i], "attn_q": wq[i], "attn_k": wk[i], "attn_v": wv[i],
                         "attn_output": wo[i], "ffn_norm": ffn_norm[i], "ffn_gate": w1[i],
                         "ffn_up": w3[i], "ffn_down": w2[i]})
    return m


def load(path: str | Path) -> RefModel:
    with open(path, "rb") as f:
        magic = f.read(4)
    return load_gguf(path) if magic == b"GGUF" else load_llama2c(path)


class RefState:
    def __init__(self, m: RefModel) -> None:
        kv = m.n_kv_heads * m.head_dim
        self.k = np.zeros((m.n_layers, m.seq_len, kv))
        self.v = np.zeros((m.n_layers, m.seq_len, kv))


def _rmsnorm(x: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    return w * (x / np.sqrt(np.mean(x * x) + eps))


def _rope(x: np.ndarray, n_heads: int, hd: int, pos: int, theta: float) -> np.ndarray:
    x = x.reshape(n_heads, hd // 2, 2)
    freq = theta ** (-np.arange(0, hd, 2) / hd)
    ang = pos * freq
    c, s = np.cos(ang), np.sin(ang)
    out = np.empty_like(x)
    out[..., 0] = x[..., 0] * c - x[..., 1] * s
    out[..., 1] = x[..., 0] * s + x[..., 1] * c
    return out.reshape(-1)


def _q8_act(x: np.ndarray) -> np.ndarray:
    """x rounded as the engine rounds a Q8_0 matmul input (float32 scale math)."""
    b = x.astype(np.float32).reshape(-1, 32)
    d = np.abs(b).max(axis=1) / np.float32(127.0)
    inv = np.where(d > 0, np.float32(1.0) / np.where(d > 0, d, 1), 0).astype(np.float32)
    t = b * inv[:, None]
    q = np.trunc(t + np.where(t < 0, -0.5, 0.5).astype(np.float32))
    return (q.astype(np.float64) * d.astype(np.float64)[:, None]).reshape(-1)


def _q8k_act(x: np.ndarray) -> np.ndarray:
    """x rounded as the engine rounds a K-quant matmul input (ggml's Q8_K: per 256
    values iscale = -127 / the value of largest magnitude, round to nearest even,
    at most 127; float32 scale math)."""
    b = x.astype(np.float32).reshape(-1, 256)
    out = np.zeros(b.shape)
    for i, row in enumerate(b):
        vmax = row[np.argmax(np.abs(row))]
        if vmax == 0:
            continue
        iscale = np.float32(-127.0) / vmax
        q = np.minimum(127, np.rint(iscale * row))
        out[i] = q * np.float64(np.float32(1.0) / iscale)
    return out.reshape(-1)


def _bf16_act(x: np.ndarray) -> np.ndarray:
    """x rounded to bfloat16 (nearest even), as the engine rounds a BF16 matmul input."""
    u = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) << 16
    return r.astype(np.uint32).view(np.float32).astype(np.float64)


def _round_act(m: RefModel, name: str, v: np.ndarray) -> np.ndarray:
    if m.quantize_act and name in m.qact_b:
        return _bf16_act(v)
    if m.quantize_act and name in m.qact_k:
        return _q8k_act(v)
    if m.quantize_act and name in m.qact:
        return _q8_act(v)
    return v


def forward(m: RefModel, st: RefState, token: int, pos: int) -> np.ndarray:
    hd = m.head_dim
    rep = m.n_heads // m.n_kv_heads
    x = m.tok_embd[token].copy()
    for li, L in enumerate(m.layers):
        p = f"blk.{li}."

        def mm(k: str, v: np.ndarray, p: str = p, L: dict[str, np.ndarray] = L) -> np.ndarray:
            return L[k] @ _round_act(m, p + k + ".weight", v)

        xb = _rmsnorm(x, L["attn_norm"], m.rms_eps)
        q = _rope(mm("attn_q", xb), m.n_heads, hd, pos, m.rope_theta)
        st.k[li, pos] = _rope(mm("attn_k", xb), m.n_kv_heads, hd, pos, m.rope_theta)
        st.v[li, pos] = mm("attn_v", xb)
        q = q.reshape(m.n_heads, hd)
        keys = st.k[li, :pos + 1].reshape(pos + 1, m.n_kv_heads, hd)
        vals = st.v[li, :pos + 1].reshape(pos + 1, m.n_kv_heads, hd)
        out = np.empty((m.n_heads, hd))
        for h in range(m.n_heads):
            sc = keys[:, h // rep] @ q[h] / np.sqrt(hd)
            sc = np.exp(sc - sc.max())
            sc /= sc.sum()
            out[h] = sc @ vals[:, h // rep]
        x = x + mm("attn_output", out.reshape(-1))
        xb = _rmsnorm(x, L["ffn_norm"], m.rms_eps)
        g = mm("ffn_gate", xb)
        x = x + mm("ffn_down", g / (1 + np.exp(-g)) * mm("ffn_up", xb))
    x = _rmsnorm(x, m.output_norm, m.rms_eps)
    for name in ("output.weight", "output"):
        if name in m.qact or name in m.qact_k or name in m.qact_b:
            return m.output @ _round_act(m, name, x)
    return m.output @ x


def logits(m: RefModel, tokens: list[int]) -> np.ndarray:
    """(len(tokens), vocab) logits, one row per position."""
    st = RefState(m)
    return np.stack([forward(m, st, t, p) for p, t in enumerate(tokens)])


def greedy(m: RefModel, prompt: list[int], steps: int) -> list[int]:
    return greedy_with_margins(m, prompt, steps)[0]


def greedy_with_margins(m: RefModel, prompt: list[int], steps: int) -> tuple[list[int], list[float]]:
    """Greedy tokens and, for each, the gap between the top two logits it was chosen by.
    A float32 engine may rightly pick the other token where that gap is tiny."""
    st = RefState(m)
    out: list[int] = []
    gaps: list[float] = []
    pos = 0
    for t in prompt:
        lg = forward(m, st, t, pos)
        pos += 1
    for _ in range(steps):
        if pos >= m.seq_len:
            break
        top2 = np.partition(lg, -2)[-2:]
        gaps.append(float(top2[1] - top2[0]))
        t = int(np.argmax(lg))
        out.append(t)
        lg = forward(m, st, t, pos)
        pos += 1
    return out, gaps
