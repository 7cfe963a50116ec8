"""Inference benchmark: prompt and generation tokens/s of the cllm engine (host
build, -O2, SSE2 and scalar kernels; optionally the kernel itself in QEMU/TCG)
against llama.cpp through llama-cpp-python when that is installed.

Run through `cllm bench MODEL...` or `python bench/llm_bench.py MODEL...`. Every
engine is single-threaded unless bench_host gets threads (the harness's --threads:
the matrix products split across worker threads as the kernel splits them across
CPUs); the prompt is the same pseudo-random token ids for all.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from hostcc import host_binary
from llm_harness import LLM_SOURCES

SOURCES = LLM_SOURCES + ["tests/host/llm_main.c"]
_BENCH = re.compile(r"prompt (\d+) tokens ([\d.]+) ms generate (\d+) tokens ([\d.]+) ms ops (\w+)")


def prompt_ids(n: int, vocab: int) -> list[int]:
    """n deterministic token ids in [3, vocab): BOS first."""
    x, out = 12345, [1]
    while len(out) < n:
        x = (1103515245 * x + 12345) % (1 << 31)
        out.append(3 + x % (vocab - 3))
    return out


def _row(model: Path, engine: str, n_p: int, t_p: float, n_g: int, t_g: float) -> dict[str, object]:
    return {"model": model.name, "engine": engine, "prompt_tok_s": n_p / t_p if t_p else 0.0,
            "gen_tok_s": n_g / t_g if t_g else 0.0, "n_prompt": n_p, "n_gen": n_g}


def bench_host(model: Path, n_prompt: int, n_gen: int, scalar: bool = False,
               batch: bool = True, threads: int = 1, avx2: bool = False) -> dict[str, object]:
    """The host build of the engine on `threads` threads; the prompt goes through
    model_forward_batch as in the kernel, or token by token with batch=False; avx2
    picks the AVX2 kernel set (the host CPU must have it)."""
    exe = host_binary("llm_main_fast", SOURCES, sanitize=False)
    info = subprocess.run([str(exe), str(model), "info"], capture_output=True, text=True, check=True).stdout
    vocab = int(info.split("vocab ")[1].split()[0])
    flags = ((["--scalar"] if scalar else []) + (["--avx2"] if avx2 else []) + (["--batch"] if batch else [])
             + ["--threads", str(threads)])
    cmd = [str(exe)] + flags + [str(model), "bench", str(n_gen)]
    out = subprocess.run(cmd + [str(t) for t in prompt_ids(n_prompt, vocab)], capture_output=True,
                         text=True, check=True).stdout
    m = _BENCH.search(out)
    if not m:
        raise RuntimeError(f"unexpected harness output: {out}")
    engine = f"cllm host {m.group(5)}" + ("" if batch else ", prompt token by token")
    engine += f", {threads} threads" if threads > 1 else ""
    return _row(model, engine, int(m.group(1)), float(m.group(2)) / 1e3,
                int(m.group(3)), float(m.group(4)) / 1e3)


def bench_llama_cpp(model: Path, n_prompt: int, n_gen: int) -> dict[str, object] | None:
    try:
        import llama_cpp
    except ImportError:
        return None
    import numpy as np

    llm = llama_cpp.Llama(str(model), n_ctx=n_prompt + n_gen + 8, n_threads=1, n_threads_batch=1,
                          n_batch=n_prompt, verbose=False)
    n_vocab = llm.n_vocab()
    toks = prompt_ids(n_prompt, n_vocab)

    def last_logits() -> np.ndarray:
        return np.ctypeslib.as_array(llm._ctx.get_logits_ith(-1), shape=(n_vocab,))

    t0 = time.perf_counter()
    llm.eval(toks)
    t1 = time.perf_counter()
    for _ in range(n_gen):
        llm.eval([int(np.argmax(last_logits()))])
    t2 = time.perf_counter()
    return _row(model, f"llama.cpp {llama_cpp.__version__} 1 thread", n_prompt, t1 - t0, n_gen, t2 - t1)


def bench_qemu(elf: Path, model: Path, n_gen: int, cpu: str | None = None) -> dict[str, object]:
    """The kernel's own forward pass in QEMU (TCG), timed by the kernel's clock."""
    from cllm_build.qemu import Module, Qemu, QemuSpec, default_memory_mib

    spec = QemuSpec(elf=elf, modules=(Module(model, "model"),), cmdline=f"cllm.llm_check={n_gen}", cpu=cpu,
                    memory_mib=default_memory_mib(model))
    with Qemu(spec) as vm:
        m = vm.wait_for_line(r"check (\d+) forward passes in (\d+) us", 3600)
    return _row(model, f"cllm kernel qemu-tcg {cpu or 'default'}", 0, 0.0, int(m.group(1)),
                int(m.group(2)) / 1e6)


def bench(models: list[Path], n_prompt: int = 32, n_gen: int = 64, *, peer: bool = True,
          kernel: Path | None = None) -> list[dict[str, object]]:
    rows = []
    for model in models:
        rows.append(bench_host(model, n_prompt, n_gen))
        rows.append(bench_host(model, n_prompt, n_gen, batch=False))
        rows.append(bench_host(model, n_prompt, n_gen, scalar=True))
        if peer:
            r = bench_llama_cpp(model, n_prompt, n_gen)
            if r:
                rows.append(r)
        if kernel is not None:
            rows.append(bench_qemu(kernel, model, n_gen))
    return rows


def format_row(r: dict[str, object]) -> str:
    p = f"{r['prompt_tok_s']:9.1f}" if r["n_prompt"] else "        -"
    return f"| {r['model']:<28} | {r['engine']:<32} | {p} | {r['gen_tok_s']:9.1f} |"


if __name__ == "__main__":
    for row in bench([Path(p) for p in sys.argv[1:]]):
        print(format_row(row))
