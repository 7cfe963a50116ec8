"""Models whose forward pass yields NaN (NaN weights): the engine never converts a
NaN or inf to an integer (undefined behaviour in C; clang's UBSan checks it with
-fsanitize=float-cast-overflow, gcc's -fsanitize=undefined does not), a forward pass
with non-finite logits is refused with a message, the generation ends with an
error instead of sampling garbage, and the server keeps answering other requests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import gguf
import llm_harness as H
import numpy as np
import pytest
from gguf_synth import write_llama
from hostcc import host_binary
from http_support import Script, request
from test_console_host import TOK_SOURCES

NONFINITE = "logits not finite (NaN or inf)"
# stories260K.gguf: "Lily" is [1, 317] and its greedy continuation starts with 269;
# "The dog ran" and its first 24 greedy tokens hold neither 269 nor 403 ("Once").
FIRST_OF_LILY, ONCE = 269, 403


def clang_harness_path() -> Path:
    """The harness built by clang with ASan + UBSan including float-cast-overflow."""
    mp = pytest.MonkeyPatch()
    mp.setenv("CC", "clang")
    try:
        return host_binary("llm_main_clang", H.LLM_SOURCES + ["tests/host/llm_main.c"],
                           extra=["-fsanitize=float-cast-overflow"])
    finally:
        mp.undo()


@pytest.fixture(scope="module")
def clang_harness() -> Path:
    if not shutil.which("clang"):
        pytest.skip("clang not installed (apt-get install clang)")
    return clang_harness_path()


@pytest.mark.parametrize("scalar", [True, False], ids=["scalar", "sse2"])
def test_nan_weights_refused_without_undefined_behaviour(tmp_path, clang_harness, scalar):
    clean = write_llama(tmp_path / "clean.gguf")
    nan = write_llama(tmp_path / "nan.gguf", nan_token=5)
    flags = ["--scalar"] if scalar else []

    def run(model: Path, *args: object) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(clang_harness), *flags, str(model), *map(str, args)],
                              capture_output=True, text=True, check=False, timeout=120)

    ok = run(clean, "greedy", 6, 1, 5)
    assert ok.returncode == 0 and len(ok.stdout.split()) == 6, ok.stdout + ok.stderr
    for args in (["greedy", 6, 1, 5], ["logits", 1, 2, 5], ["multi", 4, "1,2", "1,5"]):
        p = run(nan, *args)
        assert "runtime error" not in p.stderr and "Sanitizer" not in p.stderr, p.stderr
        assert p.returncode == 1 and NONFINITE in p.stdout, p.stdout + p.stderr
    batch = run(nan, "--batch", "logits", 1, 2, 3, 5, 6)
    assert "runtime error" not in batch.stderr, batch.stderr
    assert batch.returncode == 1 and NONFINITE in batch.stdout, batch.stdout
    assert run(nan, "logits", 1, 2).returncode == 0  # tokens other than the NaN one run


def nan_stories(models_dir: Path, dst: Path, token: int) -> Path:
    """stories260K.gguf with the embedding row of `token` made NaN."""
    src = models_dir / "stories260K.gguf"
    t = next(t for t in gguf.GGUFReader(src).tensors if t.name == "token_embd.weight")
    assert t.tensor_type == gguf.GGMLQuantizationType.F32
    data = bytearray(src.read_bytes())
    dim = int(t.shape[0])
    at = int(t.data_offset) + token * dim * 4
    data[at:at + dim * 4] = np.full(dim, np.nan, np.float32).tobytes()
    dst.write_bytes(bytes(data))
    return dst


def gen_lines(model: Path, prompt: str, n: int) -> list[str]:
    exe = host_binary("tok_gen", H.LLM_SOURCES + TOK_SOURCES + ["tests/host/tok_gen.c"])
    proc = subprocess.run([str(exe), str(model), "--n", str(n), "--temp", "0", prompt],
                          capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0 and "runtime error" not in proc.stderr, proc.stdout + proc.stderr
    return proc.stdout.splitlines()


def test_generation_ends_with_an_error_not_garbage(tmp_path, models_dir):
    model = nan_stories(models_dir, tmp_path / "nan.gguf", FIRST_OF_LILY)
    lines = gen_lines(model, "Lily", 24)
    tokens = [int(x.split()[2]) for x in lines if x.startswith("step 2 ")]
    assert tokens == [FIRST_OF_LILY]  # sampled from good logits; its own pass fails
    assert lines[-1] == "finish error 4 1"
    # a NaN token in the prompt: the prompt step fails, nothing is sampled
    model = nan_stories(models_dir, tmp_path / "nan_once.gguf", ONCE)
    lines = gen_lines(model, "Once upon a time", 24)
    assert lines[-1] == "finish error 4 0"
    assert not [x for x in lines if x.startswith("step 2 ")]


def test_server_answers_an_error_and_keeps_serving(tmp_path, models_dir):
    clean = models_dir / "stories260K.gguf"
    nan = nan_stories(models_dir, tmp_path / "nan.gguf", FIRST_OF_LILY)
    good = {"prompt": "The dog ran", "max_tokens": 24, "temperature": 0}
    bad = {"prompt": "Lily", "max_tokens": 24, "temperature": 0}
    want = Script(model=clean).open(1).send(1, request("POST", "/v1/completions", good))
    [want_resp] = want.run().execute().responses(1)
    assert want_resp.status == 200
    # the failing request first, then one on a new connection once it has ended
    s = Script(model=nan)
    s.open(1).send(1, request("POST", "/v1/completions", bad)).run()
    s.open(2).send(2, request("POST", "/v1/completions", good)).run()
    r = s.execute()
    [failed] = r.responses(1)
    [served] = r.responses(2)
    assert failed.status == 500, failed.body
    assert served.status == 200, served.body
    assert served.json()["choices"][0]["text"] == want_resp.json()["choices"][0]["text"]
    # and both at once: the batch with the failing sequence leaves the other's answer alone
    s = Script(model=nan)
    s.open(1).send(1, request("POST", "/v1/completions", bad))
    s.open(2).send(2, request("POST", "/v1/completions", good)).run()
    r = s.execute()
    assert r.responses(1)[0].status == 500
    assert r.responses(2)[0].json()["choices"][0]["text"] == \
        want_resp.json()["choices"][0]["text"]
