"""Small GGUF files of each architecture (llama, qwen2, gemma3) with random F32
weights, written with the `gguf` package, for tests of the architecture bindings
and the forward-pass options they set: Q/K/V biases, per-head Q/K norms, post norms,
a head size other than dim / n_heads, sliding-window layers with their own RoPE
base, Llama 3 frequency divisors, linear RoPE scaling, logit soft-capping. `drop` leaves tensors out and `arch_name`
overrides general.architecture, for the loader's refusals."""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np

DIM, HIDDEN, HEADS, KV_HEADS, VOCAB, CTX = 48, 96, 4, 2, 64, 64
GEMMA_HEAD = 32   # gemma3's key_length: n_heads * head size (128) differs from dim (48)
GEMMA_LAYERS = 7  # layer 5 global, the others sliding
GEMMA_WINDOW = 5


def write(path: Path, arch: str, *, seed: int = 0, drop: tuple[str, ...] = (),
          arch_name: str | None = None, softcap: float = 0.0, rope_linear: float = 0.0) -> Path:
    """With softcap, <arch>.final_logit_softcapping; with rope_linear, linear RoPE
    scaling by that factor."""
    rng = np.random.default_rng(seed)
    gemma = arch == "gemma3"
    hd = GEMMA_HEAD if gemma else DIM // HEADS
    layers = GEMMA_LAYERS if gemma else 2
    w = gguf.GGUFWriter(str(path), arch_name or arch)
    p = arch_name or arch
    w.add_uint32(f"{p}.context_length", CTX)
    w.add_uint32(f"{p}.embedding_length", DIM)
    w.add_uint32(f"{p}.feed_forward_length", HIDDEN)
    w.add_uint32(f"{p}.block_count", layers)
    w.add_uint32(f"{p}.attention.head_count", HEADS)
    w.add_uint32(f"{p}.attention.head_count_kv", KV_HEADS)
    w.add_float32(f"{p}.attention.layer_norm_rms_epsilon", 1e-6)
    w.add_float32(f"{p}.rope.freq_base", 1e6 if gemma else 5e5)
    # a SentencePiece vocabulary of VOCAB pieces, so that the kernel serves the model
    w.add_tokenizer_model("llama")
    w.add_token_list(["<unk>", "<s>", "</s>"] + [f"\u2581t{i}" for i in range(3, VOCAB)])
    w.add_token_scores([0.0] * 3 + [-float(i) for i in range(3, VOCAB)])
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    if softcap:
        w.add_float32(f"{p}.final_logit_softcapping", softcap)
    if rope_linear:
        w.add_string(f"{p}.rope.scaling.type", "linear")
        w.add_float32(f"{p}.rope.scaling.factor", rope_linear)
    if gemma:
        w.add_uint32(f"{p}.attention.key_length", hd)
        w.add_uint32(f"{p}.attention.value_length", hd)
        w.add_uint32(f"{p}.attention.sliding_window", GEMMA_WINDOW)

    def mat(rows: int, cols: int) -> np.ndarray:
        return (rng.standard_normal((rows, cols)) / np.sqrt(cols)).astype(np.float32)

    def vec(n: int, base: float = 1.0) -> np.ndarray:
        return (base + 0.1 * rng.standard_normal(n)).astype(np.float32)

    t: dict[str, np.ndarray] = {
        "token_embd.weight": (rng.standard_normal((VOCAB, DIM)) * (0.1 if gemma else 1)).astype(np.float32),
        "output_norm.weight": vec(DIM),
    }
    if arch == "llama":
        t["rope_freqs.weight"] = (1 + rng.random(hd // 2) * 3).astype(np.float32)
    qd, kvd = HEADS * hd, KV_HEADS * hd
    for i in range(layers):
        b = f"blk.{i}."
        t.update({b + "attn_norm.weight": vec(DIM), b + "attn_q.weight": mat(qd, DIM),
                  b + "attn_k.weight": mat(kvd, DIM), b + "attn_v.weight": mat(kvd, DIM),
                  b + "attn_output.weight": mat(DIM, qd), b + "ffn_norm.weight": vec(DIM),
                  b + "ffn_gate.weight": mat(HIDDEN, DIM), b + "ffn_up.weight": mat(HIDDEN, DIM),
                  b + "ffn_down.weight": mat(DIM, HIDDEN)})
        if arch == "qwen2":
            t.update({b + "attn_q.bias": vec(qd, 0), b + "attn_k.bias": vec(kvd, 0),
                      b + "attn_v.bias": vec(kvd, 0)})
        if gemma:
            t.update({b + "attn_q_norm.weight": vec(hd), b + "attn_k_norm.weight": vec(hd),
                      b + "post_attention_norm.weight": vec(DIM),
                      b + "post_ffw_norm.weight": vec(DIM)})
    for name, a in t.items():
        if name not in drop:
            w.add_tensor(name, a)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path
