"""The firmware-table readers behind SMP discovery (kernel/core/acpi.c, mptable.c),
built for the host with ASan and UBSan: good ACPI MADT / XSDT / MP tables give the
right processors, every corruption gives a reason instead of a fault, and random MADT
bodies never crash (tests/host/acpi_test.c); and smp_run in host builds of the portable
code is the caller alone (tests/host/smp_host_test.c)."""

from __future__ import annotations

import re
import subprocess

from hostcc import host_binary


def test_firmware_tables_on_host():
    exe = host_binary("kernel_acpi", ["kernel/core/acpi.c", "kernel/core/mptable.c", "tests/host/acpi_test.c"])
    proc = subprocess.run([str(exe)], check=False, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "acpi: all passed" in proc.stdout
    fuzz = re.search(r"acpi: fuzz (\d+) tables, (\d+) accepted", proc.stdout)
    assert fuzz and 0 < int(fuzz.group(2)) < int(fuzz.group(1))  # both paths exercised


def test_smp_run_on_host_is_one_cpu():
    exe = host_binary("smp_host", ["tests/host/smp_host_test.c"])
    proc = subprocess.run([str(exe)], check=False, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "smp_host: all passed" in proc.stdout
