"""The weight types, one table row each: every type's dequantizer equals the `gguf`
package's numpy dequantize on random blocks; its dot products against the Q8-rounded
input agree with dequantize-then-dot in float64 within the input rounding's bound;
batched rows equal single rows bit for bit, and (for the types whose scalar and SSE2
kernels share their float operations) both kernel sets give the same bits. A GGUF
with matrices of each type loads and runs under ASan/UBSan and matches the numpy
reference; corrupt files are refused with a message naming the tensor."""

from __future__ import annotations

import subprocess
from pathlib import Path

import gguf
import llm_harness as H
import numpy as np
import pytest
import reference_llama as R
from gguf import GGMLQuantizationType as QT
from gguf_synth import SCALE_OFFSETS, random_matrix, write_llama
from hostcc import host_binary

SCALES = [QT.F32, QT.F16, QT.BF16, *SCALE_OFFSETS]
K_TYPES = [QT.Q2_K, QT.Q3_K, QT.Q4_K, QT.Q5_K, QT.Q6_K]  # their input is rounded in blocks of 256
# scalar and SSE2 kernels identical by construction
NEW = [QT.Q4_1, QT.Q5_0, QT.Q5_1] + K_TYPES
RUN = NEW + [QT.BF16]  # the types a model file is run with below
ROWS, COLS, NB = 5, 256, 34  # NB: full passes of the SSE2 batched kernels' 16 and 32 inputs, and a partial one


def run_types(qtype: QT, w: np.ndarray, x: np.ndarray, tmp: Path, scalar: bool) -> dict:
    exe = host_binary("llm_types", H.LLM_SOURCES + ["tests/host/llm_types.c"])
    (tmp / "w.bin").write_bytes(w.tobytes())
    (tmp / "x.bin").write_bytes(x.astype(np.float32).tobytes())
    cmd = [str(exe)] + (["--scalar"] if scalar else []) + [
        str(int(qtype)), str(ROWS), str(COLS), str(NB), str(tmp / "w.bin"), str(tmp / "x.bin")]
    p = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    out: dict[str, list[str]] = {"deq": [], "dot": [], "batch": []}
    for line in p.stdout.splitlines():
        tag, _, rest = line.split(" ", 2)
        out[tag].append(rest)
    return out


def floats(lines: list[str]) -> np.ndarray:
    return np.array([[float(v) for v in line.split()] for line in lines])


def dot_bound(deq: np.ndarray, x: np.ndarray, block: int) -> np.ndarray:
    """|engine - float64| bound per (input, row): the Q8 / Q8_K input rounding moves
    each x by at most d / 2 = max|x of its block| / 254, plus float32 accumulation."""
    amax = np.abs(x.reshape(NB, -1, block)).max(axis=2)  # (NB, blocks)
    wabs = np.abs(deq).reshape(ROWS, -1, block).sum(axis=2)  # (ROWS, blocks)
    rounding = (amax / 254.0) @ wabs.T
    return rounding * 1.001 + 1e-5 * (np.abs(x) @ np.abs(deq).T) + 1e-6


@pytest.mark.parametrize("qtype", list(SCALES), ids=lambda t: t.name)
def test_type_kernels(tmp_path, qtype):
    rng = np.random.default_rng(int(qtype) + 7)
    w = random_matrix(qtype, ROWS, COLS, rng)
    x = rng.standard_normal((NB, COLS)).astype(np.float32)
    x[1] *= 100.0  # inputs of other magnitudes
    x[2, :32] = 0.0  # an all-zero block
    ref_deq = gguf.quants.dequantize(w, qtype).astype(np.float32)
    outs = {scalar: run_types(qtype, w, x, tmp_path, scalar) for scalar in (True, False)}
    for scalar, out in outs.items():
        deq = floats(out["deq"]).astype(np.float32)
        assert np.array_equal(deq, ref_deq), f"{qtype.name} dequantize (scalar={scalar})"
        assert out["batch"] == out["dot"], f"{qtype.name} batched rows differ (scalar={scalar})"
        got = floats(out["dot"])
        want = x.astype(np.float64) @ ref_deq.astype(np.float64).T
        if qtype in (QT.F32, QT.F16):  # f32 input: float32 accumulation only
            bound = 1e-5 * (np.abs(x) @ np.abs(ref_deq).T) + 1e-6
        elif qtype == QT.BF16:  # the input rounded to bfloat16: 2^-9 relative each
            bound = 2.0**-8 * (np.abs(x) @ np.abs(ref_deq).T) + 1e-6
        else:
            bound = dot_bound(ref_deq.astype(np.float64), x.astype(np.float64),
                              256 if qtype in K_TYPES else 32)
        assert (np.abs(got - want) <= bound).all(), f"{qtype.name} dot (scalar={scalar})"
    if qtype in NEW:
        assert outs[True]["dot"] == outs[False]["dot"]


