"""The model loader and forward pass inside the kernel (QEMU, TCG): the kernel's
logits and greedy tokens equal the host build's, on the SSE2 path (default CPU)
and the scalar x87 path (-cpu pentium); refused models leave the kernel running."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import llm_harness as H
import numpy as np
import pytest

from cllm_build.qemu import Module, Qemu, QemuSpec

pytestmark = pytest.mark.qemu

CHECK_STEPS = 40
BOOT_TIMEOUT = 120


@pytest.fixture
def short_tmp():
    """A temporary directory with a short path: the kernel keeps 64 bytes of a
    module's command line ("<path> <name>"), so a long path would hide the name."""
    with tempfile.TemporaryDirectory(prefix="cllm") as d:
        yield Path(d)


def boot_check(elf: Path, modules: list[Module], cpu: str | None = None,
               cmdline: str = f"cllm.llm_check={CHECK_STEPS}") -> str:
    """Boot to `cllm: ready` and return the log. The serial driver gives up waiting
    for the UART after a bounded spin, so on a heavily loaded host a byte can be
    lost; a check report that does not parse is booted once more."""
    spec = QemuSpec(elf=elf, modules=tuple(modules), cmdline=cmdline, cpu=cpu)
    for attempt in range(2):
        with Qemu(spec) as vm:
            vm.wait_for_line(r"^cllm: ready", BOOT_TIMEOUT)
            log = vm.log_text()
        if "llm_check" not in cmdline or "cllm: model: error" in log or _check_complete(log):
            break
    return log


def _check_complete(log: str) -> bool:
    starts = [int(m.group(1)) for m in re.finditer(r"^cllm: llm: check logits (\d+) ", log, re.MULTILINE)]
    return bool(starts) and starts == list(range(0, 16 * len(starts), 16)) and \
        re.search(r"^cllm: llm: check \d+ forward passes", log, re.MULTILINE) is not None


def parse_check(log: str) -> tuple[np.ndarray, list[int], str]:
    vals: list[float] = []
    for m in re.finditer(r"^cllm: llm: check logits (\d+) (.*)$", log, re.MULTILINE):
        assert int(m.group(1)) == len(vals)
        vals += [int(x) * 1e-6 for x in m.group(2).split()]
    toks = re.search(r"^cllm: llm: check tokens(.*)$", log, re.MULTILINE)
    kern = re.search(r"^cllm: model: loaded from \w+, \d+ bytes, kernels (\w+)$", log, re.MULTILINE)
    assert toks and kern, log
    return np.array(vals), [int(x) for x in toks.group(1).split()], kern.group(1)


@pytest.mark.parametrize("cpu,kernels", [(None, "sse2"), ("pentium", "scalar")])
def test_kernel_matches_host(kernel_elf, models_dir, cpu, kernels):
    model = models_dir / "stories260K.gguf"
    log = boot_check(kernel_elf, [Module(model, "model")], cpu)
    assert "cllm: model: stories260K arch llama dim 64 layers 5 heads 8/4 vocab 512 ctx 512 type F32" in log
    logits, toks, used = parse_check(log)
    assert used == kernels
    host = H.logits(model, [1])[0]
    assert logits.shape == host.shape
    assert np.abs(logits - host).max() < 1e-4
    assert toks == H.greedy(model, [1], CHECK_STEPS)


def test_kernel_q8_0_scalar_matches_host(kernel_elf, models_dir, short_tmp):
    from cllm_build.convert import convert

    model = convert(models_dir / "stories260K.bin", models_dir / "tok512.bin", short_tmp / "q8.gguf", "Q8_0")
    log = boot_check(kernel_elf, [Module(model, "model")], "pentium")
    assert "vocab 512 ctx 512 type Q8_0" in log
    logits, toks, used = parse_check(log)
    assert used == "scalar"
    assert np.abs(logits - H.logits(model, [1])[0]).max() < 1e-4
    assert toks == H.greedy(model, [1], CHECK_STEPS)


def test_kernel_llama2c_with_tokenizer_module(kernel_elf, models_dir):
    model = models_dir / "aidreams260K.bin"
    log = boot_check(kernel_elf, [Module(model, "model"), Module(models_dir / "aidreams260K-tok512.bin",
                                                                 "tokenizer")])
    assert "arch llama dim 64 layers 4 heads 4/4 vocab 512 ctx 128 type F32" in log
    logits, toks, _ = parse_check(log)
    assert np.abs(logits - H.logits(model, [1])[0]).max() < 1e-4
    assert toks == H.greedy(model, [1], CHECK_STEPS)


