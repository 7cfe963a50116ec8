"""The attention kernels of every kernel set the host runs (tests/host/att_test.c, under
ASan/UBSan): scores over a run of F32 or F16 K rows are the bits of the set's ops_dot
times the scale, weighted sums the bits of one ops_axpy a position in order, for head
sizes with and without tails, above the 256-column buffer, groups of 1 to 9 query heads
and runs of 1 to 17 positions, halves of every bit pattern. The AVX2 set is left out,
and said so, on a CPU without AVX2, FMA or F16C."""

from __future__ import annotations

import subprocess

from hostcc import host_binary

# The kernel sets and what they need (no model loader, no forward pass): a short build.
SOURCES = ["kernel/llm/ops.c", "kernel/llm/ops_par.c", "kernel/llm/ops_sse2.c", "kernel/llm/ops_avx2.c",
           "kernel/llm/quant.c", "kernel/llm/kv.c", "kernel/llm/gguf.c",
           "kernel/llm/wt_legacy.c", "kernel/llm/wt_legacy_sse2.c", "kernel/llm/wt_legacy_avx2.c",
           "kernel/llm/wt_kquant.c", "kernel/llm/wt_kquant_sse2.c", "kernel/llm/wt_kquant_avx2.c",
           "kernel/llm/wt_bf16.c", "kernel/llm/wt_bf16_sse2.c", "kernel/llm/wt_bf16_avx2.c",
           "tests/host/att_test.c"]


def test_attention_kernels_give_the_bits_of_dot_and_axpy():
    exe = host_binary("att_test", SOURCES)
    proc = subprocess.run([str(exe)], capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "att_test: all passed" in proc.stdout
