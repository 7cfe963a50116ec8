"""Prompt attention before and after a change: bench/att_block_bench.c (a prompt of N
tokens through model_forward_batch on an F16 KV pool, -O2 -march=native, one thread)
built from this checkout and from the checkout --before DIR (each by its own build code,
the driver from this checkout), run alternately, one prompt a run; per model and kernel
set, the medians of the prompt rate and of the attention phase of the batch profile,
and the median of the per-round ratios (before / after, so above 1 is faster).

Run: .venv/bin/python bench/att_block_bench.py --before DIR [--runs N] [--prompt N] MODEL...
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from hostcc import host_binary
from llm_harness import LLM_SOURCES

DRIVER = ROOT / "bench" / "att_block_bench.c"


def driver(tree: Path) -> Path:
    """The driver over the kernel/llm sources of checkout `tree`, built into tree/build."""
    tree = tree.resolve()
    if tree == ROOT:
        return host_binary("att_block_bench", LLM_SOURCES + [DRIVER], sanitize=False)
    code = ("import sys; sys.path[:0] = ['tests']; from llm_harness import LLM_SOURCES; "
            "from hostcc import host_binary; "
            f"print(host_binary('att_block_bench', LLM_SOURCES + [{str(DRIVER)!r}], sanitize=False))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tree, capture_output=True, text=True, check=True,
                         env={**os.environ, "CLLM_BUILD_DIR": str(tree / "build")}).stdout
    return Path(out.strip().splitlines()[-1])


def once(exe: Path, model: Path, avx2: bool, n: int) -> tuple[float, float]:
    """(prompt tokens/s, attention ms) of one prompt."""
    cmd = [str(exe)] + (["--avx2"] if avx2 else []) + [str(model), str(n), "1"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=900).stdout.split()
    return n / (float(out[1]) / 1000.0), float(out[3])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", type=Path)
    ap.add_argument("--before", type=Path, required=True, help="checkout to compare with")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--prompt", type=int, default=500)
    args = ap.parse_args()
    after, before = driver(ROOT), driver(args.before)
    print("| model | set | prompt tok/s after / before (x) | attention ms after / before (x) |")
    print("|---|---|---|---|")
    for model in args.models:
        for avx2 in (False, True):
            rows: list[tuple[float, float, float, float]] = []
            for _ in range(args.runs):
                ra, aa = once(after, model, avx2, args.prompt)
                rb, ab = once(before, model, avx2, args.prompt)
                rows.append((ra, rb, aa, ab))
            med = [statistics.median(r[i] for r in rows) for i in range(4)]
            rate_x = statistics.median(r[0] / r[1] for r in rows)
            att_x = statistics.median(r[3] / r[2] for r in rows)
            print(f"| {model.name} | {'AVX2' if avx2 else 'SSE2'} | {med[0]:.1f} / {med[1]:.1f} ({rate_x:.2f}x) "
                  f"| {med[2]:.0f} / {med[3]:.0f} ({att_x:.2f}x) |", flush=True)


if __name__ == "__main__":
    main()
