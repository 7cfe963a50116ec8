"""The generation loop (kernel/llm/generate.c) on the host through tests/host/tok_gen.c,
with the real engine (kernel/llm) under ASan/UBSan: greedy continuations equal the
numpy reference's greedy tokens decoded with llama2.c's rules, stop strings cut and hold
back text, UTF-8 is released only in whole characters, seeds reproduce, limits hold."""

from __future__ import annotations

import itertools
import subprocess
from dataclasses import dataclass
from pathlib import Path

import llama2c_ref
import pytest
import reference_llama
from hostcc import host_binary
from llm_harness import LLM_SOURCES

TOK_SOURCES = ["kernel/llm/tokenizer.c", "kernel/llm/tokenizer_bpe.c", "kernel/llm/tokenizer_unicode.c",
               "kernel/llm/sampler.c", "kernel/llm/gen_param.c", "kernel/llm/grammar.c",
               "kernel/llm/grammar_compile.c", "kernel/llm/generate.c"]


@pytest.fixture(scope="module")
def exe() -> Path:
    return host_binary("tok_gen", LLM_SOURCES + TOK_SOURCES + ["tests/host/tok_gen.c"])


@dataclass
class GenRun:
    prompt_ids: list[int]
    steps: list[tuple[int, int, bytes]]  # (rc, token, released bytes)
    finish: str
    finish_code: int
    n_gen: int

    @property
    def text(self) -> bytes:
        return b"".join(s[2] for s in self.steps)

    @property
    def tokens(self) -> list[int]:
        return [t for rc, t, _ in self.steps if t >= 0]


def gen(exe: Path, model: Path, prompt: str, *args: object,
        tokenizer: Path | None = None) -> GenRun:
    cmd = [str(exe), str(model)] + (["--tokenizer", str(tokenizer)] if tokenizer else [])
    cmd += [str(a) for a in args] + [prompt]
    proc = subprocess.run(cmd, capture_output=True, check=False, timeout=300)
    out = proc.stdout.decode()
    assert proc.returncode == 0 and "error" not in out, out + proc.stderr.decode()
    lines = out.splitlines()
    prompt_ids = [int(x) for x in lines[0].split()[2:]]
    steps = []
    for line in lines[1:-1]:
        w = line.split(" ")
        steps.append((int(w[1]), int(w[2]), bytes.fromhex(w[3]) if len(w) > 3 else b""))
    f = lines[-1].split()
    return GenRun(prompt_ids, steps, f[1], int(f[2]), int(f[3]))


MODELS = {
    "stories-gguf": ("stories260K.gguf", None, "tok512.bin"),
    "stories-bin": ("stories260K.bin", "tok512.bin", "tok512.bin"),
    "aidreams-gguf": ("aidreams260K.gguf", None, "aidreams260K-tok512.bin"),
    "aidreams-bin": ("aidreams260K.bin", "aidreams260K-tok512.bin", "aidreams260K-tok512.bin"),
}


def expected_continuation(models_dir: Path, model: str, vocab: str, prompt: str, n: int,
                          stop_at_bos: bool) -> tuple[list[int], bytes]:
    """Greedy tokens of the numpy reference and the text run.c prints after the prompt."""
    tok = llama2c_ref.load(models_dir / vocab, 512)
    ids = llama2c_ref.encode(tok, prompt)
    ref = reference_llama.load(models_dir / model)
    toks = reference_llama.greedy(ref, ids, n)
    if stop_at_bos and llama2c_ref.BOS in toks:
        toks = toks[:toks.index(llama2c_ref.BOS) + 1]
    text = llama2c_ref.decode(tok, [t for t in toks if t != llama2c_ref.BOS], prev=ids[-1])
    return toks, text


@pytest.mark.parametrize("name", sorted(MODELS))
def test_greedy_matches_reference(exe, models_dir, name):
    model, tokenizer, vocab = MODELS[name]
    prompt, n = "Once upon a time", 60
    r = gen(exe, models_dir / model, prompt, "--n", n, "--temp", 0,
            tokenizer=models_dir / tokenizer if tokenizer else None)
    want_toks, want_text = expected_continuation(models_dir, model, vocab, prompt, n,
                                                 stop_at_bos=tokenizer is not None)
    assert r.prompt_ids == llama2c_ref.encode(llama2c_ref.load(models_dir / vocab, 512), prompt)
    assert r.tokens == want_toks
    assert r.text == want_text
    assert r.finish == ("stop" if want_toks[-1] == llama2c_ref.BOS and tokenizer else "length")


def test_stop_string_cuts_and_holds_back(exe, models_dir):
    model = models_dir / "stories260K.gguf"
    full = gen(exe, model, "Once upon a time", "--n", 60, "--temp", 0).text
    cut = full.index(b"Lily")
    r = gen(exe, model, "Once upon a time", "--n", 60, "--temp", 0, "--stop", "Lily",
            "--stop", "zzz-never")
    assert r.finish == "stop" and r.finish_code == 2
    assert r.text == full[:cut]
    # nothing that could still become "Lily" was released before the match
    released = b""
    for _, _, chunk in r.steps:
        released += chunk
        partial = any(released.endswith(b"Lily"[:k]) for k in range(1, 4))
        assert not partial or released == full[:cut]


