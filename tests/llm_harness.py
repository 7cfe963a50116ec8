"""Helpers for the model tests: build the host harness (tests/host/llm_main.c with
kernel/llm under ASan/UBSan) and run it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
from hostcc import host_binary

LLM_SOURCES = [
    "kernel/llm/gguf.c", "kernel/llm/arch.c", "kernel/llm/model.c", "kernel/llm/llama2c.c",
    "kernel/llm/quant.c", "kernel/llm/ops.c", "kernel/llm/ops_par.c", "kernel/llm/ops_sse2.c",
    "kernel/llm/forward.c", "kernel/llm/kv.c",
    "kernel/llm/wt_legacy.c", "kernel/llm/wt_legacy_sse2.c",
    "kernel/llm/wt_kquant.c", "kernel/llm/wt_kquant_sse2.c",
    "kernel/llm/wt_bf16.c", "kernel/llm/wt_bf16_sse2.c",
    "kernel/llm/ops_avx2.c", "kernel/llm/wt_legacy_avx2.c", "kernel/llm/wt_kquant_avx2.c",
    "kernel/llm/wt_bf16_avx2.c",
]

# Both tokenizers (SentencePiece and byte-level BPE) and the Unicode classes they use.
TOKENIZER_SOURCES = ["kernel/llm/tokenizer.c", "kernel/llm/tokenizer_bpe.c",
                     "kernel/llm/tokenizer_unicode.c"]


def harness(sanitize: bool = True) -> Path:
    return host_binary("llm_main" if sanitize else "llm_main_fast",
                       LLM_SOURCES + ["tests/host/llm_main.c"], sanitize=sanitize)


def run(model: Path | str, *args: str | int, scalar: bool = False, batch: bool = False,
        sanitize: bool = True, check: bool = True) -> subprocess.CompletedProcess[str]:
    flags = (["--scalar"] if scalar else []) + (["--batch"] if batch else [])
    cmd = [str(harness(sanitize))] + flags + [str(model)] + [str(a) for a in args]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return proc


def logits(model: Path | str, tokens: list[int], **kw) -> np.ndarray:
    out = run(model, "logits", *tokens, **kw).stdout
    return np.array([[float(x) for x in line.split()] for line in out.strip().splitlines()])


def greedy(model: Path | str, prompt: list[int], steps: int, **kw) -> list[int]:
    out = run(model, "greedy", steps, *prompt, **kw).stdout
    return [int(x) for x in out.split()]


def info(model: Path | str, **kw) -> dict[str, str]:
    words = run(model, "info", **kw).stdout.split()
    return dict(zip(words[0::2], words[1::2]))


def assert_batch_is_exact(model: Path | str, tokens: list[int], **kw) -> None:
    """model_forward_batch over `tokens` gives, to the last bit, the logits of the last
    token that model_forward gives token by token, and the same greedy run after it."""
    one_by_one = run(model, "logits", *tokens, **kw).stdout.strip().splitlines()[-1]
    batched = run(model, "logits", *tokens, batch=True, **kw).stdout.strip()
    assert batched == one_by_one
    assert run(model, "greedy", 24, *tokens, batch=True, **kw).stdout == \
        run(model, "greedy", 24, *tokens, **kw).stdout
