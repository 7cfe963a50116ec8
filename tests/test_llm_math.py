"""The kernel's single-precision math (kernel/lib/math.c, x87 and polynomials)
against the host libm (tests/host/llm_math.c includes it under other names)."""

from __future__ import annotations

import subprocess

from hostcc import host_binary


def test_kernel_math_matches_libm():
    exe = host_binary("llm_math", ["tests/host/llm_math.c"], extra=["-fno-builtin"])
    proc = subprocess.run([str(exe)], check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().endswith("ok")