def test_stop_string_spanning_tokens(exe, models_dir):
    model = models_dir / "stories260K.gguf"
    full = gen(exe, model, "Once upon a time", "--n", 60, "--temp", 0).text
    stop = full[20:31].decode()  # crosses several token boundaries
    r = gen(exe, model, "Once upon a time", "--n", 60, "--temp", 0, "--stop", stop)
    assert r.finish == "stop" and r.text == full[:full.index(stop.encode())]


def utf8_incomplete_tail(b: bytes) -> bool:
    for back in range(1, min(4, len(b)) + 1):
        c = b[-back]
        if c & 0xC0 == 0x80:
            continue
        want = 4 if c >= 0xF0 else 3 if c >= 0xE0 else 2 if c >= 0xC0 else 1
        return back < want
    return False


def test_utf8_released_in_whole_characters(exe, models_dir):
    # a hot, unfiltered sampler over a vocabulary that is half byte tokens emits many
    # partial characters; no boundary between released chunks may split a character:
    # a chunk ending in an unfinished lead is never followed by its continuation bytes
    r = gen(exe, models_dir / "stories260K.gguf", "Once", "--n", 300, "--temp", 50, "--top-k", 0,
            "--top-p", 1, "--min-p", 0, "--seed", 5, "--ignore-eos")
    assert r.n_gen == 300 and r.finish == "length"
    chunks = [c for _, _, c in r.steps if c]
    assert sum(any(x >= 0x80 for x in c) for c in chunks) > 5
    for c, nxt in itertools.pairwise(chunks):
        assert not (utf8_incomplete_tail(c) and nxt[0] & 0xC0 == 0x80), (c, nxt)
    # and every byte is released, in order: the text is the decoded tokens (in a GGUF
    # vocabulary the control tokens BOS and EOS decode to nothing, <unk> to U+2585)
    tok = llama2c_ref.load(models_dir / "tok512.bin", 512)
    prev, want = r.prompt_ids[-1], b""
    for t in r.tokens:
        if t == 0:
            want += "\u2585".encode()
        elif t not in (llama2c_ref.BOS, llama2c_ref.EOS):
            want += llama2c_ref.decode_piece(tok, prev, t)
        prev = t
    assert r.text == want


def test_seed_reproducible(exe, models_dir):
    model = models_dir / "stories260K.gguf"
    a = gen(exe, model, "Once upon a time", "--n", 80, "--temp", 1, "--seed", 1234)
    b = gen(exe, model, "Once upon a time", "--n", 80, "--temp", 1, "--seed", 1234)
    c = gen(exe, model, "Once upon a time", "--n", 80, "--temp", 1, "--seed", 99)
    assert a.tokens == b.tokens and a.text == b.text
    assert a.tokens != c.tokens


def test_limits(exe, models_dir):
    model = models_dir / "stories260K.gguf"
    r = gen(exe, model, "Hi", "--n", 0)
    assert r.n_gen == 0 and r.finish == "length" and r.text == b""
    # aidreams has a 128-token context: generation stops when it is full
    r = gen(exe, models_dir / "aidreams260K.gguf", "Hi", "--n", 1000, "--temp", 1, "--seed", 3,
            "--ignore-eos")
    assert r.finish == "length" and len(r.prompt_ids) + r.n_gen == 128 + 1
    # prompt steps come first, in chunks, and release nothing
    prompt_steps = [s for s in r.steps if s[0] == 1]
    assert prompt_steps and all(t == -1 and c == b"" for _, t, c in prompt_steps)


def gen_error(exe: Path, model: Path, prompt: str, *args: object) -> str:
    proc = subprocess.run([str(exe), str(model), *map(str, args), prompt], capture_output=True,
                          check=False, timeout=120)
    out = proc.stdout.decode()
    assert proc.returncode == 0, out + proc.stderr.decode()
    errors = [line for line in out.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, out
    return errors[0]


def test_request_errors_name_the_problem(exe, models_dir):
    aid = models_dir / "aidreams260K.gguf"
    n = len(llama2c_ref.encode(llama2c_ref.load(models_dir / "aidreams260K-tok512.bin", 512),
                               "Hi " * 100))
    assert n > 128
    assert f"prompt: {n} tokens exceed the context of 128" in gen_error(exe, aid, "Hi " * 100)
    assert "stop[0]: length 65 not in 1..64" in gen_error(exe, aid, "Hi", "--stop", "x" * 65)
    assert "stop[1]: length 0 not in 1..64" in gen_error(exe, aid, "Hi", "--stop", "a",
                                                          "--stop", "")
    assert "top_p: value 2.000 out of range" in gen_error(exe, aid, "Hi", "--top-p", 2)
    # every one of them is the request's fault (an HTTP 400), not the server's (503)
    assert gen_error(exe, aid, "Hi", "--top-p", 2).endswith(" [request]")
    assert gen_error(exe, aid, "Hi", "--stop", "").endswith(" [request]")
