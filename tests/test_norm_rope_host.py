"""RMSNorm and RoPE of every kernel set on the host (tests/host/norm_rope_test.c, under
ASan/UBSan): the SSE2 and AVX2 sets give the same bits (the sum of squares in the same
eight lanes, RoPE's products and sums elementwise in the same order), for lengths that
are and are not multiples of the vector widths; every set agrees with a float64 numpy
reference within float32 rounding; in-place RMSNorm equals out-of-place, and RoPE pair
by pair (forward.c without its angle table) equals one call. The AVX2 run is skipped,
naming the feature, on a host CPU without AVX2, FMA or F16C."""

from __future__ import annotations

import subprocess
from pathlib import Path

import llm_harness as H
import numpy as np
import pytest
from hostcc import host_binary

EPS = 1e-5
ROWS = 3
# Lengths: below one SSE2 step, odd, every remainder modulo 8 around a few steps, and
# head sizes of real models (64, 256).
LENGTHS = [1, 3, 6, 12, 13, 22, 31, 36, 64, 100, 256]
# RoPE: two rounded products and a rounded sum, 3 * 2^-24 of |v0| + |v1| at worst.
ROPE_TOL = 4e-7


def norm_tol(n: int) -> float:
    """RMSNorm's relative error bound: a float32 sum of n squares (n - 1 roundings of
    2^-24, halved by the square root), then the mean, the root, the reciprocal and two
    products."""
    return (n / 2 + 4) * 2.0**-24


def run_set(kset: str, n: int, data: Path) -> dict[str, np.ndarray]:
    exe = host_binary("norm_rope_test", H.LLM_SOURCES + ["tests/host/norm_rope_test.c"])
    p = subprocess.run([str(exe), kset, str(n), str(ROWS), str(data)], capture_output=True, text=True,
                       check=False, timeout=60)
    if p.returncode == 3:
        pytest.skip(f"host CPU lacks {p.stdout.split()[-1]} (the AVX2 set needs AVX2, FMA and F16C)")
    assert p.returncode == 0, p.stdout + p.stderr
    out: dict[str, list[list[float]]] = {}
    for line in p.stdout.splitlines():
        tag, _, *vals = line.split()
        out.setdefault(tag, []).append([float.fromhex(v) for v in vals])
    return {tag: np.array(rows, dtype=np.float64) for tag, rows in out.items()}


def reference(x: np.ndarray, w: np.ndarray, cs: np.ndarray) -> dict[str, np.ndarray]:
    x, w, cs = (a.astype(np.float64) for a in (x, w, cs))
    n = x.shape[1]
    ref = {"norm": x / np.sqrt((x * x).mean(axis=1, keepdims=True) + EPS) * w}
    if n % 2 == 0:
        c, s = cs[0::2], cs[1::2]
        adj = x.copy()
        a, b = x[:, 0::2], x[:, 1::2]
        adj[:, 0::2], adj[:, 1::2] = a * c - b * s, a * s + b * c
        neox = x.copy()
        a, b = x[:, : n // 2], x[:, n // 2:]
        neox[:, : n // 2], neox[:, n // 2:] = a * c - b * s, a * s + b * c
        ref["norm_rope"], ref["neox_rope"] = adj, neox
    return ref


@pytest.mark.parametrize("n", LENGTHS)
def test_norm_rope_sets_agree(tmp_path, n):
    rng = np.random.default_rng(n)
    x = rng.standard_normal((ROWS, n)).astype(np.float32)
    x[1] *= 300.0  # another magnitude
    w = (1.0 + 0.5 * rng.standard_normal(n)).astype(np.float32)
    ang = rng.uniform(-40.0, 40.0, (n + 1) // 2)
    cs = np.stack([np.cos(ang), np.sin(ang)], axis=1).reshape(-1)[:n].astype(np.float32)
    data = tmp_path / "x.bin"
    data.write_bytes(x.tobytes() + w.tobytes() + cs.tobytes())
    ref = reference(x, w, cs)
    got = {k: run_set(k, n, data) for k in ("scalar", "sse2", "avx2")}
    for kset, res in got.items():
        assert set(res) == set(ref), kset
        tol = norm_tol(n) * np.abs(ref["norm"])
        assert (np.abs(res["norm"] - ref["norm"]) <= tol).all(), f"{kset} RMSNorm"
        if n % 2 == 0:
            mag = np.abs(x).astype(np.float64)
            for tag, pair in (("norm_rope", mag[:, 0::2] + mag[:, 1::2]),
                              ("neox_rope", mag[:, : n // 2] + mag[:, n // 2:])):
                bound = ROPE_TOL * np.repeat(pair, 2, axis=1) if tag == "norm_rope" else \
                    ROPE_TOL * np.concatenate([pair, pair], axis=1)
                assert (np.abs(res[tag] - ref[tag]) <= bound).all(), f"{kset} {tag}"
    for tag in ref:
        assert np.array_equal(got["avx2"][tag], got["sse2"][tag]), f"{tag}: AVX2 not the SSE2 set's bits"
