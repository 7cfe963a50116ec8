"""Gemma 3 270M (arch gemma3) inside the kernel (QEMU), in console mode: the greedy
continuation of a prompt is llama.cpp's (tests/goldens/). The model is the Q8_0
requantization of the pulled file (tests/model_files.py), a few tokens only: TCG
makes well under one token per second of this model."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import model_files as M
import pytest

from cllm_build.qemu import Module, QemuSpec, boot_to_exit, default_memory_mib

pytestmark = pytest.mark.qemu

GOLDEN = Path(__file__).resolve().parent / "goldens" / "gemma3-270m.requant-q8_0.json"
N_TOKENS = 4
TIMEOUT_S = 400


def vocab_pieces(path: Path) -> list[str]:
    import gguf

    f = gguf.GGUFReader(str(path)).fields["tokenizer.ggml.tokens"]
    return [bytes(f.parts[i]).decode() for i in f.data]


def test_gemma3_console_continues_as_llama_cpp(kernel_elf):
    g = json.loads(GOLDEN.read_text())
    case = g["cases"][0]
    assert case["kind"] == "raw" and min(case["margins"][:N_TOKENS]) > 0.1
    try:
        model = M.model_variant("gemma3-270m", "requant-q8_0")
    except M.ModelMissing as e:
        pytest.fail(str(e))
    pieces = vocab_pieces(model)
    want = "".join(pieces[t] for t in case["continuation"][:N_TOKENS]).replace("\u2581", " ")
    # a short directory: the kernel keeps 64 bytes of a module's "<path> <name>"
    with tempfile.TemporaryDirectory(prefix="cllm") as d:
        (Path(d) / "m.gguf").symlink_to(model)
        prompt = Path(d) / "p.txt"
        prompt.write_text(case["text"])
        spec = QemuSpec(elf=kernel_elf, cmdline=f"cllm.n={N_TOKENS} cllm.temp=0",
                        memory_mib=default_memory_mib(model),
                        modules=(Module(Path(d) / "m.gguf", "model"), Module(prompt, "prompt")))
        res = boot_to_exit(spec, TIMEOUT_S)
    assert res.status == 0, res.log
    assert "arch gemma3 dim 640 layers 18 heads 4/1 vocab 262144" in res.log
    assert res.data.decode() == want


@pytest.mark.parametrize("arch", ["qwen2", "gemma3"])
@pytest.mark.parametrize("cpu,kernels", [(None, "sse2"), ("pentium", "scalar")])
def test_kernel_matches_host_on_each_architecture(kernel_elf, tmp_path, arch, cpu, kernels):
    """A small random model of the architecture (tests/arch_synth.py): the kernel's
    logits after BOS and its greedy run (past gemma3's sliding window) equal the host
    build's, on the SSE2 and the x87 kernels."""
    import arch_synth
    import llm_harness as H
    import numpy as np
    from test_llm_qemu import CHECK_STEPS, boot_check, parse_check

    with tempfile.TemporaryDirectory(prefix="cllm") as d:
        model = arch_synth.write(Path(d) / "m.gguf", arch)
        log = boot_check(kernel_elf, [Module(model, "model")], cpu)
        assert f"arch {arch} dim {arch_synth.DIM}" in log
        logits, toks, used = parse_check(log)
        assert used == kernels
        assert np.abs(logits - H.logits(model, [1])[0]).max() < 1e-4
        assert toks == H.greedy(model, [1], CHECK_STEPS, scalar=kernels == "scalar")
