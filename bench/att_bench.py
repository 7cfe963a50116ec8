"""Attention benchmark: one query row's attention over the KV cache at 128, 512 and 1024
positions, the kernels (kernel/llm/ops_att.h, as forward_heads runs them: a KV head's
group of query heads and a block's run of positions a call) against the loop they
replaced (one kv_key / ops_dot and one kv_value / ops_axpy a position and query head),
for the stories110M, SmolLM2-135M and Gemma 3 270M head shapes, SSE2 and AVX2 sets, F16
and F32 KV. Both run in one process (tests/host/att_test.c `bench`, -O2 -march=native),
alternating, 7 rounds, timed in thread CPU time; the table gives medians.

Run: .venv/bin/python bench/att_bench.py
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

import smp_bench
from hostcc import host_binary
from llm_harness import LLM_SOURCES


def main() -> None:
    exe = host_binary("att_bench", LLM_SOURCES + ["tests/host/att_test.c"], sanitize=False)
    print(f"machine: {smp_bench.machine()}", flush=True)
    subprocess.run([str(exe), "bench"], check=True)


if __name__ == "__main__":
    main()