@pytest.mark.parametrize("case", ["truncated", "bad_type"])
def test_bad_model_keeps_kernel_up(kernel_elf, models_dir, short_tmp, case):
    data = (models_dir / "stories260K.gguf").read_bytes()
    if case == "truncated":
        data, needle = data[:-100], "past end of file"
    else:
        i = data.index(b"blk.0.ffn_up.weight")  # tensor info: name, n_dims, 2 dims, type
        t = i + len(b"blk.0.ffn_up.weight") + 4 + 16
        data, needle = data[:t] + (99).to_bytes(4, "little") + data[t + 4:], "unknown type 99"
    bad = short_tmp / "bad.gguf"
    bad.write_bytes(data)
    log = boot_check(kernel_elf, [Module(bad, "model")])
    err = re.search(r"^cllm: model: error: (.*)$", log, re.MULTILINE)
    assert err and needle in err.group(1), log
    lines = log.splitlines()
    i = lines.index(err.group(0))
    assert lines[i + 1] == "cllm: no model"
    assert "cllm: ready" in lines[i + 1:]
    assert "panic" not in log


def test_embedded_llama2c_model_and_tokenizer(build_config, models_dir):
    from dataclasses import replace

    from cllm_build.build import build

    cfg = replace(build_config, build_dir=build_config.build_dir / "embed-llm",
                  embed_model=models_dir / "aidreams260K.bin",
                  embed_tokenizer=models_dir / "aidreams260K-tok512.bin")
    elf = build(cfg).elf
    log = boot_check(elf, [])
    assert "arch llama dim 64 layers 4 heads 4/4 vocab 512 ctx 128 type F32" in log
    _, toks, _ = parse_check(log)
    assert re.search(r"^cllm: model: loaded from image, 932124 bytes", log, re.MULTILINE)
    assert toks == H.greedy(models_dir / "aidreams260K.bin", [1], CHECK_STEPS)


def test_console_greedy_same_on_sse2_and_x87(kernel_elf, models_dir, short_tmp):
    from cllm_build.qemu import boot_to_exit

    prompt = short_tmp / "prompt.txt"
    prompt.write_bytes(b"Once upon a time")
    outs = []
    for cpu in (None, "pentium"):
        spec = QemuSpec(elf=kernel_elf, cpu=cpu, cmdline="cllm.n=48 cllm.temp=0",
                        modules=(Module(models_dir / "stories260K.gguf", "model"), Module(prompt, "prompt")))
        res = boot_to_exit(spec, BOOT_TIMEOUT)
        assert res.status == 0, res.log
        outs.append(res.data)
    assert len(outs[0]) > 40
    assert outs[0] == outs[1]


def test_no_model(kernel_elf):
    log = boot_check(kernel_elf, [], cmdline="")
    assert "cllm: no model" in log.splitlines()


@pytest.mark.parametrize("qtype", ["Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K",
                                   "BF16"])
@pytest.mark.parametrize("cpu,kernels", [(None, "sse2"), ("pentium", "scalar")])
def test_kernel_weight_types_match_host(kernel_elf, short_tmp, qtype, cpu, kernels):
    """A small GGUF of each newer weight type runs in the kernel (SSE2 and x87) as on
    the host."""
    from gguf import GGMLQuantizationType as QT
    from gguf_synth import write_llama

    t = QT[qtype]
    k = qtype.endswith("_K")
    model = write_llama(short_tmp / "m.gguf", t, seed=int(t), ctx=64,
                        **({"dim": 256, "hidden": 512} if k else {}))
    log = boot_check(kernel_elf, [Module(model, "model")], cpu)
    assert f"type {qtype}" in log, log
    logits, toks, used = parse_check(log)
    assert used == kernels
    host = H.logits(model, [1])[0]
    assert np.abs(logits - host).max() < 1e-4 * max(1.0, np.abs(host).max())
    assert toks == H.greedy(model, [1], CHECK_STEPS)


@pytest.mark.parametrize("cpu", [None, "pentium"])
def test_console_nan_model_ends_with_error(models_dir, kernel_elf, short_tmp, cpu):
    """NaN weights in the kernel (SSE2 and x87): the generation ends with an error
    after the token whose forward pass went NaN, no panic, the kernel exits cleanly."""
    from test_llm_nonfinite import FIRST_OF_LILY, nan_stories

    from cllm_build.qemu import boot_to_exit

    model = nan_stories(models_dir, short_tmp / "nan.gguf", FIRST_OF_LILY)
    prompt = short_tmp / "prompt.txt"
    prompt.write_bytes(b"Lily")
    spec = QemuSpec(elf=kernel_elf, cpu=cpu, cmdline="cllm.n=24 cllm.temp=0",
                    modules=(Module(model, "model"), Module(prompt, "prompt")))
    res = boot_to_exit(spec, BOOT_TIMEOUT)
    assert res.status == 1, res.log
    assert "cllm: console: done: 1 tokens, finish error" in res.log
    assert "panic" not in res.log
