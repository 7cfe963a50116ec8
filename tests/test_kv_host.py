"""kernel/llm/kv.c on the host under ASan/UBSan (tests/host/kv_test.c): float to half
rounding equals numpy's for every kind of value, and random reserves, releases, frees,
prefix-cache matches and forks (a choice taking another's positions) over a small pool
keep the free list and reference counts whole (the debug walk after every operation),
share only blocks of the same tokens, and give every block back."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from hostcc import host_binary


def kv_test(*args: object, stdin: str = "") -> str:
    exe = host_binary("kv_test", ["kernel/llm/kv.c", "kernel/llm/quant.c", "kernel/llm/gguf.c",
                                  "tests/host/kv_test.c"])
    proc = subprocess.run([str(exe), *map(str, args)], input=stdin, capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_f32_to_f16_rounds_as_numpy():
    rng = np.random.default_rng(5)
    special = np.array([0.0, -0.0, 1.0, -2.5, 65504.0, 65519.99, 65520.0, 1e9, -1e9, 6.1e-5,
                        5.96e-8, 2.98e-8, 2.99e-8, 1e-12, np.inf, -np.inf, 1.0009765625,
                        1.00048828125, 1.00146484375], dtype=np.float32)
    wide = (rng.standard_normal(20000) * np.exp2(rng.integers(-30, 20, 20000))).astype(np.float32)
    ties = (np.arange(1, 4000, dtype=np.float32) * np.float32(2.0 ** -24) * 0.5)  # half-way cases
    values = np.concatenate([special, wide, ties.astype(np.float32)])
    out = kv_test("f16", stdin="".join(f"{b:08x}\n" for b in values.view(np.uint32)))
    got = np.array([int(x, 16) for x in out.split()], dtype=np.uint16)
    with np.errstate(over="ignore"):  # values past 65520 become inf, as intended
        want = values.astype(np.float16).view(np.uint16)
    assert np.array_equal(got, want)
    nan = kv_test("f16", stdin="7fc00000\n").strip()
    assert (int(nan, 16) & 0x7c00) == 0x7c00 and (int(nan, 16) & 0x3ff) != 0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_pool_operations_keep_the_pool_whole(seed):
    out = kv_test("pool", seed, 3000)
    assert out.startswith("ok "), out
    refused, hits, evictions, forks = map(int, out.split()[1:])
    assert refused > 0 and hits > 0 and evictions > 0 and forks > 0, out  # every path taken
