"""The byte-level BPE tokenizer in the kernel: a tiny llama model (random F32 weights)
carrying GPT-2's vocabulary and merges boots in QEMU, and the HTTP API's /tokenize and
/detokenize give what the host build of the same tokenizer gives (tests/host/tok_main.c,
itself checked against llama.cpp's test vectors in test_tokenizer.py)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from test_api_qemu import Guest, _boot
from test_tokenizer import (
    copy_tokenizer_kv,
    tok_main,  # noqa: F401  (the host harness fixture)
)

from cllm_build.gguf_export import LlamaConfig, expected_shapes

pytestmark = pytest.mark.qemu

TEXTS = ["Hello world", "I'm sure they've 12345 apples!", "héllo 日本語 😀\n\n  end",
         "<|endoftext|> as special"]


def gpt2_model(models_dir: Path, out: Path) -> Path:
    import gguf

    vocab = gguf.GGUFReader(str(models_dir / "ggml-vocab-gpt-2.gguf"))
    tokens = vocab.fields["tokenizer.ggml.tokens"].contents()
    cfg = LlamaConfig(dim=16, hidden_dim=32, n_layers=1, n_heads=2, n_kv_heads=2,
                      vocab_size=len(tokens), seq_len=64)
    w = gguf.GGUFWriter(str(out), "llama")
    w.add_context_length(cfg.seq_len)
    w.add_embedding_length(cfg.dim)
    w.add_block_count(cfg.n_layers)
    w.add_feed_forward_length(cfg.hidden_dim)
    w.add_head_count(cfg.n_heads)
    w.add_head_count_kv(cfg.n_kv_heads)
    w.add_rope_dimension_count(cfg.head_dim)
    w.add_layer_norm_rms_eps(1e-5)
    copy_tokenizer_kv(models_dir / "ggml-vocab-gpt-2.gguf", w)
    rng = np.random.default_rng(0)
    for name, shape in expected_shapes(cfg, tied=True).items():
        w.add_tensor(name, (rng.standard_normal(shape) * 0.1).astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return out


def test_kernel_bpe_tokenizer_matches_host(kernel_elf, models_dir, tok_main, tmp_path):  # noqa: F811
    model = gpt2_model(models_dir, tmp_path / "gpt2-tiny.gguf")
    stdin = "".join(f"2 {t.encode().hex()}\n" for t in TEXTS)
    proc = subprocess.run([str(tok_main), "gguf", str(model)], input=stdin, capture_output=True,
                          text=True, check=True, timeout=120)
    want = [[int(x) for x in line.partition("|")[0].split()] for line in proc.stdout.splitlines()]
    assert want[-1][0] == 50256  # <|endoftext|> parsed as a special token
    vm, port = _boot(kernel_elf, models_dir, model=str(model))
    try:
        guest = Guest(vm, port)
        for text, ids in zip(TEXTS, want):
            status, body = guest.call("POST", "/tokenize", {"content": text})
            assert status == 200 and json.loads(body)["tokens"] == ids, (text, body)
            status, body = guest.call("POST", "/detokenize", {"tokens": ids})
            assert status == 200, body
            # the special token decodes to nothing, everything else to the text
            assert json.loads(body)["content"] == text.replace("<|endoftext|>", ""), body
    finally:
        vm.close()
