"""The vector level chosen at boot (QEMU, TCG): `-cpu max` has AVX2, FMA and F16C, so
the kernel enables AVX state and runs the AVX2 kernel set (on both CPUs of `-smp 2`),
and its greedy tokens equal the host build's SSE2 path, logits within LOGIT_TOL; a
CPU with AVX but not AVX2 runs the SSE2 set with the same logits; a Pentium III (SSE,
no SSE2) runs the x87 set. The default CPU (qemu32, SSE2) and
`-cpu pentium` are covered by test_llm_qemu.py."""

from __future__ import annotations

import llm_harness as H
import numpy as np
import pytest
from test_llm_qemu import BOOT_TIMEOUT, CHECK_STEPS, _check_complete, parse_check, short_tmp  # noqa: F401

from cllm_build.qemu import Module, Qemu, QemuSpec

pytestmark = pytest.mark.qemu

# |kernel AVX2 - host SSE2| on the check's logits: the AVX2 set gives the SSE2 set's
# bits (tests/test_avx2_host.py); the kernel prints logits to 1e-6 and is built by
# another compiler than the host harness, so the bound of test_llm_qemu.py's SSE2 check.
LOGIT_TOL = 1e-4

def boot_log(spec: QemuSpec) -> str:
    """Boot to `cllm: ready`; once more if a lost serial byte spoiled the check report."""
    for _ in range(2):
        with Qemu(spec) as vm:
            vm.wait_for_line(r"^cllm: ready", BOOT_TIMEOUT)
            log = vm.log_text()
        if _check_complete(log):
            break
    return log


@pytest.mark.parametrize("qtype", ["F32", "Q8_0", "Q4_0"])
def test_cpu_max_runs_avx2_and_matches_sse2(kernel_elf, models_dir, short_tmp, qtype):  # noqa: F811
    from cllm_build.convert import convert

    model = models_dir / "stories260K.gguf"
    if qtype != "F32":
        model = convert(models_dir / "stories260K.bin", models_dir / "tok512.bin", short_tmp / "m.gguf", qtype)
    spec = QemuSpec(elf=kernel_elf, modules=(Module(model, "model"),), cpu="max",
                    cmdline=f"cllm.llm_check={CHECK_STEPS}")
    log = boot_log(spec)
    assert "avx on avx2 on" in log and "cllm: cpu: vector level avx2" in log.splitlines()
    assert f"type {qtype}" in log
    logits, toks, used = parse_check(log)
    assert used == "avx2"
    host = H.logits(model, [1])[0]
    assert np.abs(logits - host).max() < LOGIT_TOL * max(1.0, np.abs(host).max())
    assert toks == H.greedy(model, [1], CHECK_STEPS)


@pytest.mark.parametrize("qtype,smp", [("Q5_1", 1), ("Q4_K", 2)])
def test_cpu_max_newer_types_match_host(kernel_elf, short_tmp, qtype, smp):  # noqa: F811
    """wt_legacy_avx2.c and wt_kquant_avx2.c in the kernel: the host's logits (their
    AVX2 dot products give the SSE2 and scalar bits) and greedy tokens. The Q4_K model's
    256 x 512 matrices are above OPS_PAR_MIN_WORK, so with two CPUs the application
    processor runs AVX2 code too (it would fault without its own CR4.OSXSAVE and XCR0)."""
    from gguf import GGMLQuantizationType as QT
    from gguf_synth import write_llama

    t = QT[qtype]
    model = write_llama(short_tmp / "m.gguf", t, seed=int(t), ctx=64,
                        **({"dim": 256, "hidden": 512} if qtype.endswith("_K") else {}))
    spec = QemuSpec(elf=kernel_elf, modules=(Module(model, "model"),), cpu="max", smp=smp,
                    cmdline=f"cllm.llm_check={CHECK_STEPS}")
    log = boot_log(spec)
    assert f"type {qtype}" in log, log
    assert f"cllm: smp: {smp} of {smp} CPUs in use" in log
    logits, toks, used = parse_check(log)
    assert used == "avx2"
    host = H.logits(model, [1])[0]
    assert np.abs(logits - host).max() < 1e-4 * max(1.0, np.abs(host).max())
    assert toks == H.greedy(model, [1], CHECK_STEPS)


def test_avx_without_avx2_runs_sse2_with_the_same_logits(kernel_elf, models_dir, short_tmp):  # noqa: F811
    """`-cpu max,-avx2`: AVX state on, but the SSE2 set; its check logits are the AVX2
    set's to the printed digit (the two sets give the same bits)."""
    from cllm_build.convert import convert

    model = convert(models_dir / "stories260K.bin", models_dir / "tok512.bin", short_tmp / "m.gguf", "Q8_0")
    out = {}
    for cpu in ("max", "max,-avx2"):
        spec = QemuSpec(elf=kernel_elf, modules=(Module(model, "model"),), cpu=cpu,
                        cmdline=f"cllm.llm_check={CHECK_STEPS}")
        log = boot_log(spec)
        out[cpu] = parse_check(log)
        assert ("avx on avx2 on" if cpu == "max" else "avx on avx2 no") in log
    assert out["max"][2] == "avx2" and out["max,-avx2"][2] == "sse2"
    assert np.array_equal(out["max"][0], out["max,-avx2"][0])
    assert out["max"][1] == out["max,-avx2"][1]


def test_pentium3_without_sse2_runs_x87(kernel_elf, models_dir):
    model = models_dir / "stories260K.gguf"
    spec = QemuSpec(elf=kernel_elf, modules=(Module(model, "model"),), cpu="pentium3",
                    cmdline=f"cllm.llm_check={CHECK_STEPS}")
    log = boot_log(spec)
    assert "sse on sse2 no avx no avx2 no" in log and "cllm: cpu: vector level x87" in log.splitlines()
    _, toks, used = parse_check(log)
    assert used == "scalar"
    assert toks == H.greedy(model, [1], CHECK_STEPS)
