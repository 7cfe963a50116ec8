"""Helpers for the kernel substrate tests (tests/test_kernel_*.py): boot the kernel
in QEMU (TCG) through cllm_build.qemu and pick apart the COM1 log."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from cllm_build import qemu

# Every boot here ends by itself (self-tests or a panic); this only stops a hung one.
BOOT_TIMEOUT_S = 120.0
# How long the serial readers get to deliver the last bytes after QEMU exits.
READER_DRAIN_S = 30.0

SELFTEST_LINE = re.compile(r"^cllm: selftest (\S+) (ok|FAIL)\b(.*)$")
SUMMARY_LINE = re.compile(r"^cllm: selftest summary passed=(\d+) failed=(\d+)$")
MEMORY_LINE = re.compile(
    r"^cllm: memory: image (\d+) KiB, modules (\d+) KiB, heap (\d+) KiB, reserved (\d+) KiB, "
    r"free (\d+) KiB, total (\d+) KiB$")
PANIC_REGS = re.compile(
    r"^cllm: panic: eip=0x[0-9a-f]{8} esp=0x[0-9a-f]{8} ebp=0x[0-9a-f]{8} eax=0x[0-9a-f]{8} "
    r"ebx=0x[0-9a-f]{8} ecx=0x[0-9a-f]{8} edx=0x[0-9a-f]{8} esi=0x[0-9a-f]{8} edi=0x[0-9a-f]{8} "
    r"eflags=0x[0-9a-f]{8} cr2=0x([0-9a-f]{8}) err=0x[0-9a-f]{8}$")
TRACE_LINE = re.compile(r"^cllm: trace: 0x[0-9a-f]{8}$")


@dataclass(frozen=True)
class Boot:
    """What one boot left behind."""

    returncode: int
    status: int | None  # the kernel's exit status (qemu.STATUS_*), None if it wrote none
    log: str
    data: bytes         # everything on COM2
    lines: list[str]    # the COM1 lines


def boot(elf: Path, cmdline: str = "", *, memory_mib: int = 128, cpu: str | None = None,
         modules: tuple[qemu.Module, ...] = ()) -> Boot:
    """Boot `elf` without a NIC and wait for it to exit on its own."""
    spec = qemu.QemuSpec(elf=elf, memory_mib=memory_mib, cpu=cpu, accel="tcg", cmdline=cmdline,
                         modules=modules)
    with qemu.Qemu(spec) as vm:
        rc = vm.wait(BOOT_TIMEOUT_S)
        # On a loaded machine the serial readers may still be draining: wait until both
        # channels have seen QEMU close them, so the log is complete.
        vm.com1.join(READER_DRAIN_S)
        vm.com2.join(READER_DRAIN_S)
        return Boot(rc, qemu.kernel_status(rc), vm.log_text(), vm.data(), vm.lines)


def selftests(lines: list[str]) -> dict[str, tuple[str, str]]:
    """name -> (ok|FAIL, detail) for every self-test line."""
    out = {}
    for line in lines:
        m = SELFTEST_LINE.match(line)
        if m:
            out[m.group(1)] = (m.group(2), m.group(3).strip())
    return out


def memory_kib(lines: list[str]) -> dict[str, int]:
    """The fields of the boot memory line, in KiB."""
    found = [m for m in map(MEMORY_LINE.match, lines) if m is not None]
    assert len(found) == 1, f"want one memory line, got {len(found)}"
    names = ("image", "modules", "heap", "reserved", "free", "total")
    return dict(zip(names, map(int, found[0].groups())))
