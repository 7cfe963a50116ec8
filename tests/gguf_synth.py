"""Small llama-architecture GGUF files with random weights, written with the `gguf`
package, for tests of the loader and the forward pass: any matrix type the package
can quantize, and weights made NaN on request."""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np
from gguf import GGMLQuantizationType as QT
from gguf.constants import GGML_QUANT_SIZES

# block types: byte offsets of their f16 scale fields in a block
SCALE_OFFSETS = {QT.Q8_0: [0], QT.Q4_0: [0], QT.Q4_1: [0, 2], QT.Q5_0: [0], QT.Q5_1: [0, 2],
                 QT.Q4_K: [0, 2], QT.Q5_K: [0, 2], QT.Q6_K: [208], QT.Q2_K: [80, 82],
                 QT.Q3_K: [108]}

LAYER_MATRICES = {  # name: (rows, cols) in units of (dim, hidden)
    "attn_q": ("dim", "dim"), "attn_k": ("dim", "dim"), "attn_v": ("dim", "dim"),
    "attn_output": ("dim", "dim"), "ffn_gate": ("hidden", "dim"),
    "ffn_down": ("dim", "hidden"), "ffn_up": ("hidden", "dim"),
}


def random_blocks(qtype: QT, rows: int, cols: int, rng: np.random.Generator,
                  scale: tuple[float, float] = (0.001, 0.1)) -> np.ndarray:
    """rows x cols values of a block type as random bytes (rows, row bytes), each f16
    scale field replaced by a random value of magnitude in `scale`, either sign."""
    block, size = GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, size=(rows * cols // block, size), dtype=np.uint8)
    for off in SCALE_OFFSETS[qtype]:
        v = rng.uniform(*scale, len(raw)) * rng.choice([-1, 1], len(raw))
        raw[:, off:off + 2] = v.astype(np.float16).view(np.uint8).reshape(-1, 2)
    return raw.reshape(rows, -1)



def random_matrix(qtype: QT, rows: int, cols: int, rng: np.random.Generator) -> np.ndarray:
    """rows x cols random weights of any type as bytes: normal values for F32, F16 and
    BF16 (the top half of each float32), random blocks (random_blocks) for the rest."""
    if qtype == QT.F32:
        return rng.standard_normal((rows, cols)).astype(np.float32).view(np.uint8)
    if qtype == QT.F16:
        return rng.standard_normal((rows, cols)).astype(np.float16).view(np.uint8)
    if qtype == QT.BF16:
        return (rng.standard_normal((rows, cols)).astype(np.float32).view(np.uint32) >> 16) \
            .astype(np.uint16).view(np.uint8)
    return random_blocks(qtype, rows, cols, rng)


def _matrix(w: gguf.GGUFWriter, name: str, a: np.ndarray, qtype: QT,
            rng: np.random.Generator) -> None:
    if qtype == QT.F32:
        w.add_tensor(name, a.astype(np.float32))
    elif qtype in (QT.Q2_K, QT.Q3_K, QT.Q4_K, QT.Q5_K, QT.Q6_K):
        # random blocks: the package cannot quantize K-quants
        rows, cols = a.shape
        raw = random_blocks(qtype, rows, cols, rng, (2e-4, 1e-3))
        w.add_tensor(name, raw, raw_dtype=qtype)
    else:
        w.add_tensor(name, gguf.quants.quantize(a.astype(np.float32), qtype), raw_dtype=qtype)


def write_llama(path: Path, qtype: QT = QT.Q8_0, *, seed: int = 0, dim: int = 64,
                hidden: int = 128, layers: int = 2, heads: int = 4, vocab: int = 64,
                ctx: int = 32, nan_token: int | None = None,
                types: dict[str, QT] | None = None) -> Path:
    """Write the model; token_embd is F32, every other matrix `qtype` (or
    types[name] for a tensor name such as "blk.0.attn_q.weight"; K-quants get random
    blocks, the package cannot quantize them). With nan_token,
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
    # a SentencePiece-style vocabulary: <unk>, <s>, </s>, then plain pieces
    w.add_tokenizer_model("llama")
    w.add_token_list(["<unk>", "<s>", "</s>"] + [f"t{i}" for i in range(3, vocab)])
    w.add_token_scores([0.0] * vocab)
    w.add_token_types([2, 3, 3] + [1] * (vocab - 3))
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    embd = rng.standard_normal((vocab, dim)).astype(np.float32)
    if nan_token is not None:
        embd[nan_token] = np.nan
    w.add_tensor("token_embd.weight", embd)
    w.add_tensor("output_norm.weight", np.ones(dim, np.float32))
    _matrix(w, "output.weight", rng.standard_normal((vocab, dim)) * 0.2,
            types.get("output.weight", qtype), rng)
    for layer in range(layers):
        w.add_tensor(f"blk.{layer}.attn_norm.weight", np.ones(dim, np.float32))
        w.add_tensor(f"blk.{layer}.ffn_norm.weight", np.ones(dim, np.float32))
        for short, (r, c) in LAYER_MATRICES.items():
            name = f"blk.{layer}.{short}.weight"
            a = rng.standard_normal((size[r], size[c])) / np.sqrt(size[c])
            _matrix(w, name, a, types.get(name, qtype), rng)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path
