"""Write llama-architecture GGUF files: the one writer behind `cllm convert`,
`cllm synth` and the training export.

`write_llama_gguf` takes weights under their GGUF names ("token_embd.weight",
"blk.0.attn_q.weight", ...) as numpy arrays shaped like PyTorch (out_features,
in_features) and stores matrices as F32, F16, Q8_0 or Q4_0 through the `gguf`
package, with the metadata a llama.cpp loader needs. Q/K rows must already be in
the interleaved (Meta) RoPE layout: rotate pairs (2i, 2i+1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cllm_build.errors import UsageError

QTYPES = ("F32", "F16", "Q8_0", "Q4_0")
QK = 32  # elements per Q8_0 / Q4_0 block

# general.file_type values (llama.cpp LLAMA_FTYPE_*)
FILE_TYPE = {"F32": 0, "F16": 1, "Q4_0": 2, "Q8_0": 7}

TOKEN_TYPE_NORMAL = 1
TOKEN_TYPE_UNKNOWN = 2
TOKEN_TYPE_CONTROL = 3
TOKEN_TYPE_BYTE = 6


@dataclass(frozen=True)
class LlamaConfig:
    dim: int
    hidden_dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    vocab_size: int
    seq_len: int
    rms_eps: float = 1e-5
    rope_theta: float = 10000.0

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    @classmethod
    def of(cls, cfg: LlamaConfig | Mapping[str, Any]) -> LlamaConfig:
        if isinstance(cfg, LlamaConfig):
            return cfg
        return cls(**{k: cfg[k] for k in cls.__dataclass_fields__ if k in cfg})


def layer_names(i: int) -> list[str]:
    return [f"blk.{i}.{t}.weight" for t in (
        "attn_norm", "attn_q", "attn_k", "attn_v", "attn_output",
        "ffn_norm", "ffn_gate", "ffn_up", "ffn_down")]


def expected_shapes(cfg: LlamaConfig, tied: bool) -> dict[str, tuple[int, ...]]:
    """Every tensor name and its (out, in) shape for this configuration."""
    hd = cfg.head_dim
    shapes: dict[str, tuple[int, ...]] = {
        "token_embd.weight": (cfg.vocab_size, cfg.dim),
        "output_norm.weight": (cfg.dim,),
    }
    if not tied:
        shapes["output.weight"] = (cfg.vocab_size, cfg.dim)
    for i in range(cfg.n_layers):
        n = layer_names(i)
        shapes.update({
            n[0]: (cfg.dim,),
            n[1]: (cfg.n_heads * hd, cfg.dim),
            n[2]: (cfg.n_kv_heads * hd, cfg.dim),
            n[3]: (cfg.n_kv_heads * hd, cfg.dim),
            n[4]: (cfg.dim, cfg.n_heads * hd),
            n[5]: (cfg.dim,),
            n[6]: (cfg.hidden_dim, cfg.dim),
            n[7]: (cfg.hidden_dim, cfg.dim),
            n[8]: (cfg.dim, cfg.hidden_dim),
        })
    return shapes


def tensor_qtype(arr: np.ndarray, qtype: str) -> str:
    """The storage type of one tensor: vectors stay F32; a matrix whose rows do not
    split into 32-element blocks falls back from Q8_0/Q4_0 to F16, as llama.cpp does."""
    if arr.ndim < 2:
        return "F32"
    if qtype in ("Q8_0", "Q4_0") and arr.shape[-1] % QK != 0:
        return "F16"
    return qtype


def write_llama_gguf(path: str | Path, cfg: LlamaConfig | Mapping[str, Any],
                     tensors: Mapping[str, np.ndarray], tokens: Sequence[str | bytes],
                     scores: Sequence[float], token_types: Sequence[int], *,
                     qtype: str = "F32", name: str = "cllm", bos_id: int = 1, eos_id: int = 2,
                     unk_id: int = 0, extra_kv: Mapping[str, Any] | None = None) -> Path:
    """Write a GGUF v3 file of architecture `llama`. Raises UsageError on a bad
    type, a missing/extra tensor or a shape that does not match `cfg`."""
    import gguf

    c = LlamaConfig.of(cfg)
    if qtype not in QTYPES:
        raise UsageError(f"type {qtype!r} not supported; choose one of {', '.join(QTYPES)}")
    if c.dim % c.n_heads or c.n_heads % c.n_kv_heads:
        raise UsageError(f"dim {c.dim}, heads {c.n_heads}, kv heads {c.n_kv_heads} do not divide")
    if not (len(tokens) == len(scores) == len(token_types) == c.vocab_size):
        raise UsageError(f"vocabulary has {len(tokens)} tokens, {len(scores)} scores, "
                         f"{len(token_types)} types; vocab_size is {c.vocab_size}")
    tied = "output.weight" not in tensors
    want = expected_shapes(c, tied)
    for k, shape in want.items():
        if k not in tensors:
            raise UsageError(f"tensor {k} missing")
        if tuple(tensors[k].shape) != shape:
            raise UsageError(f"tensor {k}: shape {tuple(tensors[k].shape)}, expected {shape}")
    extra = set(tensors) - set(want)
    if extra:
        raise UsageError(f"unexpected tensors: {', '.join(sorted(extra))}")

    path = Path(path)
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name(name)
    w.add_file_type(FILE_TYPE[qtype])
    w.add_vocab_size(c.vocab_size)
    w.add_context_length(c.seq_len)
    w.add_embedding_length(c.dim)
    w.add_block_count(c.n_layers)
    w.add_feed_forward_length(c.hidden_dim)
    w.add_head_count(c.n_heads)
    w.add_head_count_kv(c.n_kv_heads)
    w.add_rope_dimension_count(c.head_dim)
    w.add_rope_freq_base(float(c.rope_theta))
    w.add_layer_norm_rms_eps(float(c.rms_eps))
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list([t if isinstance(t, bytes) else t.encode() for t in tokens])
    w.add_token_scores([float(s) for s in scores])
    w.add_token_types([int(t) for t in token_types])
    w.add_unk_token_id(unk_id)
    w.add_bos_token_id(bos_id)
    w.add_eos_token_id(eos_id)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    w.add_add_space_prefix(True)
    for key, val in (extra_kv or {}).items():
        _add_kv(w, key, val)

    for k in want:
        arr = np.ascontiguousarray(tensors[k], dtype=np.float32)
        t = tensor_qtype(arr, qtype)
        if t == "F32":
            w.add_tensor(k, arr)
        elif t == "F16":
            w.add_tensor(k, arr.astype(np.float16))
        else:
            gt = getattr(gguf.GGMLQuantizationType, t)
            w.add_tensor(k, gguf.quants.quantize(arr, gt), raw_dtype=gt)

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def _add_kv(w: Any, key: str, val: Any) -> None:
    if isinstance(val, bool):
        w.add_bool(key, val)
    elif isinstance(val, int):
        w.add_uint32(key, val) if val >= 0 else w.add_int32(key, val)
    elif isinstance(val, float):
        w.add_float32(key, val)
    elif isinstance(val, str):
        w.add_string(key, val)
    elif isinstance(val, (list, tuple)):
        w.add_array(key, list(val))
    else:
        raise UsageError(f"metadata {key}: unsupported value type {type(val).__name__}")
