"""The real kernel boots in QEMU (TCG) to `cllm: ready`: default machine, the oldest
CPU it supports (-cpu pentium: no SSE), the smallest and largest memory sizes (the
kernel's memory report matches what QEMU was given), and Multiboot modules whose
paths QEMU's -initrd syntax could not carry as they are."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cllm_build import __version__, qemu

BOOT_TIMEOUT_S = 60


def _boot_lines(elf: Path, **kw: object) -> list[str]:
    spec = qemu.QemuSpec(elf=elf, **kw)  # type: ignore[arg-type]
    with qemu.Qemu(spec) as vm:
        vm.wait_for_line(r"^cllm: ready$", BOOT_TIMEOUT_S)
        return vm.lines


@pytest.mark.qemu
@pytest.mark.parametrize("cpu,memory_mib", [(None, 256), ("pentium", 128), (None, 64), ("max", 3072)],
                         ids=["default", "pentium", "64MiB", "3GiB"])
def test_boots_to_ready(kernel_elf: Path, cpu: str | None, memory_mib: int) -> None:
    lines = _boot_lines(kernel_elf, cpu=cpu, memory_mib=memory_mib)
    # The banner is the first line, then status lines, then ready.
    assert re.fullmatch(rf"cllm {re.escape(__version__)} build [0-9a-f]{{16}}", lines[0]), lines[0]
    assert not [ln for ln in lines if "panic" in ln]
    mem = [ln for ln in lines if ln.startswith("cllm: memory: ")]
    assert len(mem) == 1, lines
    total_kib = int(re.search(r"total (\d+) KiB", mem[0]).group(1))
    # Usable RAM: all of it but the BIOS areas below 1 MiB and the top few pages.
    assert memory_mib * 1024 * 0.95 <= total_kib <= memory_mib * 1024, mem[0]
    # Memory by owner, once (a long table goes on in "(more)" lines): every byte of the
    # usable RAM in exactly one row.
    owners = [ln for ln in lines if ln.startswith("cllm: memory by owner")]
    assert [ln.startswith("cllm: memory by owner: ") for ln in owners] == [True] + [False] * (len(owners) - 1), lines
    text = ", ".join(ln.split(": ", 2)[2] for ln in owners)
    m = re.fullmatch(r"((?:[a-z_]+ \d+, )+)total (\d+) bytes", text)
    assert m, owners
    rows = {name: int(n) for name, n in (r.split() for r in m.group(1).rstrip(", ").split(", "))}
    assert sum(rows.values()) == int(m.group(2)), owners
    assert memory_mib << 20 >= int(m.group(2)) >= (memory_mib - 1) << 20, owners
    assert rows["image"] and rows["stack"] and rows["page_tables"] and rows["free"], owners


@pytest.mark.qemu
def test_modules_with_awkward_paths_arrive(kernel_elf: Path, tmp_path: Path) -> None:
    odd = tmp_path / "dir, with spaces"
    odd.mkdir()
    first = odd / "a,b.bin"
    first.write_bytes(b"\x01" * 1000)
    second = tmp_path / "plain.txt"
    second.write_bytes("prompt \u00e9\n".encode())
    mods = (qemu.Module(first, "model"), qemu.Module(second, "prompt_x"))
    lines = _boot_lines(kernel_elf, modules=mods, cmdline="cllm.unknown_for_test=1")
    assert any(re.fullmatch(r"cllm: module model at 0x[0-9a-f]+ len 1000", ln) for ln in lines), lines
    assert any(re.fullmatch(r"cllm: module prompt_x at 0x[0-9a-f]+ len 10", ln) for ln in lines), lines
    assert "cllm: warning: unknown option cllm.unknown_for_test" in lines
