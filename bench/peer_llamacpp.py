"""Inference benchmark with the peer side by side: prompt and generation tokens/s of
(a) the cllm kernel in QEMU (TCG), (b) the same engine built for the host and
(c) llama.cpp through llama-cpp-python, on the same models, the same prompt token
ids and the same token counts; every engine single-threaded (or on --threads N),
medians over runs.

Run: .venv/bin/python bench/peer_llamacpp.py [--runs N] [--threads N] [--avx2] [--kernel ELF] MODEL...
MODEL is a GGUF path or a pulled model's name (`smollm2-135m-instruct`, `gemma3-270m`:
the file as published, from the pull cache).
With --threads N the host engine (llm_main --threads) and llama.cpp both run on N
threads, prompt and generation; the kernel column is one CPU.
The peer needs the `peer` extra (pip install -e '.[peer]'); without it its column
reads "-". The host engine is timed by bench/llm_bench.py (its harness times the
forward passes with the engine's own clock). The kernel is timed through its
HTTP API: one completion whose prompt is the same token ids, `ignore_eos`, greedy,
read from the response's `timings` (the kernel's clock). llama.cpp is driven through
the binding's C API (llama_decode, then llama_get_logits_ith, which waits for the
result), timed around those calls, so the high-level wrapper's per-token Python work
is not in it. Its KV cache is F32 (as cllm's), flash attention off, and the prompt is
one batch of n_prompt tokens (llama.cpp's ordinary prompt path; cllm runs the prompt
one token at a time). The host engine and llama.cpp run alternately, one run of each
per round, and the table also gives the median of the per-round ratios.
"""

from __future__ import annotations

import argparse
import http.client
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import llm_bench

GGML_TYPE_F32 = 0  # ggml_type value for the KV cache element type

Rates = dict[str, float]


def llama_cpp_once(llm: object, ids: list[int], n_gen: int) -> Rates:
    """One prompt (one llama_decode of all ids) and n_gen greedy steps (one
    llama_decode each) on a loaded llama_cpp.Llama, through the C API; each step is
    timed from the decode call to its logits being read (llama_get_logits_ith waits
    for the computation), the argmax included, as in cllm's harness."""
    import ctypes

    import llama_cpp
    import numpy as np

    ctx = llm.ctx  # type: ignore[attr-defined]
    n_vocab = llm.n_vocab()  # type: ignore[attr-defined]
    llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(ctx), True)

    def step(toks: list[int], pos: int) -> int:
        arr = (llama_cpp.llama_token * len(toks))(*toks)
        batch = llama_cpp.llama_batch_init(len(toks), 0, 1)
        try:
            batch.n_tokens = len(toks)
            for i, t in enumerate(toks):
                batch.token[i] = arr[i]
                batch.pos[i] = pos + i
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = 0
                batch.logits[i] = i == len(toks) - 1
            if llama_cpp.llama_decode(ctx, batch) != 0:
                raise RuntimeError("llama_decode failed")
            lg = llama_cpp.llama_get_logits_ith(ctx, -1)
            return int(np.argmax(np.ctypeslib.as_array(ctypes.cast(lg, ctypes.POINTER(ctypes.c_float)),
                                                       shape=(n_vocab,))))
        finally:
            llama_cpp.llama_batch_free(batch)

    t0 = time.perf_counter()
    tok = step(ids, 0)
    t1 = time.perf_counter()
    for i in range(n_gen):
        tok = step([tok], len(ids) + i)
    t2 = time.perf_counter()
    return {"prompt": len(ids) / (t1 - t0), "gen": n_gen / (t2 - t1)}


def load_llama_cpp(model: Path, n_ctx: int, threads: int = 1) -> object | None:
    """llama_cpp.Llama on `threads` threads with an F32 KV cache; None if not installed."""
    try:
        import llama_cpp
    except ImportError:
        return None
    return llama_cpp.Llama(str(model), n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads,
                           n_batch=n_ctx, type_k=GGML_TYPE_F32, type_v=GGML_TYPE_F32,
                           flash_attn=False, verbose=False)


def host_once(model: Path, n_prompt: int, n_gen: int, threads: int = 1,
              avx2: bool = False) -> tuple[Rates, str]:
    """One run of the host build (SSE2 kernels, or AVX2) through llm_bench; rates and
    kernel set."""
    r = llm_bench.bench_host(model, n_prompt, n_gen, threads=threads, avx2=avx2)
    return ({"prompt": float(r["prompt_tok_s"]), "gen": float(r["gen_tok_s"])},  # type: ignore[arg-type]
            str(r["engine"]).split(",")[0].split()[-1])


