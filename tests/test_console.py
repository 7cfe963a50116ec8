"""Console mode end to end: `cllm run --prompt` boots the kernel in QEMU, which encodes
the prompt, generates, writes exactly the continuation to COM2 (stdout) and exits.
Expected text comes from independent code: greedy tokens of the numpy reference
(tests/reference_llama.py) decoded with llama2.c's rules (tests/llama2c_ref.py)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import llama2c_ref
import pytest
from test_console_host import MODELS, expected_continuation

from cllm_build import qemu

pytestmark = pytest.mark.qemu

TIMINGS = re.compile(r"cllm: timings: prompt (\d+) tokens \d+\.\d\d tok/s, "
                     r"generation (\d+) tokens \d+\.\d\d tok/s")


def cllm_run(elf: Path, models_dir: Path, model: str, *args: object,
             tokenizer: str | None = None) -> subprocess.CompletedProcess[bytes]:
    cmd = [sys.executable, "-m", "cllm_build", "run", str(elf), "--timeout", "240",
           "--model", str(models_dir / model)]
    if tokenizer:
        cmd += ["--tokenizer", str(models_dir / tokenizer)]
    cmd += [str(a) for a in args]
    return subprocess.run(cmd, capture_output=True, check=False, timeout=300)


def prompt_line(log: str) -> tuple[int, int]:
    m = re.search(r"cllm: prompt: (\d+) bytes, (\d+) tokens", log)
    assert m, log
    return int(m.group(1)), int(m.group(2))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_greedy_continuation_matches_run_c(kernel_elf, models_dir, name):
    model, tokenizer, vocab = MODELS[name]
    prompt, n = "Once upon a time", 60
    proc = cllm_run(kernel_elf, models_dir, model, "--prompt", prompt, "-n", n,
                    "--temperature", 0, tokenizer=tokenizer)
    log = proc.stderr.decode(errors="replace")
    assert proc.returncode == 0, log
    toks, text = expected_continuation(models_dir, model, vocab, prompt, n,
                                       stop_at_bos=tokenizer is not None)
    assert proc.stdout == text
    n_prompt = len(llama2c_ref.encode(llama2c_ref.load(models_dir / vocab, 512), prompt))
    assert prompt_line(log) == (len(prompt), n_prompt)
    m = TIMINGS.search(log)
    assert m and int(m.group(1)) == n_prompt and int(m.group(2)) == len(toks), log


def test_echo_prints_prompt_then_continuation(kernel_elf, models_dir):
    """--echo (the default on a terminal) frames the continuation with the prompt and a
    final newline; without a terminal stdout stays exactly the continuation."""
    args = ("--prompt", "Once upon a time", "-n", 20, "--temperature", 0)
    plain = cllm_run(kernel_elf, models_dir, "stories260K.gguf", *args)
    echoed = cllm_run(kernel_elf, models_dir, "stories260K.gguf", *args, "--echo")
    for p in (plain, echoed):
        assert p.returncode == 0, p.stderr.decode(errors="replace")
    assert plain.stdout and not plain.stdout.startswith(b"Once upon a time")
    assert echoed.stdout == b"Once upon a time" + plain.stdout + b"\n"


def test_echo_is_the_default_on_a_terminal(kernel_elf, models_dir):
    import os
    import pty

    master, slave = pty.openpty()
    cmd = [sys.executable, "-m", "cllm_build", "run", str(kernel_elf), "--timeout", "240",
           "--model", str(models_dir / "stories260K.gguf"), "--prompt", "Once upon a time",
           "-n", "20", "--temperature", "0"]
    proc = subprocess.Popen(cmd, stdout=slave, stderr=subprocess.PIPE)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the terminal's other side is closed
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    err = proc.communicate(timeout=300)[1]
    assert proc.returncode == 0, err.decode(errors="replace")
    assert out.startswith(b"Once upon a time") and out.endswith(b"\r\n"), out
    assert len(out) > len(b"Once upon a time\r\n"), out


def test_awkward_prompt_arrives_intact(kernel_elf, models_dir):
    prompt = 'She said "hi" and \'bye\'\n\tthen wrote 你好 😀 — done.\n'
    proc = cllm_run(kernel_elf, models_dir, "stories260K.bin", "--prompt", prompt, "-n", 40,
                    "--temperature", 0, tokenizer="tok512.bin")
    log = proc.stderr.decode(errors="replace")
    assert proc.returncode == 0, log
    tok = llama2c_ref.load(models_dir / "tok512.bin", 512)
    assert prompt_line(log) == (len(prompt.encode()), len(llama2c_ref.encode(tok, prompt)))
    _, text = expected_continuation(models_dir, "stories260K.bin", "tok512.bin", prompt, 40,
                                    stop_at_bos=True)
    assert proc.stdout == text


def test_seeded_sampling_reproducible_and_long(kernel_elf, models_dir):
    args = ("--prompt", "The cat", "--temperature", 0.9, "--seed")
    a = cllm_run(kernel_elf, models_dir, "stories260K.gguf", "-n", 250, *args, 4242)
    b = cllm_run(kernel_elf, models_dir, "stories260K.gguf", "-n", 250, *args, 4242)
    c = cllm_run(kernel_elf, models_dir, "stories260K.gguf", "-n", 40, *args, 7)
    for p in (a, b, c):
        assert p.returncode == 0, p.stderr.decode(errors="replace")
    assert a.stdout == b.stdout
    assert not a.stdout.startswith(c.stdout)
    m = TIMINGS.search(a.stderr.decode())
    assert m and int(m.group(2)) > 200  # a few hundred tokens unless the story ended
    assert len(a.stdout) > 500


def test_bad_sampling_value_is_an_error(kernel_elf, models_dir):
    proc = cllm_run(kernel_elf, models_dir, "stories260K.gguf", "--prompt", "Hi", "-o",
                    "temp=warm")
    log = proc.stderr.decode(errors="replace")
    assert proc.returncode == 1, log
    assert 'cllm.temp: bad value "warm"' in log
    assert proc.stdout == b""


@pytest.mark.parametrize("option, words", [
    ("presence_penalty=3", 'cllm.presence_penalty: bad value "3" (want a number in -2..2)'),
    ("max_tokens=1.5", 'cllm.max_tokens: bad value "1.5" (want an integer in -1..1073741824)'),
    ("seed=x", 'cllm.seed: bad value "x" (want an integer in -1..9007199254740992)'),
])
def test_console_ranges_are_the_parameter_tables(kernel_elf, models_dir, option, words):
    proc = cllm_run(kernel_elf, models_dir, "stories260K.gguf", "--prompt", "Hi", "-o", option)
    log = proc.stderr.decode(errors="replace")
    assert proc.returncode == 1, log
    assert f"cllm: console: error: {words}" in log
    assert proc.stdout == b""


def test_console_spellings_of_max_tokens_and_temperature(kernel_elf, models_dir):
    """cllm.max_tokens and cllm.temperature are the table's names; cllm.n and cllm.temp
    (what `cllm run -n --temperature` writes) stay; of several, the last wins."""
    base = cllm_run(kernel_elf, models_dir, "stories260K.gguf", "--prompt", "Once upon a time",
                    "-n", 12, "--temperature", 0)
    long = cllm_run(kernel_elf, models_dir, "stories260K.gguf", "--prompt", "Once upon a time",
                    "-o", "n=5", "-o", "max_tokens=12", "-o", "temperature=0")
    for p in (base, long):
        assert p.returncode == 0, p.stderr.decode(errors="replace")
    assert long.stdout == base.stdout
    m = TIMINGS.search(long.stderr.decode())
    assert m and int(m.group(2)) == 12


def test_without_model_fails_cleanly(kernel_elf, tmp_path):
    prompt = tmp_path / "prompt"
    prompt.write_bytes(b"Once upon a time")
    spec = qemu.QemuSpec(elf=kernel_elf, modules=(qemu.Module(prompt, "prompt"),))
    boot = qemu.boot_to_exit(spec, timeout=120)
    assert boot.status == 1, boot.log
    assert "cllm: console: error: no model loaded" in boot.log
    assert boot.data == b""


def test_x87_only_cpu_gives_the_same_text(kernel_elf, models_dir):
    # -cpu pentium has no SSE2: scalar x87 kernels and sampler; the text must not change
    args = ("--prompt", "Once upon a time", "-n", 60, "--temperature", 0.8, "--seed", 9)
    x87 = cllm_run(kernel_elf, models_dir, "stories260K.gguf", "--cpu", "pentium", *args)
    sse = cllm_run(kernel_elf, models_dir, "stories260K.gguf", *args)
    assert x87.returncode == 0 and sse.returncode == 0, x87.stderr.decode(errors="replace")
    assert "sse2 on" not in x87.stderr.decode()
    assert x87.stdout == sse.stdout and len(x87.stdout) > 100
