"""Small llama-architecture GGUF files with random weights, written with the `gguf`
package, for tests of the loader and the forward pass: any matrix type the package
can quantize, and weights made NaN on request."""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np
from gguf import GGMLQuantizationType as QT

LAYER_MATRICES = {  # name: (rows, cols) in units of (dim, hidden)
    "attn_q": ("dim", "dim"), "attn_k": ("dim", "dim"), "attn_v": ("dim", "dim"),
    "attn_output": ("dim", "dim"), "ffn_gate": ("hidden", "dim"),
    "ffn_down": ("dim", "hidden"), "ffn_up": ("hidden", "dim"),
}


def _matrix(w: gguf.GGUFWriter, name: str, a: np.ndarray, qtype: QT) -> None:
    if qtype == QT.F32:
        w.add_tensor(name, a.astype(np.float32))
    else:
        w.add_tensor(name, gguf.quants.quantize(a.astype(np.float32), qtype), raw_dtype=qtype)


def write_llama(path: Path, qtype: QT = QT.Q8_0, *, seed: int = 0, dim: int = 64,
                hidden: int = 128, layers: int = 2, heads: int = 4, vocab: int = 64,
                ctx: int = 32, nan_token: int | None = None,
                types: dict[str, QT] | None = None) -> Path:
    """Write the model; token_embd is F32, every other matrix `qtype` (or
    types[name] for a tensor name such as "blk.0.attn_q.weight"). With nan_token,
    that token's embedding row is NaN, so any sequence that holds it has NaN
    activations from its first layer on."""
    rng = np.random.default_rng(seed)
    size = {"dim": dim, "hidden": hidden}
    types = types or {}
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_context_length(ctx)
    w.add_embedding_length(dim)
    w.add_feed_forward_length(hidden)
    w.add_block_count(layers)
    w.add_head_count(heads)
    w.add_head_count_kv(heads)
    w.add_layer_norm_rms_eps(1e-5)
    embd = rng.standard_normal((vocab, dim)).astype(np.float32)
    if nan_token is not None:
        embd[nan_token] = np.nan
    w.add_tensor("token_embd.weight", embd)
    w.add_tensor("output_norm.weight", np.ones(dim, np.float32))
    _matrix(w, "output.weight", rng.standard_normal((vocab, dim)) * 0.2,
            types.get("output.weight", qtype))
    for layer in range(layers):
        w.add_tensor(f"blk.{layer}.attn_norm.weight", np.ones(dim, np.float32))
        w.add_tensor(f"blk.{layer}.ffn_norm.weight", np.ones(dim, np.float32))
        for short, (r, c) in LAYER_MATRICES.items():
            name = f"blk.{layer}.{short}.weight"
            a = rng.standard_normal((size[r], size[c])) / np.sqrt(size[c])
            _matrix(w, name, a, types.get(name, qtype))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path
