"""Model files for cllm: llama2.c checkpoints to GGUF (`cllm convert`), synthetic
models with real shapes (`cllm synth`), and the inference benchmark (`cllm bench`).

The library part (read_llama2c, read_llama2c_tokenizer, synth_vocab, convert,
synth) raises CllmError subclasses and never prints; its commands are in cli_models.py. Writing goes through gguf_export.write_llama_gguf.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cllm_build.errors import UsageError
from cllm_build.gguf_export import (
    TOKEN_TYPE_BYTE,
    TOKEN_TYPE_CONTROL,
    TOKEN_TYPE_NORMAL,
    TOKEN_TYPE_UNKNOWN,
    LlamaConfig,
    write_llama_gguf,
)

LLAMA2C_MAGIC = 0x616B3432  # "ak42"
LLAMA2C_HEADER_V = 256  # bytes of a versioned header

# Shapes of well-known llama models, for synthetic weights.
SHAPES: dict[str, LlamaConfig] = {
    "stories260K": LlamaConfig(64, 172, 5, 8, 4, 512, 512),
    "stories15M": LlamaConfig(288, 768, 6, 6, 6, 32000, 256),
    "stories42M": LlamaConfig(512, 1376, 8, 8, 8, 32000, 1024),
    "stories110M": LlamaConfig(768, 2048, 12, 12, 12, 32000, 1024),
    "tinyllama-1.1b": LlamaConfig(2048, 5632, 22, 32, 4, 32000, 2048),
}

_KINDS = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_down", "ffn_up"]


@dataclass
class Vocab:
    tokens: list[bytes]
    scores: list[float]
    types: list[int]


def read_llama2c(path: Path) -> tuple[LlamaConfig, dict[str, np.ndarray]]:
    """A llama2.c checkpoint (legacy, v1 fp32 or v2 int8) as float32 GGUF-named tensors."""
    raw = Path(path).read_bytes()
    if len(raw) < 28:
        raise UsageError(f"{path}: {len(raw)} bytes is too short for a llama2.c checkpoint")
    (magic,) = struct.unpack_from("<I", raw, 0)
    version, group = 0, 0
    if magic == LLAMA2C_MAGIC:
        if len(raw) < LLAMA2C_HEADER_V:
            raise UsageError(f"{path}: llama2.c header truncated")
        (version,) = struct.unpack_from("<i", raw, 4)
        if version not in (1, 2):
            raise UsageError(f"{path}: llama2.c version {version} not supported (1 or 2)")
        hdr = struct.unpack_from("<7i", raw, 8)
        shared = raw[36] != 0
        if version == 2:
            (group,) = struct.unpack_from("<i", raw, 37)
        off = LLAMA2C_HEADER_V
    else:
        hdr = struct.unpack_from("<7i", raw, 0)
        shared = hdr[5] > 0
        off = 28
    dim, hidden, n_layers, n_heads, n_kv, vocab, seq_len = hdr
    vocab = abs(vocab)
    if min(dim, hidden, n_layers, n_heads, n_kv, vocab, seq_len) <= 0 or dim % n_heads:
        raise UsageError(f"{path}: implausible llama2.c header {hdr}")
    cfg = LlamaConfig(dim, hidden, n_layers, n_heads, n_kv, vocab, seq_len)
    kv = n_kv * cfg.head_dim
    shapes = {"attn_q": (dim, dim), "attn_k": (kv, dim), "attn_v": (kv, dim), "attn_output": (dim, dim),
              "ffn_gate": (hidden, dim), "ffn_down": (dim, hidden), "ffn_up": (hidden, dim)}

    def f32(*shape: int) -> np.ndarray:
        nonlocal off
        n = int(np.prod(shape))
        if off + 4 * n > len(raw):
            raise UsageError(f"{path}: truncated at offset {off} (needs {4 * n} more bytes)")
        a = np.frombuffer(raw, dtype="<f4", count=n, offset=off).reshape(shape).astype(np.float32)
        off += 4 * n
        return a

    def q8(*shape: int) -> np.ndarray:
        nonlocal off
        n = int(np.prod(shape))
        if off + n + 4 * (n // group) > len(raw):
            raise UsageError(f"{path}: truncated at offset {off}")
        q = np.frombuffer(raw, dtype=np.int8, count=n, offset=off).astype(np.float32)
        off += n
        s = np.frombuffer(raw, dtype="<f4", count=n // group, offset=off)
        off += 4 * (n // group)
        return (q.reshape(-1, group) * s[:, None]).reshape(shape).astype(np.float32)

    t: dict[str, np.ndarray] = {}
    if version == 0:
        t["token_embd.weight"] = f32(vocab, dim)
        norms_att = f32(n_layers, dim)
        mats = {k: f32(n_layers, *shapes[k]) for k in ("attn_q", "attn_k", "attn_v", "attn_output")}
        norms_ffn = f32(n_layers, dim)
        mats.update({k: f32(n_layers, *shapes[k]) for k in ("ffn_gate", "ffn_down", "ffn_up")})
        t["output_norm.weight"] = f32(dim)
        f32(seq_len, cfg.head_dim)  # legacy freq_cis tables, unused
        if not shared:
            t["output.weight"] = f32(vocab, dim)
    else:
        norms_att, norms_ffn = f32(n_layers, dim), f32(n_layers, dim)
        t["output_norm.weight"] = f32(dim)
        read = f32 if version == 1 else q8
        t["token_embd.weight"] = read(vocab, dim)
        mats = {}
        for k in ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_down", "ffn_up"):
            mats[k] = np.stack([read(*shapes[k]) for _ in range(n_layers)])
        if not shared:
            t["output.weight"] = read(vocab, dim)
    for i in range(n_layers):
        t[f"blk.{i}.attn_norm.weight"] = norms_att[i]
        t[f"blk.{i}.ffn_norm.weight"] = norms_ffn[i]
        for k in _KINDS:
            t[f"blk.{i}.{k}.weight"] = mats[k][i]
    return cfg, t


def read_llama2c_tokenizer(path: Path, n_vocab: int) -> Vocab:
    """A llama2.c tokenizer.bin as GGUF tokens: ids 0/1/2 become <unk>/<s>/</s>, an
    ASCII space becomes U+2581, "<0xXX>" pieces are BYTE tokens."""
    raw = Path(path).read_bytes()
    off = 4
    v = Vocab([], [], [])
    for i in range(n_vocab):
        if off + 8 > len(raw):
            raise UsageError(f"{path}: tokenizer ends at token {i} of {n_vocab}")
        score, n = struct.unpack_from("<fi", raw, off)
        off += 8
        if n < 0 or off + n > len(raw):
            raise UsageError(f"{path}: token {i} length {n} past end of file")
        piece = raw[off:off + n]
        off += n
        if i < 3:
            piece = [b"<unk>", b"<s>", b"</s>"][i]
            typ = TOKEN_TYPE_UNKNOWN if i == 0 else TOKEN_TYPE_CONTROL
        elif len(piece) == 6 and piece.startswith(b"<0x") and piece.endswith(b">"):
            typ = TOKEN_TYPE_BYTE
        else:
            piece = piece.replace(b" ", "\u2581".encode())
            typ = TOKEN_TYPE_NORMAL
        v.tokens.append(piece)
        v.scores.append(float(score))
        v.types.append(typ)
    return v


def synth_vocab(n_vocab: int) -> Vocab:
    """A synthetic vocabulary of n_vocab tokens: <unk> <s> </s>, the 256 byte tokens,
    "▁" and each printable ASCII character (so any text encodes without a blow-up
    into bytes), then distinct pieces "▁t<n>"."""
    singles = ["\u2581"] + [chr(c) for c in range(33, 127)]
    if n_vocab < 259 + len(singles):
        raise UsageError(f"vocabulary of {n_vocab} is too small (needs {259 + len(singles)})")
    v = Vocab([b"<unk>", b"<s>", b"</s>"], [0.0, 0.0, 0.0],
              [TOKEN_TYPE_UNKNOWN, TOKEN_TYPE_CONTROL, TOKEN_TYPE_CONTROL])
    for b in range(256):
        v.tokens.append(f"<0x{b:02X}>".encode())
        v.scores.append(0.0)
        v.types.append(TOKEN_TYPE_BYTE)
    for ch in singles:
        v.tokens.append(ch.encode())
        v.scores.append(-1.0)
        v.types.append(TOKEN_TYPE_NORMAL)
    for i in range(n_vocab - len(v.tokens)):
        v.tokens.append(f"\u2581t{i}".encode())
        v.scores.append(-2.0 - i)
        v.types.append(TOKEN_TYPE_NORMAL)
    return v


def convert(src: Path, tokenizer: Path, out: Path, qtype: str = "F32", name: str | None = None) -> Path:
    cfg, tensors = read_llama2c(src)
    vocab = read_llama2c_tokenizer(tokenizer, cfg.vocab_size)
    if "output.weight" not in tensors:
        tensors["output.weight"] = tensors["token_embd.weight"]  # llama.cpp expects an explicit output
    return write_llama_gguf(out, cfg, tensors, vocab.tokens, vocab.scores, vocab.types, qtype=qtype,
                            name=name or src.stem)


def synth(shape: str, out: Path, qtype: str = "F32", seed: int = 0, tokenizer: Path | None = None) -> Path:
    if shape not in SHAPES:
        raise UsageError(f"shape {shape!r} unknown; choose one of {', '.join(SHAPES)}")
    cfg = SHAPES[shape]
    rng = np.random.default_rng(seed)
    vocab = read_llama2c_tokenizer(tokenizer, cfg.vocab_size) if tokenizer else synth_vocab(cfg.vocab_size)
    from cllm_build.gguf_export import expected_shapes

    tensors = {}
    for k, shp in expected_shapes(cfg, tied=False).items():
        if len(shp) == 1:
            tensors[k] = (1.0 + 0.1 * rng.standard_normal(shp)).astype(np.float32)
        else:
            tensors[k] = (rng.standard_normal(shp, dtype=np.float32) / np.sqrt(shp[1])).astype(np.float32)
    return write_llama_gguf(out, cfg, tensors, vocab.tokens, vocab.scores, vocab.types, qtype=qtype,
                            name=f"synth-{shape}")