def host_and_peer(model: Path, n_prompt: int, n_gen: int, runs: int,
                  threads: int = 1, avx2: bool = False) -> tuple[Rates, Rates | None, str]:
    """Medians over `runs` of the host engine and llama.cpp, run alternately (one of
    each per round) so that both see the same share of a loaded machine; the
    per-round ratio host/peer of generation rates is kept as well (its median)."""
    llm = load_llama_cpp(model, n_prompt + n_gen + 8, threads)
    ids = llm_bench.prompt_ids(n_prompt, llm.n_vocab()) if llm else []  # type: ignore[attr-defined]
    if llm:
        llama_cpp_once(llm, ids, 2)  # warm-up: first touch of the weights
    hs: list[Rates] = []
    ps: list[Rates] = []
    ops = ""
    for _ in range(runs):
        h, ops = host_once(model, n_prompt, n_gen, threads, avx2)
        hs.append(h)
        if llm:
            p = llama_cpp_once(llm, ids, n_gen)
            p["ratio_gen"] = h["gen"] / p["gen"] if p["gen"] else 0.0
            p["ratio_prompt"] = h["prompt"] / p["prompt"] if p["prompt"] else 0.0
            ps.append(p)
    if llm:
        llm.close()  # type: ignore[attr-defined]
    host = {k: statistics.median(r[k] for r in hs) for k in hs[0]}
    peer = {k: statistics.median(r[k] for r in ps) for k in ps[0]} if ps else None
    return host, peer, ops


def _vocab(model: Path) -> int:
    exe = llm_bench.host_binary("llm_main_fast", list(llm_bench.SOURCES), sanitize=False)
    info = subprocess.run([str(exe), str(model), "info"], capture_output=True, text=True,
                          check=True).stdout
    return int(info.split("vocab ")[1].split()[0])


def kernel_rates(elf: Path, model: Path, n_prompt: int, n_gen: int, runs: int) -> Rates:
    """Medians over `runs` completions on one booted kernel (QEMU TCG, e1000)."""
    from serve_bench import free_port

    from cllm_build import qemu

    ids = llm_bench.prompt_ids(n_prompt, _vocab(model))
    port = free_port()
    spec = qemu.QemuSpec(elf=elf, memory_mib=qemu.default_memory_mib(model), nic="e1000",
                         host_port=port, modules=(qemu.Module(model, "model"),))
    body = json.dumps({"prompt": ids, "max_tokens": n_gen, "temperature": 0, "ignore_eos": True})
    rs = []
    with qemu.Qemu(spec) as vm:
        vm.wait_for_line("cllm: ready", 1200)
        for _ in range(runs):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=7200)
            c.request("POST", "/v1/completions", body=body,
                      headers={"Content-Type": "application/json"})
            r = c.getresponse()
            data = r.read()
            c.close()
            if r.status != 200:
                raise RuntimeError(f"kernel completion: HTTP {r.status}: {data[:200]!r}")
            t = json.loads(data)["timings"]
            if t["prompt_n"] != n_prompt or t["predicted_n"] != n_gen:
                raise RuntimeError(f"kernel completion: unexpected token counts {t}")
            rs.append({"prompt": float(t["prompt_per_second"]), "gen": float(t["predicted_per_second"])})
    return {k: statistics.median(r[k] for r in rs) for k in rs[0]}


def model_path(arg: str) -> Path:
    """A GGUF path as given, or a pulled model's file (tests/model_files.py)."""
    if Path(arg).exists():
        return Path(arg)
    sys.path.insert(0, str(ROOT / "tests"))
    import model_files

    return model_files.find_model(arg)


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def _ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or not b else f"{a / b:.2f}x"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+", help="GGUF paths or pulled model names")
    ap.add_argument("--runs", type=int, default=5, help="runs per engine (median)")
    ap.add_argument("--prompt-tokens", type=int, default=32)
    ap.add_argument("--gen-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1, help="threads of the host engine and llama.cpp")
    ap.add_argument("--avx2", action="store_true", help="the host engine's AVX2 kernel set (else SSE2)")
    ap.add_argument("--kernel", type=Path, default=None, help="also time this kernel ELF in QEMU")
    ap.add_argument("--kernel-runs", type=int, default=3)
    ap.add_argument("--kernel-max-mb", type=int, default=64,
                    help="models larger than this get one run in QEMU (minutes each)")
    args = ap.parse_args()
    print("| model | engine | prompt tok/s | gen tok/s | host gen / engine gen (median of rounds) |")
    print("|---|---|---|---|---|")
    for model in map(model_path, args.models):
        n_p, n_g = args.prompt_tokens, args.gen_tokens
        host, peer, ops = host_and_peer(model, n_p, n_g, args.runs, args.threads, args.avx2)
        rows: list[tuple[str, float, float, str]] = [(f"cllm host ({ops})", host["prompt"],
                                                      host["gen"], "1.00x")]
        if peer is not None:
            rows.append(("llama.cpp (llama-cpp-python C API)", peer["prompt"], peer["gen"],
                         f"{peer['ratio_gen']:.2f}x (prompt {peer['ratio_prompt']:.2f}x)"))
        if args.kernel is not None:
            kruns = 1 if model.stat().st_size > args.kernel_max_mb << 20 else args.kernel_runs
            k = kernel_rates(args.kernel, model, n_p, n_g, kruns)
            rows.append((f"cllm kernel, QEMU TCG ({kruns} run{'s' if kruns > 1 else ''})",
                         k["prompt"], k["gen"],
                         _ratio(host["gen"], k["gen"])))
        for name, p, g, ratio in rows:
            print(f"| {model.name} | {name} | {_fmt(p)} | {_fmt(g)} | {ratio} |", flush=True)
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                         text=True, check=False).stdout.strip()
    print(f"\ntree {rev}, {platform.python_version()}, prompt {args.prompt_tokens} "
          f"gen {args.gen_tokens} tokens, {args.runs} runs, {args.threads} threads")


if __name__ == "__main__":
    main()
