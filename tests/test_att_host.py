"""The attention kernels of every kernel set the host runs (tests/host/att_test.c, under
ASan/UBSan): scores over a run of F32 or F16 K rows are the bits of the set's ops_dot
times the scale, weighted sums the bits of one ops_axpy a position in order, for head
sizes with and without tails, above the 256-column buffer, groups of 1 to 9 query heads
and runs of 1 to 17 positions, halves of every bit pattern. The AVX2 set is left out,
and said so, on a CPU without AVX2, FMA or F16C."""

from __future__ import annotations

import subprocess

import llm_harness as H
from hostcc import host_binary


def test_attention_kernels_give_the_bits_of_dot_and_axpy():
    exe = host_binary("att_test", H.LLM_SOURCES + ["tests/host/att_test.c"])
    proc = subprocess.run([str(exe)], capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "att_test: all passed" in proc.stdout
