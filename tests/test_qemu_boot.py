"""The real kernel boots in QEMU (TCG) to `cllm: ready`: default machine, the oldest
CPU it supports (-cpu pentium: no SSE), and the smallest and largest memory sizes."""

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
