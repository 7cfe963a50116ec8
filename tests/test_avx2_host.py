"""The AVX2 kernel set on the host (tests/host/avx2_types.c, under ASan/UBSan) against
the scalar and SSE2 sets, per weight type: every AVX2 kernel gives the SSE2 set's bits
(F32, F16, Q8_0, Q4_0, the attention dot product, axpy, softmax and SwiGLU keep the SSE2
kernels' float lanes and order; Q4_1, Q5_0, Q5_1 and the K-quants give the scalar set's bits, as their
SSE2 kernels do; BF16 keeps the SSE2 kernel's double lanes and order), all agree with the scalar set
within float rounding, and batched rows equal single rows bit for bit. On the test
set's models the AVX2 set's logits and greedy tokens are the SSE2 set's. Skipped,
naming the feature, on a host CPU without AVX2, FMA or F16C."""

from __future__ import annotations

import subprocess
from pathlib import Path

import llm_harness as H
import numpy as np
import pytest
from gguf import GGMLQuantizationType as QT
from gguf_synth import random_matrix
from hostcc import host_binary

OWN = [QT.F32, QT.F16, QT.Q8_0, QT.Q4_0]  # AVX2 kernels with the SSE2 kernels' float steps
EXACT = [QT.Q4_1, QT.Q5_0, QT.Q5_1, QT.Q2_K, QT.Q3_K, QT.Q4_K, QT.Q5_K, QT.Q6_K]  # AVX2 sums, the scalar float steps
SSE2_ROWS = [QT.BF16]  # the SSE2 kernel's double lanes and order
K_TYPES = {QT.Q2_K, QT.Q3_K, QT.Q4_K, QT.Q5_K, QT.Q6_K}
ROWS, NB = 5, 35  # NB: full passes of the batched kernels' 8 and 32 inputs, and a partial one
# Relative tolerance of a dot product against the scalar set, on sum |w x|: both sets
# add the same exactly rounded block terms in float32 in different orders (float32
# has 2^-24 relative rounding per add; a few hundred terms stay far below 1e-5).
REL_TOL = 1e-5


def columns(qtype: QT) -> int:
    """An odd number of blocks, and for f32 rows a tail of 8 and of 4 floats."""
    return {QT.F32: 300, QT.F16: 300, QT.BF16: 300}.get(qtype, 768 if qtype in K_TYPES else 288)


def run_set(kset: str, qtype: QT, cols: int, tmp: Path) -> dict[str, list[str]]:
    exe = host_binary("avx2_types", H.LLM_SOURCES + ["tests/host/avx2_types.c"])
    cmd = [str(exe), kset, str(int(qtype)), str(ROWS), str(cols), str(NB),
           str(tmp / "w.bin"), str(tmp / "x.bin")]
    p = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
    if p.returncode == 3:
        pytest.skip(f"host CPU lacks {p.stdout.split()[-1]} (the AVX2 set needs AVX2, FMA and F16C)")
    assert p.returncode == 0, p.stdout + p.stderr
    out: dict[str, list[str]] = {"dot": [], "batch": [], "attn": [], "axpy": [], "softmax": [], "swiglu": []}
    for line in p.stdout.splitlines():
        tag, _, rest = line.split(" ", 2)
        out[tag].append(rest)
    return out


def floats(lines: list[str]) -> np.ndarray:
    return np.array([[float(v) for v in line.split()] for line in lines])


def near(got: list[str], want: list[str], scale: np.ndarray) -> bool:
    return bool((np.abs(floats(got) - floats(want)) <= REL_TOL * scale + 1e-6).all())


@pytest.mark.parametrize("qtype", OWN + EXACT + SSE2_ROWS, ids=lambda t: t.name)
def test_avx2_kernels_match_scalar(tmp_path, qtype):
    rng = np.random.default_rng(int(qtype) + 11)
    cols = columns(qtype)
    w = random_matrix(qtype, ROWS, cols, rng)
    x = rng.standard_normal((NB, cols)).astype(np.float32)
    x[1] *= 100.0  # inputs of other magnitudes
    x[2, :32] = 0.0  # an all-zero block
    (tmp_path / "w.bin").write_bytes(w.tobytes())
    (tmp_path / "x.bin").write_bytes(x.tobytes())
    avx2 = run_set("avx2", qtype, cols, tmp_path)
    scalar = run_set("scalar", qtype, cols, tmp_path)
    assert avx2["batch"] == avx2["dot"], f"{qtype.name}: batched rows differ from single rows"
    from gguf.quants import dequantize

    deq = dequantize(w, qtype).astype(np.float64)
    assert near(avx2["dot"], scalar["dot"], np.abs(x.astype(np.float64)) @ np.abs(deq).T), qtype.name
    gram = np.abs(x.astype(np.float64)) @ np.abs(x[0].astype(np.float64))
    assert near(avx2["attn"], scalar["attn"], gram[:, None]), "attention dot product"
    assert near(avx2["axpy"], scalar["axpy"], 0.37 * np.abs(x).sum(axis=0)[None, :]), "axpy"
    sse2 = run_set("sse2", qtype, cols, tmp_path)
    assert sse2["batch"] == sse2["dot"], f"{qtype.name}: SSE2 batched rows differ from single rows"
    for tag in ("dot", "attn", "axpy", "softmax", "swiglu"):
        assert avx2[tag] == sse2[tag], f"{qtype.name} {tag}: not the SSE2 set's bits"
    if qtype in EXACT:
        assert avx2["dot"] == scalar["dot"], f"{qtype.name}: not the scalar set's bits"


def run_main(kset: str, model: Path, *args: str | int, batch: bool = False) -> str:
    """tests/host/llm_main.c on the kernel set `kset` (sse2 or avx2)."""
    flags = (["--avx2"] if kset == "avx2" else []) + (["--batch"] if batch else [])
    cmd = [str(H.harness()), *flags, str(model)] + [str(a) for a in args]
    p = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=300)
    if p.returncode == 3:
        pytest.skip(f"host CPU lacks {p.stdout.split()[-1]} (the AVX2 set needs AVX2, FMA and F16C)")
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


@pytest.mark.parametrize("qtype", ["F32", "F16", "Q8_0", "Q4_0"])
@pytest.mark.parametrize("name", ["stories260K", "aidreams260K"])
def test_avx2_greedy_equals_sse2_on_test_models(models_dir, tmp_path, name, qtype):
    """The test set's llama2.c models in every type `cllm convert` writes: the AVX2 set's
    logits and greedy tokens (prompt token by token and batched) are the SSE2 set's."""
    from cllm_build.convert import convert

    tok = "tok512.bin" if name == "stories260K" else "aidreams260K-tok512.bin"
    model = convert(models_dir / f"{name}.bin", models_dir / tok, tmp_path / "m.gguf", qtype)
    prompt = [1, 403, 407, 261, 378, 432]
    assert run_main("avx2", model, "logits", *prompt) == run_main("sse2", model, "logits", *prompt)
    greedy = {k: run_main(k, model, "greedy", 48, *prompt) for k in ("sse2", "avx2")}
    assert greedy["avx2"] == greedy["sse2"] and len(greedy["avx2"].split()) == 48
    batched = run_main("avx2", model, "greedy", 48, *prompt, batch=True)
    assert batched == greedy["avx2"]
