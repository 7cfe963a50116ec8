"""The kernel substrate booted in QEMU (TCG): boot order and log lines, memory sizes,
CPUs without SSE or TSC, in-image self-tests, the command line, Multiboot modules,
the data channel, and the panic report of every deliberate fault."""

from __future__ import annotations

import re

import pytest
from kernel_util import (
    MEMORY_LINE,
    PANIC_REGS,
    SUMMARY_LINE,
    TRACE_LINE,
    boot,
    memory_kib,
    selftests,
)

from cllm_build import qemu

pytestmark = pytest.mark.qemu

# Self-tests that cllm.selftest=all runs (kernel/init/selftest.c).
ALL_TESTS = {"page", "heap", "heap_big", "paging", "timer", "string", "printf", "cmdline", "sse",
             "pci", "serial_data", "vga", "smp"}


def test_boot_selftests_cmdline_module(kernel_elf, tmp_path):
    prompt = tmp_path / "prompt.txt"
    prompt.write_bytes(b"Once upon a time")
    log = boot(kernel_elf, 'cllm.selftest=all cllm.foo=1 cllm.port=abc cllm.api_key="x y"',
               modules=(qemu.Module(prompt, "blob"),))
    lines = log.lines
    assert re.fullmatch(r"cllm \S+ build [0-9a-f]+", lines[0]), lines[0]
    # Boot order: memory report before the clock, PCI before ready, tests after ready.
    ready = lines.index("cllm: ready")
    assert any(MEMORY_LINE.match(line) for line in lines[:ready])
    assert any(line.startswith("cllm: pci 00:00.0 ") for line in lines[:ready])
    # The module is found by its name (the last word of its command line) and length.
    mod = [line for line in lines if line.startswith("cllm: module blob at 0x")]
    assert len(mod) == 1 and mod[0].endswith(" len 16"), mod
    # The command line: unknown key warned, bad value rejected naming key and value.
    assert "cllm: warning: unknown option cllm.foo" in lines
    assert any(line.startswith('cllm: warning: rejected cllm.port="abc"') for line in lines)
    assert "cllm: cmdline: 2 options, 1 rejected, 1 unknown" in lines
    results = selftests(lines)
    assert set(results) == ALL_TESTS, results
    failed = {k: v for k, v in results.items() if v[0] != "ok"}
    assert not failed
    assert SUMMARY_LINE.match(lines[-1]).groups() == (str(len(ALL_TESTS)), "0")
    assert log.status == qemu.STATUS_OK
    # The data channel carries raw bytes: no '\r' added before '\n', NUL and 0xFF intact.
    assert log.data == b"cllm\n\x00\xff\rz"


@pytest.mark.parametrize("cpu,memory_mib,sse", [
    ("pentium", 64, False),  # no SSE: x87 only
    ("486", 64, False),      # no TSC: the clock counts PIT ticks
    (None, 3072, True),      # 3 GiB: page map and heap across most of the 32-bit space
])
def test_boot_cpu_and_memory(kernel_elf, cpu, memory_mib, sse):
    log = boot(kernel_elf, "cllm.selftest=all", memory_mib=memory_mib, cpu=cpu)
    assert log.status == qemu.STATUS_OK, log.log[-2000:]
    mem = memory_kib(log.lines)
    total = memory_mib * 1024
    # QEMU keeps the BIOS areas (a few hundred KiB) out of the usable map.
    assert total - 1024 <= mem["total"] <= total
    assert mem["image"] + mem["modules"] + mem["heap"] + mem["reserved"] + mem["free"] == mem["total"]
    cpu_line = next(line for line in log.lines if line.startswith("cllm: cpu "))
    assert ("sse2 on" in cpu_line) == sse
    results = selftests(log.lines)
    assert all(v[0] == "ok" for v in results.values()), results
    assert ("no SSE2" in results["sse"][1]) == (not sse)
    if cpu == "486":
        assert "cllm: clock: pit 1000 Hz, no tsc" in log.lines


@pytest.mark.parametrize("name,reason", [
    ("fault_pf", r"page fault \(vector 14\) at address 0x([0-9a-f]{8})"),
    ("fault_ud", r"invalid opcode \(vector 6\)"),
    ("fault_de", r"divide error \(vector 0\)"),
    ("fault_zig", r"zig: index out of bounds: index 10, len 4"),
    # The overflow ends in a double fault, or in a page fault on the guard page when an
    # interrupt arrives with just enough stack left to enter its handler.
    ("fault_stack", r"double fault \(vector 8\)|page fault \(vector 14\) at address 0x([0-9a-f]{8})"),
])
def test_fault_gives_panic_report(kernel_elf, name, reason):
    log = boot(kernel_elf, f"cllm.selftest={name}", memory_mib=64)
    assert log.returncode == 5, log.log[-2000:]  # status 2 (panic) through isa-debug-exit
    lines = log.lines
    start = next(i for i, line in enumerate(lines) if line.startswith("cllm: panic: "))
    m = re.fullmatch(r"cllm: panic: " + reason, lines[start])
    assert m, lines[start]
    regs = PANIC_REGS.match(lines[start + 1])
    assert regs, lines[start + 1]
    trace = lines[start + 2:-1]
    assert len(trace) >= 2 and all(TRACE_LINE.match(line) for line in trace), trace
    assert lines[-1] == "cllm: panic end"
    guard = next(line for line in lines if line.startswith("cllm: paging: "))
    guard_page = int(guard.rsplit("guard page ", 1)[1], 16)
    if name == "fault_pf":
        assert int(m.group(1), 16) == guard_page == int(regs.group(1), 16)
    if name == "fault_stack":  # CR2 names the guard page either way
        assert guard_page <= int(regs.group(1), 16) < guard_page + 4096


