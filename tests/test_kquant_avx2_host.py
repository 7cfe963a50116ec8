"""The K-quant dot products at the edges of their integer ranges (tests/host/avx2_types.c,
under ASan/UBSan): the AVX2 set multiplies unsigned weight bytes by int8 inputs with
vpmaddubsw, whose int16 pair sums saturate, so weights at each type's top and bottom
(every byte 0xff, 0x00, 0x80, 0x7f) meet inputs that round to +-127 everywhere. The AVX2
set's single and batched rows, the SSE2 set's and the scalar set's must be the same bits,
and with inputs of +-1 (rounded exactly) they are the dequantized weights' dot product.
Skipped, naming the feature, on a host CPU without AVX2, FMA or F16C."""

from __future__ import annotations

import numpy as np
import pytest
from gguf import GGMLQuantizationType as QT
from gguf.quants import dequantize
from gguf_synth import SCALE_OFFSETS, random_blocks
from test_avx2_host import NB, ROWS, floats, run_set

COLS = 17 * 256  # super-blocks: the AVX2 Q4_K/Q5_K dot takes 16 a call (WT_K_BLOCKS), so two calls
FILLS = [0xFF, 0x00, 0x80, 0x7F]  # rows of one byte throughout; the last row random


def edge_matrix(qtype: QT, rng: np.random.Generator) -> np.ndarray:
    """ROWS rows of random blocks, row r < len(FILLS) with every byte but the f16
    scales set to FILLS[r]."""
    w = random_blocks(qtype, ROWS, COLS, rng)
    size = w.shape[1] // (COLS // 256)
    keep = [o + i for o in SCALE_OFFSETS[qtype] for i in (0, 1)]  # the f16 scale fields
    for r, fill in enumerate(FILLS):
        for k in range(COLS // 256):
            block = w[r, k * size:(k + 1) * size]
            saved = block[keep].copy()
            block[:] = fill
            block[keep] = saved
    return w


def edge_inputs(rng: np.random.Generator) -> np.ndarray:
    """NB inputs: the first five of +-1 in several sign patterns, then normal values."""
    x = rng.standard_normal((NB, COLS)).astype(np.float32)
    x[0] = 1.0  # every value rounds to -127 (the block's largest is positive)
    x[1] = -1.0  # +127
    x[2] = np.tile([1.0, 1.0, -1.0, -1.0], COLS // 4)  # pairs of one sign, both signs
    x[3] = rng.choice([-1.0, 1.0], COLS)
    x[4] = np.tile([-1.0, -1.0, 1.0, 1.0], COLS // 4)
    x[5, :256] = 0.0  # an all-zero block
    return x


@pytest.mark.parametrize("qtype", [QT.Q2_K, QT.Q3_K, QT.Q4_K, QT.Q5_K, QT.Q6_K], ids=lambda t: t.name)
def test_kquant_sets_agree_at_the_edges(tmp_path, qtype):
    rng = np.random.default_rng(int(qtype) + 127)
    w = edge_matrix(qtype, rng)
    x = edge_inputs(rng)
    (tmp_path / "w.bin").write_bytes(w.tobytes())
    (tmp_path / "x.bin").write_bytes(x.tobytes())
    avx2 = run_set("avx2", qtype, COLS, tmp_path)
    sse2 = run_set("sse2", qtype, COLS, tmp_path)
    scalar = run_set("scalar", qtype, COLS, tmp_path)
    assert avx2["dot"] == scalar["dot"], f"{qtype.name}: AVX2 rows are not the scalar set's bits"
    assert avx2["batch"] == scalar["dot"], f"{qtype.name}: AVX2 batched rows differ"
    assert sse2["dot"] == scalar["dot"] and sse2["batch"] == scalar["dot"], qtype.name
    # +-1 inputs round exactly (q = +-127, d = 1 / 127): the sums are the real dot product
    deq = dequantize(w, qtype).astype(np.float64)
    want = x[:5].astype(np.float64) @ deq.T
    got = floats(avx2["dot"][:5])
    scale = np.abs(x[:5].astype(np.float64)) @ np.abs(deq).T
    assert (np.abs(got - want) <= 1e-5 * scale + 1e-6).all(), f"{qtype.name}: wrong sums at +-127"


def test_kquant_model_avx2_logits_and_greedy_are_sse2s(tmp_path):
    """A Q4_K model with Q6_K, Q5_K, Q3_K and Q2_K matrices among its layers (as a Q4_K_M
    file mixes them): the AVX2 set's logits and greedy tokens, token by token and with
    the prompt batched, are the SSE2 set's."""
    from gguf_synth import write_llama
    from test_avx2_host import run_main

    others = {"blk.0.ffn_down.weight": QT.Q6_K, "output.weight": QT.Q6_K,
              "blk.1.ffn_down.weight": QT.Q5_K, "blk.0.attn_v.weight": QT.Q3_K,
              "blk.1.attn_v.weight": QT.Q2_K}
    model = write_llama(tmp_path / "m.gguf", QT.Q4_K, seed=5, dim=256, hidden=512, vocab=256,
                        types=others)
    prompt = [1, 40, 7, 200, 33, 91]
    assert run_main("avx2", model, "logits", *prompt) == run_main("sse2", model, "logits", *prompt)
    greedy = run_main("avx2", model, "greedy", 16, *prompt)
    assert greedy == run_main("sse2", model, "greedy", 16, *prompt) and len(greedy.split()) == 16
    assert run_main("avx2", model, "greedy", 16, *prompt, batch=True) == greedy
