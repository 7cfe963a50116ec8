"""Sampler (kernel/llm/sampler.c) through the host harness tests/host/tok_sampler.c:
greedy is the argmax, the seeded PRNG is xorshift64* and reproducible, each filter
(top-k, top-p, min-p, temperature) and penalty (repeat, presence, frequency) acts on
crafted logits as llama.cpp defines it; decimal parsing and formatting."""

from __future__ import annotations

import math
import random
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from hostcc import host_binary


@pytest.fixture(scope="module")
def exe() -> Path:
    return host_binary("tok_sampler", ["kernel/llm/sampler.c", "tests/host/tok_sampler.c"])


def run(exe: Path, *args: object) -> str:
    proc = subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True,
                          check=False, timeout=60)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.stdout.strip()


def sample(exe: Path, logits: list[float], n: int = 1, *, temp: float = 1.0, top_k: int = 0,
           top_p: float = 1.0, min_p: float = 0.0, rep: float = 1.0, rep_n: int = 64,
           pres: float = 0.0, freq: float = 0.0, seed: int = 42,
           history: list[int] | None = None) -> list[int]:
    args = ["sample", n, temp, top_k, top_p, min_p, rep, rep_n, pres, freq, seed,
            *[f"{x:.6f}" for x in logits]]
    if history:
        args += ["--", *history]
    out = run(exe, *args)
    assert not out.startswith("error"), out
    return [int(x) for x in out.split()]


def logits_for(probs: list[float]) -> list[float]:
    return [math.log(p) for p in probs]


def test_greedy_is_argmax(exe):
    rng = random.Random(7)
    for _ in range(5):
        logits = [rng.uniform(-5, 5) for _ in range(300)]
        want = max(range(300), key=lambda i: logits[i])
        assert sample(exe, logits, 3, temp=0.0, seed=rng.randrange(1 << 30)) == [want] * 3


def xorshift64star(state: int, n: int) -> list[int]:
    out = []
    mask = (1 << 64) - 1
    for _ in range(n):
        state ^= state >> 12
        state = (state ^ (state << 25)) & mask
        state ^= state >> 27
        out.append(((state * 0x2545F4914F6CDD1D) & mask) >> 32)
    return out


def test_prng_is_xorshift64star(exe):
    for seed in (1, 42, 0xDEADBEEFCAFEF00D):
        assert [int(x) for x in run(exe, "rand", seed, 20).split()] == xorshift64star(seed, 20)


def test_same_seed_same_tokens(exe):
    logits = [math.sin(i) * 2 for i in range(64)]
    a = sample(exe, logits, 200, seed=1234)
    b = sample(exe, logits, 200, seed=1234)
    c = sample(exe, logits, 200, seed=1235)
    assert a == b
    assert a != c
    assert len(set(a)) > 5


def test_distribution_follows_softmax(exe):
    probs = [0.5, 0.3, 0.2]
    got = Counter(sample(exe, logits_for(probs), 4000, seed=99))
    for i, p in enumerate(probs):
        assert abs(got[i] / 4000 - p) < 0.03, got


def test_low_temperature_sharpens(exe):
    probs = [0.5, 0.3, 0.2]  # at temperature 0.1: p0 = 1 / (1 + 0.6^10 + 0.4^10) > 0.99
    hot = Counter(sample(exe, logits_for(probs), 1000, temp=1.0))
    cold = Counter(sample(exe, logits_for(probs), 1000, temp=0.1))
    assert cold[0] > 980 and hot[0] < 600


