"""RMSNorm and RoPE per kernel set on the host: bench/norm_rope_bench.c (-O2
-march=native, one thread) times ops_rmsnorm over a model's dim and ops_rope over one
token's q and k heads, in both pair layouts, for the scalar, SSE2 and AVX2 sets. The
scalar set's code is what all sets ran before these became kernel-set rows, so
scalar / SSE2 and scalar / AVX2 are the speed-ups of the change. The sets alternate,
one run of each per round; the table gives the medians over the rounds.

Run: .venv/bin/python bench/norm_rope_bench.py [--runs 5] [--iters 200000]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from build_bench import machine
from hostcc import host_binary
from llm_harness import LLM_SOURCES

# name: (dim, n_heads, n_kv_heads, head_dim) of the model shapes the tests and tables use
SHAPES = {
    "stories15M": (288, 6, 6, 48),
    "stories110M": (768, 12, 12, 64),
    "SmolLM2-135M": (576, 9, 3, 64),
    "gemma3-270m": (640, 4, 1, 256),
}
SETS = ("scalar", "sse2", "avx2")
MEASURES = ("rmsnorm", "rope_norm", "rope_neox")


def once(exe: Path, kset: str, shape: tuple[int, int, int, int], iters: int) -> dict[str, float] | None:
    p = subprocess.run([str(exe), kset, *map(str, shape), str(iters)], capture_output=True, text=True,
                       check=False)
    if p.returncode == 3:
        return None  # the host CPU cannot run the set
    if p.returncode != 0:
        raise RuntimeError(f"{exe.name} {kset} failed: {p.stdout}{p.stderr}")
    words = p.stdout.split()
    return {words[i]: float(words[i + 1]) for i in range(1, len(words), 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--iters", type=int, default=200000)
    args = ap.parse_args()
    exe = host_binary("norm_rope_bench", LLM_SOURCES + ["bench/norm_rope_bench.c"], sanitize=False)
    print(f"machine: {machine()}")
    print("| shape | measure | scalar ns | SSE2 ns | AVX2 ns | scalar / SSE2 | scalar / AVX2 |")
    print("|---|---|---|---|---|---|---|")
    for name, shape in SHAPES.items():
        runs: dict[str, list[dict[str, float]]] = {k: [] for k in SETS}
        for _ in range(args.runs):
            for kset in SETS:
                r = once(exe, kset, shape, args.iters)
                if r:
                    runs[kset].append(r)
        for m in MEASURES:
            med = {k: statistics.median(r[m] for r in rs) if rs else float("nan") for k, rs in runs.items()}
            print(f"| {name} | {m} | {med['scalar']:.0f} | {med['sse2']:.0f} | {med['avx2']:.0f} "
                  f"| {med['scalar'] / med['sse2']:.2f}x | {med['scalar'] / med['avx2']:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
