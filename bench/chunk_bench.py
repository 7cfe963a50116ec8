"""Chunked prefill benchmark: how long the running streams wait between tokens while a
long prompt arrives, with the prompt read a chunk per scheduler turn beside their
decode steps (cllm.prefill_chunk) and read whole in one turn (prefill_chunk=0).

The host build of the kernel's scheduler, generation loop and forward pass
(bench/chunk_bench.c, -O2, SSE2 kernels) runs STREAMS greedy streams; once each has 8
tokens a prompt of LONG tokens arrives; the run ends 8 turns after its first token. The
measure is the p99 of the streams' times between tokens over the intervals that overlap
the long prompt's prefill (from its arrival to its first token), chunked / unchunked;
the median over RUNS runs of each is reported, and the long prompt's time to first
token (what chunking costs it).

    python bench/chunk_bench.py [--model GGUF] [--streams 4] [--long 2000] [--runs 3]
                                [--chunks 32,64] [--threads 1]

Without --model the model is the stories110M shape (`cllm synth --shape stories110M`,
random weights) in Q8_0 with its context raised to 4096 positions so the long prompt
fits, written once to build/bench/.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from build_bench import machine
from hostcc import host_binary
from llm_harness import LLM_SOURCES, TOKENIZER_SOURCES

SOURCES = LLM_SOURCES + TOKENIZER_SOURCES + [
    "kernel/llm/generate.c", "kernel/llm/sched.c", "kernel/llm/sampler.c",
    "kernel/llm/gen_param.c", "kernel/llm/grammar.c", "kernel/llm/grammar_compile.c",
    "bench/chunk_bench.c",
]
CONTEXT = 4096  # positions of the synthetic model: a 2,000-token prompt and the streams


def default_model() -> Path:
    """stories110M's shape, Q8_0, context CONTEXT (built once): convert.synth over a
    shape table row added for it."""
    from cllm_build import convert

    out = ROOT / "build" / "bench" / f"synth-stories110M-q8_0-ctx{CONTEXT}.gguf"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    shape = f"stories110M-ctx{CONTEXT}"
    convert.SHAPES[shape] = dataclasses.replace(convert.SHAPES["stories110M"], seq_len=CONTEXT)
    tmp = out.with_suffix(".tmp")
    convert.synth(shape, tmp, qtype="Q8_0")
    tmp.rename(out)
    return out


def p99(xs: list[float]) -> float:
    """The 99th percentile, nearest rank (the largest of fewer than 100 values)."""
    s = sorted(xs)
    return s[max(0, -(-99 * len(s) // 100) - 1)]


def run_once(exe: Path, model: Path, chunk: int, streams: int, n_long: int, threads: int
             ) -> dict[str, float]:
    out = subprocess.run([str(exe), str(model), str(chunk), str(streams), str(n_long), str(threads)],
                         capture_output=True, text=True, check=True, timeout=3600).stdout
    arrive = first = -1.0
    toks: dict[int, list[float]] = {}
    for line in out.splitlines():
        w = line.split()
        if w[0] == "arrive":
            arrive = float(w[1]) / 1e3
        elif w[0] == "first":
            first = float(w[1]) / 1e3
        elif w[0] == "tok":
            toks.setdefault(int(w[1]), []).append(float(w[2]) / 1e3)
    gaps = [b - a for ts in toks.values() for a, b in itertools.pairwise(ts)
            if b > arrive and a < first]
    return {"p99_ms": p99(gaps), "median_ms": statistics.median(gaps), "gaps": len(gaps),
            "ttft_ms": first - arrive}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--streams", type=int, default=4)
    ap.add_argument("--long", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--chunks", default="32", help="chunk sizes to compare with 0 (unchunked)")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    model = a.model or default_model()
    exe = host_binary("chunk_bench", SOURCES, sanitize=False)
    print(f"machine: {machine()}; model {model.name}; {a.streams} streams, prompt of {a.long} "
          f"tokens, {a.threads} thread(s), median of {a.runs} runs")
    results: dict[int, list[dict[str, float]]] = {}
    for chunk in [0] + [int(c) for c in a.chunks.split(",")]:
        results[chunk] = [run_once(exe, model, chunk, a.streams, a.long, a.threads)
                          for _ in range(a.runs)]
    base = statistics.median(r["p99_ms"] for r in results[0])
    print("| prefill_chunk | stream gaps in the window | median gap ms | p99 gap ms | "
          "p99 / unchunked | long prompt's first token ms |")
    print("|---|---|---|---|---|---|")
    for chunk, rs in results.items():
        med = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
        print(f"| {chunk or 'whole prompt (0)'} | {med['gaps']:.0f} | {med['median_ms']:.1f} | "
              f"{med['p99_ms']:.1f} | {med['p99_ms'] / base:.3f} | {med['ttft_ms']:.0f} |")


if __name__ == "__main__":
    main()