def test_top_k(exe):
    logits = [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
    assert set(sample(exe, logits, 300, top_k=1, temp=1.5)) == {0}
    assert set(sample(exe, logits, 600, top_k=3, temp=1.5)) == {0, 1, 2}
    assert set(sample(exe, logits, 600, top_k=0, temp=1.5)) == set(range(7))


def test_top_k_selection_on_large_vocab(exe):
    rng = random.Random(3)
    logits = [rng.uniform(-1, 1) for _ in range(5000)]
    best5 = set(sorted(range(5000), key=lambda i: -logits[i])[:5])
    assert set(sample(exe, logits, 500, top_k=5, temp=3.0)) == best5


def test_top_p(exe):
    logits = logits_for([0.5, 0.3, 0.15, 0.05])
    assert set(sample(exe, logits, 500, top_p=0.7)) == {0, 1}
    assert set(sample(exe, logits, 800, top_p=0.85)) == {0, 1, 2}
    assert set(sample(exe, logits, 800, top_p=1.0)) == {0, 1, 2, 3}


def test_min_p(exe):
    logits = logits_for([0.5, 0.3, 0.15, 0.05])
    assert set(sample(exe, logits, 800, min_p=0.25)) == {0, 1, 2}
    assert set(sample(exe, logits, 800, min_p=0.5)) == {0, 1}
    assert set(sample(exe, logits, 300, min_p=1.0)) == {0}


def test_repeat_penalty(exe):
    assert sample(exe, [2.0, 1.9, 0.0], temp=0, history=[0]) == [0]
    assert sample(exe, [2.0, 1.9, 0.0], temp=0, rep=1.5, history=[0]) == [1]
    # negative logits are multiplied: -1.0 * 1.5 = -1.5 < -1.2
    assert sample(exe, [-1.0, -1.2, -3.0], temp=0, rep=1.5, history=[0]) == [1]
    # outside the window the token is not penalized
    assert sample(exe, [2.0, 1.9, 0.0], temp=0, rep=1.5, rep_n=1, history=[0, 2]) == [0]


def test_presence_and_frequency_penalties(exe):
    hist = [0, 0, 0]
    assert sample(exe, [2.0, 1.9, 0.0], temp=0, freq=0.01, history=hist) == [0]   # 1.97
    assert sample(exe, [2.0, 1.9, 0.0], temp=0, freq=0.05, history=hist) == [1]   # 1.85
    assert sample(exe, [2.0, 1.9, 0.0], temp=0, pres=0.05, history=hist) == [0]   # 1.95
    assert sample(exe, [2.0, 1.9, 0.0], temp=0, pres=0.2, history=hist) == [1]    # 1.80


@pytest.mark.parametrize("text,want", [
    ("0.8", "0.800000"), ("1", "1.000000"), ("-0.25", "-0.250000"), ("+2.5", "2.500000"),
    ("1e-2", "0.010000"), ("3.5E1", "35.000000"), (".5", "0.500000"), ("0", "0.000000"),
    ("abc", "error"), ("1.2.3", "error"), ("", "error"), ("1e", "error"), ("0.8x", "error"),
    ("-", "error"), ("1e99", "error"),
])
def test_parse_float(exe, text, want):
    assert run(exe, "parse", text) == want


@pytest.mark.parametrize("v,dec,want", [
    ("3.14159", 2, "3.14"), ("0.005", 3, "0.005"), ("123.456", 0, "123"), ("-1.5", 1, "-1.5"),
    ("9.9996", 3, "10.000"), ("0.05", 2, "0.05"),
])
def test_format_float(exe, v, dec, want):
    assert run(exe, "format", v, dec) == want


@pytest.mark.parametrize("field,args", [
    ("top_p: value 1.500", {"top_p": 1.5}),
    ("min_p: value -0.100", {"min_p": -0.1}),
    ("repeat_penalty: value 0.000", {"rep": 0.0}),
])
def test_bad_params_named(exe, field, args):
    a = {"temp": 1.0, "top_k": 0, "top_p": 1.0, "min_p": 0.0, "rep": 1.0}
    a.update(args)
    out = run(exe, "sample", 1, a["temp"], a["top_k"], a["top_p"], a["min_p"], a["rep"], 64, 0, 0,
              1, 1.0, 2.0)
    assert out.startswith("error:") and field in out


def test_top_p_nucleus_on_large_vocab(exe):
    # top-k off: the whole vocabulary is sorted; the draws must stay in the nucleus
    rng = random.Random(5)
    logits = [rng.gauss(0, 2) for _ in range(3000)]
    order = sorted(range(3000), key=lambda i: -logits[i])
    m = max(logits)
    z = sum(math.exp(x - m) for x in logits)
    cum, nucleus = 0.0, set()
    for i in order:
        nucleus.add(i)
        cum += math.exp(logits[i] - m) / z
        if cum >= 0.5:
            break
    got = set(sample(exe, logits, 400, top_p=0.5, temp=1.0))
    assert got <= nucleus and len(got) > 1