@pytest.mark.parametrize("qtype", RUN, ids=lambda t: t.name)
def test_gguf_of_each_type_runs_and_matches_reference(tmp_path, qtype):
    dims = {"dim": 256, "hidden": 512} if qtype in K_TYPES else {}
    path = write_llama(tmp_path / f"{qtype.name}.gguf", qtype, seed=int(qtype), **dims)
    assert H.info(path)["type"] == qtype.name
    prompt = [1, 7, 9, 30, 2]
    ref = R.logits(R.load(path), prompt)
    for scalar in (True, False):
        got = H.logits(path, prompt, scalar=scalar)
        assert np.abs(got - ref).max() < 1e-4 * max(1.0, np.abs(ref).max())
        H.assert_batch_is_exact(path, prompt, scalar=scalar)
    assert len(H.greedy(path, prompt, 12)) == 12


@pytest.mark.parametrize("qtype", NEW, ids=lambda t: t.name)
def test_corrupt_files_of_each_type_are_refused(tmp_path, qtype):
    from test_gguf_bad import layout

    k = qtype in K_TYPES
    path = write_llama(tmp_path / "m.gguf", qtype, **({"dim": 256, "hidden": 512} if k else {}))
    data = path.read_bytes()
    name = "blk.1.ffn_down.weight"
    ne = layout(data).tensors[name]["ne"]
    bad = bytearray(data)
    cols = 384 if k else 48  # a row that is not whole blocks (of 256, of 32)
    bad[ne:ne + 8] = cols.to_bytes(8, "little")
    (tmp_path / "rows.gguf").write_bytes(bytes(bad))
    p = H.run(tmp_path / "rows.gguf", "info", check=False)
    assert p.returncode == 1 and name in p.stdout and "not a multiple" in p.stdout, p.stdout
    (tmp_path / "cut.gguf").write_bytes(data[:-100])  # the last tensor's data cut short
    p = H.run(tmp_path / "cut.gguf", "info", check=False)
    assert p.returncode == 1 and "past end of file" in p.stdout, p.stdout
    assert "blk.1.ffn_up.weight" in p.stdout


@pytest.mark.parametrize("qtype", RUN, ids=lambda t: t.name)
def test_each_type_without_undefined_behaviour_under_clang(tmp_path, qtype):
    """clang's UBSan (with float-cast-overflow) over a model of each type, and
    randomly damaged copies of it (every copy loads and runs, or is refused)."""
    import shutil

    if not shutil.which("clang"):
        pytest.skip("clang not installed (apt-get install clang)")
    from test_llm_nonfinite import clang_harness_path

    exe = clang_harness_path()
    dims = {"dim": 256, "hidden": 512} if qtype in K_TYPES else {}
    path = write_llama(tmp_path / "m.gguf", qtype, seed=3, **dims)
    for flags in ([], ["--scalar"]):
        p = subprocess.run([str(exe), *flags, str(path), "greedy", "8", "1", "5"],
                           capture_output=True, text=True, check=False, timeout=300)
        assert p.returncode == 0 and "runtime error" not in p.stderr, p.stdout + p.stderr
        assert len(p.stdout.split()) == 8
    p = subprocess.run([str(exe), str(path), "mutate", "7", "60", str(path.stat().st_size)],
                       capture_output=True, text=True, check=False, timeout=600)
    assert p.returncode == 0 and "runtime error" not in p.stderr, p.stdout + p.stderr
    assert p.stdout.startswith("loaded ")
