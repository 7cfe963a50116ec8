"""SMP in the kernel, end to end under QEMU (TCG): `cllm run --smp N` starts every CPU
(each named on the log), the in-image `smp` self-test splits a computation across them
and finds it bit-identical to one CPU, console-mode greedy output does not depend on the
CPU count, a fault on an application processor gives a panic report naming that CPU
(exit 7), and a machine without ACPI tables falls back to the MP table."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from cllm_build import qemu

pytestmark = pytest.mark.qemu

ROOT = Path(__file__).resolve().parent.parent
STARTED = re.compile(r"^cllm: cpu (\d+): apic id (\d+) started", re.MULTILINE)
IN_USE = re.compile(r"^cllm: smp: (\d+) of (\d+) CPUs in use \(([^),]+)", re.MULTILINE)


def cllm_run(elf: Path, *args: object, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "cllm_build", "run", str(elf), "--accel", "tcg", "--timeout", str(timeout),
           *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=timeout + 60)


@pytest.mark.parametrize("cpus", [1, 2, 4, 8])
def test_every_cpu_starts_and_the_selftest_passes(kernel_elf, cpus):
    res = cllm_run(kernel_elf, "--no-model", "--smp", cpus, "-o", "selftest=smp")
    assert res.returncode == 0, res.stderr[-3000:]
    started = [(int(c), int(a)) for c, a in STARTED.findall(res.stderr)]
    assert [c for c, _ in started] == list(range(cpus)), res.stderr[-3000:]
    assert len({a for _, a in started}) == cpus  # one APIC id each
    assert IN_USE.search(res.stderr).groups() == (str(cpus), str(cpus), "ACPI MADT")
    assert f"cllm: selftest smp ok cpus={cpus} " in res.stderr


def test_cllm_smp_limits_the_cpus_used(kernel_elf):
    res = cllm_run(kernel_elf, "--no-model", "--smp", 4, "-o", "smp=2", "-o", "selftest=smp")
    assert res.returncode == 0, res.stderr[-3000:]
    assert [c for c, _ in STARTED.findall(res.stderr)] == ["0", "1"]
    assert "cllm: smp: 2 of 4 CPUs in use (ACPI MADT, limited by cllm.smp)" in res.stderr
    assert "cllm: selftest smp ok cpus=2 " in res.stderr


def test_console_output_is_the_same_on_every_cpu_count(kernel_elf):
    outs = {}
    for cpus in (1, 2, 8):
        res = cllm_run(kernel_elf, "--smp", cpus, "--prompt", "And the king said", "-n", 24,
                       "--temperature", 0)
        assert res.returncode == 0, res.stderr[-3000:]
        assert len(STARTED.findall(res.stderr)) == cpus
        outs[cpus] = res.stdout
    assert outs[1].strip() and outs[2] == outs[1] and outs[8] == outs[1]


def test_fault_on_an_application_processor_names_it(kernel_elf):
    res = cllm_run(kernel_elf, "--no-model", "--smp", 4, "-o", "selftest=ap_fault", timeout=120)
    assert res.returncode == 7, res.stderr[-3000:]
    m = re.search(r"kernel panic: page fault \(vector 14\) at address 0x00000000 on cpu 3 "
                  r"\(apic id (\d+)\)", res.stderr)
    assert m, res.stderr[-3000:]
    assert f"cllm: cpu 3: apic id {m.group(1)} started" in res.stderr
    assert "smp_test_fault" in res.stderr  # the symbolized trace starts on the faulting CPU
    assert res.stderr.count("cllm: panic end") == 1  # the other CPUs were stopped, silently


def test_fault_needs_a_second_cpu(kernel_elf):
    res = cllm_run(kernel_elf, "--no-model", "--smp", 1, "-o", "selftest=ap_fault", timeout=120)
    assert res.returncode == 1
    assert "cllm: selftest ap_fault FAIL needs a second CPU (have 1)" in res.stderr


def test_without_acpi_the_mp_table_is_used(kernel_elf):
    res = cllm_run(kernel_elf, "--no-model", "--smp", 2, "--qemu-arg=-machine", "--qemu-arg=acpi=off",
                   "-o", "selftest=smp")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "cllm: smp: no ACPI RSDP, trying the MP table" in res.stderr
    used, listed, source = IN_USE.search(res.stderr).groups()
    assert source == "MP table" and int(used) == int(listed) >= 1
    assert "cllm: cpu 0: apic id 0 started (boot CPU)" in res.stderr
    assert f"cllm: selftest smp ok cpus={used} " in res.stderr


def test_smp_flag_reaches_qemu(tmp_path):
    elf = tmp_path / "k.elf"
    elf.write_bytes(b"\x7fELF")
    assert "-smp" not in qemu.QemuSpec(elf=elf).command("a", "b")
    cmd = qemu.QemuSpec(elf=elf, smp=4).command("a", "b")
    assert cmd[cmd.index("-smp") + 1] == "4"
    assert 1 <= qemu.default_smp() <= qemu.SMP_DEFAULT_MAX


def test_stack_overflow_on_an_application_processor(kernel_elf):
    """The last CPU runs into the guard page below its own stack: a double fault, taken by
    that CPU's double-fault task, reported as that CPU's."""
    from cllm_build.steps.link import symbol_addresses

    res = cllm_run(kernel_elf, "--no-model", "--smp", 3, "-o", "selftest=ap_stack", timeout=120)
    assert res.returncode == 7, res.stderr[-3000:]
    assert re.search(r"kernel panic: double fault \(vector 8\) on cpu 2 \(apic id \d+\)", res.stderr)
    cr2 = int(re.search(r"cr2=0x([0-9a-f]{8})", res.stderr).group(1), 16)
    stacks = symbol_addresses(kernel_elf, ("ap_stacks",))["ap_stacks"]
    guard = stacks + 1 * (4096 + 65536)  # cpu 2's slot: guard page, then SMP_AP_STACK_SIZE
    assert guard <= cr2 < guard + 4096, f"cr2 {cr2:#x} is not cpu 2's guard page {guard:#x}"


def test_metrics_report_every_cpu(kernel_elf):
    import http.client
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    spec = qemu.QemuSpec(elf=kernel_elf, memory_mib=128, nic="e1000", host_port=port, smp=2)
    with qemu.Qemu(spec) as vm:
        vm.wait_for_line("cllm: ready", 120)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("GET", "/metrics")
        resp = conn.getresponse()
        body = resp.read().decode()
        conn.close()
    assert resp.status == 200
    assert re.search(r"^cllm_cpus 2$", body, re.MULTILINE), body
    busy = re.findall(r'^cllm_cpu_busy_cycles_total\{cpu="(\d)"\} (\d+)$', body, re.MULTILINE)
    assert [c for c, _ in busy] == ["0", "1"], body


@pytest.fixture(scope="module")
def model_15m(tmp_path_factory, models_dir) -> Path:
    """Random weights in the stories15M shape, Q8_0: matrices 288 wide and more, above
    OPS_PAR_MIN_WORK, so the forward pass really is split (the 260K models' are not)."""
    out = tmp_path_factory.mktemp("smp15m") / "s15m-q8_0.gguf"
    cmd = [sys.executable, "-m", "cllm_build", "synth", "--shape", "stories15M", "--type", "Q8_0",
           "--tokenizer", str(models_dir / "tokenizer.bin"), "-o", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    return out


CHECK = re.compile(r"^cllm: llm: check (logits \d+|tokens)(.*)$", re.MULTILINE)


def test_split_forward_pass_is_bit_identical_on_every_cpu_count(kernel_elf, model_15m):
    """The matrix products split across 1, 2, 4 and 8 CPUs: the first position's logits
    (llm_check, to the micro-unit), the greedy check tokens and the console output (a
    batched prompt, then generation) are the same. The prompt is long enough (over 120
    tokens) that attention past its first hundred positions is split by heads too. The
    console's batch profile shows split operations exactly when there is more than one
    CPU."""
    prompt = " ".join(["Once upon a time there was a little girl named Lily who lived near the forest."] * 8)
    seen = {}
    for cpus in (1, 2, 4, 8):
        res = cllm_run(kernel_elf, "--smp", cpus, "--model", model_15m, "--prompt", prompt, "-n", 12,
                       "--temperature", 0, "-o", "llm_check=6")
        assert res.returncode == 0, res.stderr[-3000:]
        assert len(STARTED.findall(res.stderr)) == cpus
        n_prompt = re.search(r"cllm: timings: prompt (\d+) tokens", res.stderr)
        assert n_prompt and int(n_prompt.group(1)) > 120, res.stderr[-2000:]
        seen[cpus] = (CHECK.findall(res.stderr), res.stdout)
        profile = re.search(r"^cllm: batch profile: (.*)$", res.stderr, re.MULTILINE)
        assert profile and "matmul " in profile.group(1), res.stderr[-2000:]
        assert ("split" in profile.group(1)) == (cpus > 1), profile.group(1)
    assert len(seen[1][0]) >= 2 and seen[1][1].strip()
    for cpus in (2, 4, 8):
        assert seen[cpus] == seen[1], f"{cpus} CPUs differ from one"


@pytest.mark.parametrize("qtype", ["Q4_K", "BF16", "F16"])
def test_split_forward_pass_other_input_forms(kernel_elf, tmp_path_factory, qtype):
    """Weight types whose matmul input is rounded to Q8_K (K-quants), bfloat16, or
    used as floats, 256 x 512 matrices (above OPS_PAR_MIN_WORK): the first position's
    logits and the greedy check tokens on 2 and 3 CPUs equal those on one."""
    from gguf import GGMLQuantizationType as QT
    from gguf_synth import write_llama

    tmp = tmp_path_factory.mktemp("sp")  # short: the kernel keeps 64 bytes of a module's line
    model = write_llama(tmp / "m.gguf", QT[qtype], seed=3, ctx=64, dim=256, hidden=512)
    seen = {}
    for cpus in (1, 2, 3):
        spec = qemu.QemuSpec(elf=kernel_elf, modules=(qemu.Module(model, "model"),), smp=cpus,
                             cmdline="cllm.llm_check=8")
        with qemu.Qemu(spec) as vm:
            vm.wait_for_line(r"^cllm: ready", 180)
            log = vm.log_text()
        assert f"type {qtype}" in log, log[-3000:]
        seen[cpus] = CHECK.findall(log)
    assert len(seen[1]) >= 2
    assert seen[2] == seen[1] and seen[3] == seen[1]
