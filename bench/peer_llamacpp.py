"""Inference benchmark with the peer side by side: prompt and generation tokens/s of
(a) the cllm kernel in QEMU (TCG), (b) the same engine built for the host and
(c) llama.cpp through llama-cpp-python, on the same models, the same prompt token
ids and the same token counts; every engine single-threaded, medians over runs.

Run: .venv/bin/python bench/peer_llamacpp.py [--runs N] [--kernel ELF] MODEL...
The peer needs the `peer` extra (pip install -e '.[peer]'); without it its column
reads "-". The host engine is timed by bench/llm_bench.py (its harness times the
forward passes with the engine's own clock). The kernel is timed through its
HTTP API: one completion whose prompt is the same token ids, `ignore_eos`, greedy,
read from the response's `timings` (the kernel's clock). llama.cpp is timed by its
own counters (llama_perf_context: the C side of the decode calls, so the Python
binding's per-call overhead is not in it) and, for reference, by the wall clock
around the Python calls. Its KV cache is F32 (as cllm's), flash attention off, and
the prompt is one batch of n_prompt tokens (llama.cpp's ordinary prompt path).
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
    """One prompt + greedy generation on a loaded llama_cpp.Llama; tokens/s."""
    import llama_cpp
    import numpy as np

    llm.reset()  # type: ignore[attr-defined]
    llama_cpp.llama_perf_context_reset(llm.ctx)  # type: ignore[attr-defined]
    llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(llm.ctx), True)  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    llm.eval(ids)  # type: ignore[attr-defined]
    t1 = time.perf_counter()
    for _ in range(n_gen):
        last = llm.scores[llm.n_tokens - 1]  # type: ignore[attr-defined]
        llm.eval([int(np.argmax(last))])  # type: ignore[attr-defined]
    t2 = time.perf_counter()
    perf = llama_cpp.llama_perf_context(llm.ctx)  # type: ignore[attr-defined]
    return {"prompt": perf.n_p_eval / (perf.t_p_eval_ms / 1e3) if perf.t_p_eval_ms else 0.0,
            "gen": perf.n_eval / (perf.t_eval_ms / 1e3) if perf.t_eval_ms else 0.0,
            "prompt_wall": len(ids) / (t1 - t0), "gen_wall": n_gen / (t2 - t1)}


def llama_cpp_rates(model: Path, n_prompt: int, n_gen: int, runs: int) -> Rates | None:
    """Medians over `runs` of llama_cpp_once; None if llama-cpp-python is missing."""
    try:
        import llama_cpp
    except ImportError:
        return None
    llm = llama_cpp.Llama(str(model), n_ctx=n_prompt + n_gen + 8, n_threads=1, n_threads_batch=1,
                          n_batch=n_prompt, type_k=GGML_TYPE_F32, type_v=GGML_TYPE_F32,
                          flash_attn=False, verbose=False)
    ids = llm_bench.prompt_ids(n_prompt, llm.n_vocab())
    llama_cpp_once(llm, ids, 2)  # warm-up: first-touch of the weights
    rs = [llama_cpp_once(llm, ids, n_gen) for _ in range(runs)]
    llm.close()
    return {k: statistics.median(r[k] for r in rs) for k in rs[0]}


def host_rates(model: Path, n_prompt: int, n_gen: int, runs: int) -> Rates:
    """Medians over `runs` of the host build (SSE2 kernels) through llm_bench."""
    rs = [llm_bench.bench_host(model, n_prompt, n_gen) for _ in range(runs)]
    return {"prompt": statistics.median(float(r["prompt_tok_s"]) for r in rs),  # type: ignore[arg-type]
            "gen": statistics.median(float(r["gen_tok_s"]) for r in rs),  # type: ignore[arg-type]
            "ops": str(rs[0]["engine"]).split()[-1]}  # type: ignore[dict-item]


def _vocab(model: Path) -> int:
    exe = llm_bench.host_binary("llm_main_fast", llm_bench.SOURCES, sanitize=False)
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


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def _ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or not b else f"{a / b:.2f}x"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", type=Path, nargs="+")
    ap.add_argument("--runs", type=int, default=5, help="runs per engine (median)")
    ap.add_argument("--prompt-tokens", type=int, default=32)
    ap.add_argument("--gen-tokens", type=int, default=64)
    ap.add_argument("--kernel", type=Path, default=None, help="also time this kernel ELF in QEMU")
    ap.add_argument("--kernel-runs", type=int, default=3)
    ap.add_argument("--kernel-max-mb", type=int, default=64,
                    help="models larger than this get --kernel-small tokens in QEMU")
    ap.add_argument("--kernel-small", type=str, default="8,16", help="prompt,gen tokens for those")
    args = ap.parse_args()
    print("| model | engine | prompt tok/s | gen tok/s | host / engine (gen) |")
    print("|---|---|---|---|---|")
    for model in args.models:
        n_p, n_g = args.prompt_tokens, args.gen_tokens
        host = host_rates(model, n_p, n_g, args.runs)
        peer = llama_cpp_rates(model, n_p, n_g, args.runs)
        rows = [(f"cllm host ({host['ops']})", host["prompt"], host["gen"])]
        if peer is not None:
            rows.append(("llama.cpp, C counters", peer["prompt"], peer["gen"]))
            rows.append(("llama.cpp, Python wall", peer["prompt_wall"], peer["gen_wall"]))
        if args.kernel is not None:
            kp, kg = n_p, n_g
            if model.stat().st_size > args.kernel_max_mb << 20:
                kp, kg = (int(x) for x in args.kernel_small.split(","))
            k = kernel_rates(args.kernel, model, kp, kg, args.kernel_runs)
            rows.append((f"cllm kernel, QEMU TCG ({kp}+{kg} tokens)", k["prompt"], k["gen"]))
        for name, p, g in rows:
            print(f"| {model.name} | {name} | {_fmt(p)} | {_fmt(g)} | {_ratio(host['gen'], g)} |",
                  flush=True)
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                         text=True, check=False).stdout.strip()
    print(f"\ntree {rev}, {platform.python_version()}, prompt {args.prompt_tokens} "
          f"gen {args.gen_tokens} tokens, {args.runs} runs")


if __name__ == "__main__":
    main()
