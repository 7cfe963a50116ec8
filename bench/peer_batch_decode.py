"""llama.cpp's aggregate decode rate with S sequences at once against one sequence: the
peer of issue 12's row "aggregate generation tokens/s, 64 clients / 1 client" (the
engine's side is `bench/kv_bench.py throughput`).

Each sequence gets the same short prompt ("Once upon a time", evaluated for all
sequences in one batch, not timed); then --tokens decode steps, each one llama_decode of
S tokens (one per sequence, each at its own position) followed by a greedy argmax of
every sequence's logits, are timed together (after one untimed warm-up step): aggregate tokens/s = S x tokens / seconds.
One thread (--threads), F32 KV cache (as the engine's harness pool), one context per S
with a unified KV cache. Medians over --runs; the ratio is against the first S.

Run with a Python that has llama-cpp-python (the `peer` extra):
  PY bench/peer_batch_decode.py MODEL [--seqs 1,8,64] [--tokens 16] [--runs 3] [--threads 1]
Prints Markdown for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import ctypes
import statistics
import sys
import time
from pathlib import Path

import llama_cpp as L
import numpy as np

PROMPT = "Once upon a time"
GGML_TYPE_F32 = 0


def tokenize(vocab, text: str) -> list[int]:
    raw = text.encode()
    buf = (L.llama_token * 64)()
    n = L.llama_tokenize(vocab, raw, len(raw), buf, 64, True, False)
    if n < 0:
        raise RuntimeError("prompt too long")
    return list(buf[:n])


def one_rate(model, n_vocab: int, prompt: list[int], seqs: int, tokens: int, threads: int) -> float:
    cp = L.llama_context_default_params()
    cp.n_ctx = seqs * (len(prompt) + tokens + 16)
    cp.n_batch = cp.n_ubatch = max(seqs * len(prompt), seqs, 64)
    cp.n_seq_max = seqs
    cp.n_threads = cp.n_threads_batch = threads
    cp.type_k = cp.type_v = GGML_TYPE_F32
    cp.kv_unified = True
    ctx = L.llama_init_from_model(model, cp)
    if not ctx:
        raise RuntimeError(f"no context for {seqs} sequences")
    batch = L.llama_batch_init(cp.n_batch, 0, 1)
    try:
        def add(i: int, tok: int, pos: int, seq: int, logits: bool) -> None:
            batch.token[i], batch.pos[i] = tok, pos
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = seq
            batch.logits[i] = logits

        n = 0
        for s in range(seqs):
            for p, tok in enumerate(prompt):
                add(n, tok, p, s, p == len(prompt) - 1)
                n += 1
        batch.n_tokens = n
        if L.llama_decode(ctx, batch) != 0:
            raise RuntimeError("prompt decode failed")

        def argmax(i: int) -> int:
            ptr = L.llama_get_logits_ith(ctx, i)
            return int(np.argmax(np.ctypeslib.as_array(ctypes.cast(ptr, ctypes.POINTER(ctypes.c_float)),
                                                       shape=(n_vocab,))))

        nxt = [argmax(len(prompt) * (s + 1) - 1) for s in range(seqs)]
        t0 = 0.0
        for step in range(tokens + 1):  # the first step warms up (graph, buffers): not timed
            if step == 1:
                t0 = time.perf_counter()
            for s in range(seqs):
                add(s, nxt[s], len(prompt) + step, s, True)
            batch.n_tokens = seqs
            if L.llama_decode(ctx, batch) != 0:
                raise RuntimeError("decode failed")
            nxt = [argmax(s) for s in range(seqs)]
        return seqs * tokens / (time.perf_counter() - t0)
    finally:
        L.llama_batch_free(batch)
        L.llama_free(ctx)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--seqs", default="1,8,64")
    ap.add_argument("--tokens", type=int, default=16)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    L.llama_backend_init()
    mp = L.llama_model_default_params()
    model = L.llama_model_load_from_file(str(a.model).encode(), mp)
    if not model:
        print(f"{a.model}: cannot load", file=sys.stderr)
        return 1
    vocab = L.llama_model_get_vocab(model)
    n_vocab = L.llama_vocab_n_tokens(vocab)
    prompt = tokenize(vocab, PROMPT)
    seqs = [int(x) for x in a.seqs.split(",")]
    rates: dict[int, list[float]] = {s: [] for s in seqs}
    for run in range(a.runs):
        for s in seqs if run % 2 == 0 else seqs[::-1]:  # alternating order
            rates[s].append(one_rate(model, n_vocab, prompt, s, a.tokens, a.threads))
    info = L.llama_print_system_info().decode().strip()
    print(f"model {a.model.name}, llama-cpp-python {L.__version__}, {a.threads} thread(s), "
          f"{a.tokens} greedy tokens per sequence, F32 KV cache; {info}\n")
    base = statistics.median(rates[seqs[0]])
    print(f"| sequences | aggregate tokens/s, median ({a.runs} runs) | ÷ {seqs[0]} |")
    print("|---|---|---|")
    for s in seqs:
        m = statistics.median(rates[s])
        print(f"| {s} | {m:.1f} ({', '.join(f'{x:.1f}' for x in rates[s])}) | {m / base:.2f} |")
    L.llama_model_free(model)
    return 0


if __name__ == "__main__":
    sys.exit(main())
