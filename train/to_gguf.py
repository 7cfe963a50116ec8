"""Export a trained model and its tokenizer to GGUF through the project's one
writer, cllm_build.gguf_export.write_llama_gguf. train.py calls `export_gguf()`;
the model's weights are already in the interleaved RoPE layout llama.cpp's `llama`
arch expects, so they are written as they are.
"""

from __future__ import annotations

from pathlib import Path

import bpe
import sentencepiece as spm
from llama_torch import Llama

from cllm_build.gguf_export import LlamaConfig, write_llama_gguf

MODEL_NAME = "cllm-default"


def export_gguf(model: Llama, sp: spm.SentencePieceProcessor, path: Path, qtype: str,
                extra_kv: dict[str, str | int]) -> Path:
    c = model.cfg
    cfg = LlamaConfig(dim=c.dim, hidden_dim=c.hidden_dim, n_layers=c.n_layers,
                      n_heads=c.n_heads, n_kv_heads=c.n_kv_heads, vocab_size=c.vocab_size,
                      seq_len=c.seq_len, rms_eps=c.rms_eps, rope_theta=c.rope_theta)
    tokens, scores, types = bpe.gguf_vocab(sp)
    return write_llama_gguf(path, cfg, model.gguf_tensors(), tokens, scores, types,
                            qtype=qtype, name=MODEL_NAME, bos_id=bpe.BOS_ID,
                            eos_id=bpe.EOS_ID, unk_id=bpe.UNK_ID,
                            extra_kv=extra_kv)