def test_unknown_selftest_fails(kernel_elf):
    log = boot(kernel_elf, "cllm.selftest=page,nosuch", memory_mib=64)
    assert log.status == qemu.STATUS_FAILURE
    assert "cllm: selftest page ok" in log.lines
    assert "cllm: selftest nosuch FAIL unknown test" in log.lines
    assert log.lines[-1] == "cllm: selftest summary passed=1 failed=1"


def test_boot_without_selftest_stays_up(kernel_elf):
    spec = qemu.QemuSpec(elf=kernel_elf, memory_mib=64, accel="tcg")
    with qemu.Qemu(spec) as vm:
        vm.wait_for_line(r"^cllm: ready$", 60)
        # The poll loop runs: the machine has not exited by the time the host asks.
        with pytest.raises(qemu.BootError):
            vm.wait_for_line(r"^cllm: (panic|selftest)", 2)
        assert vm.poll() is None


def test_log_levels(kernel_elf):
    debug = boot(kernel_elf, "cllm.log=debug cllm.selftest=page", memory_mib=64)
    memmap = [line for line in debug.lines if line.startswith("cllm: memmap ")]
    usable = [line for line in memmap if line.endswith(" type 1")]
    assert usable and any(line.startswith("cllm: pci 00:00.0 ") for line in debug.lines), debug.lines
    quiet = boot(kernel_elf, "cllm.log=quiet cllm.selftest=page", memory_mib=64)
    assert not [line for line in quiet.lines if line.startswith(("cllm: pci 0", "cllm: memmap "))]
    assert "cllm: ready" in quiet.lines and quiet.status == qemu.STATUS_OK


def test_module_name_survives_a_long_path(kernel_elf, tmp_path):
    """QEMU passes a module's command line as "path name": a path longer than the
    kernel's name buffer must not cost the module its name."""
    import subprocess

    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    blob = deep / "blob.bin"
    blob.write_bytes(b"x" * 100)
    assert len(str(blob)) > 128
    proc = subprocess.run(
        ["qemu-system-i386", "-accel", "tcg", "-m", "64", "-display", "none", "-no-reboot",
         "-kernel", str(kernel_elf), "-initrd", f"{blob} blob",
         "-append", "cllm.selftest=string",
         "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
         "-serial", "stdio", "-serial", "null", "-monitor", "none"],
        capture_output=True, timeout=120, check=False)
    log = proc.stdout.decode("utf-8", "replace")
    assert re.search(r"^cllm: module blob at 0x[0-9a-f]+ len 100\r?$", log, re.MULTILINE), log
    assert qemu.kernel_status(proc.returncode) == 0, log


RTC_LINE = re.compile(r"^cllm: clock: rtc (\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d) UTC$")


@pytest.mark.parametrize("base", ["1999-12-31T23:59:58", "2024-02-29T12:34:56", "2038-01-19T03:14:07"])
def test_rtc_gives_the_wall_clock(kernel_elf, base):
    """QEMU's RTC started at `base`: the boot log shows that time (a second or two on,
    across a century, on a leap day, past 2^31 - 1 seconds)."""
    from datetime import datetime

    spec = qemu.QemuSpec(elf=kernel_elf, memory_mib=64, accel="tcg", cmdline="cllm.selftest=page",
                         extra_args=("-rtc", f"base={base}"))
    log = qemu.boot_to_exit(spec, 60)
    m = next((RTC_LINE.match(line) for line in log.lines if RTC_LINE.match(line)), None)
    assert m, log.lines
    got = datetime(*map(int, m.groups()))
    drift = (got - datetime.fromisoformat(base)).total_seconds()
    assert 0 <= drift <= 30, (got, base)


def test_a_command_line_cut_short_drops_the_cut_word(kernel_elf):
    """Past 1023 bytes the command line is cut; the word the cut falls in (here an API
    key) is dropped with a warning, never kept short."""
    pad = " ".join(["pad" * 20] * 6)  # words without the cllm. prefix: ignored
    log = boot(kernel_elf, f"cllm.selftest=cmdline {pad} cllm.api_key={'k' * 600}")
    assert log.status == qemu.STATUS_OK, log.log[-2000:]
    assert ('cllm: warning: command line longer than 1023 bytes: "cllm.api_key=kkkkkkkkkkkkkkkkkkk..." '
            "and what follows ignored") in log.lines, log.log[-3000:]
    assert "cllm: cmdline: 1 options, 0 rejected, 0 unknown" in log.lines, log.log[-3000:]
