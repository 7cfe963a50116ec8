"""The panic symbolizer (cllm_build/symbolize.py) on the real kernel ELF: addresses
taken from its .symtab come back as the right function+offset, and a panic report
in a log is found, parsed and rewritten."""

from __future__ import annotations

from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from cllm_build import symbolize


def _functions(elf: Path) -> dict[str, tuple[int, int]]:
    with open(elf, "rb") as f:
        tab = ELFFile(f).get_section_by_name(".symtab")
        return {s.name: (s["st_value"], s["st_size"]) for s in tab.iter_symbols()
                if s["st_info"]["type"] == "STT_FUNC" and s["st_size"] >= 16}


@pytest.fixture(scope="module")
def funcs(kernel_elf: Path) -> dict[str, tuple[int, int]]:
    return _functions(kernel_elf)


def test_lookup_names_function_and_offset(kernel_elf: Path, funcs: dict[str, tuple[int, int]]) -> None:
    sym = symbolize.Symbolizer(kernel_elf)
    main_addr, main_size = funcs["kernel_main"]
    assert sym.lookup(main_addr) == ("kernel_main", 0)
    assert sym.lookup(main_addr + main_size - 1) == ("kernel_main", main_size - 1)
    for name, (addr, size) in list(funcs.items())[:50]:
        got = sym.lookup(addr + size // 2)
        assert got is not None and got[1] == size // 2, name
    assert sym.lookup(0x10) is None  # below the image


def test_panic_report_is_symbolized(kernel_elf: Path, funcs: dict[str, tuple[int, int]]) -> None:
    (a_name, (a, _)), (b_name, (b, b_size)) = sorted(funcs.items())[:2]
    eip = a + 5
    ret = b + b_size  # a call as the last instruction: the return address is past the end
    log = "\n".join([
        "cllm 0.1.0 build 0123456789abcdef",
        "cllm: ready",
        "cllm: panic: page fault (vector 14) at address 0x00000000",
        (f"cllm: panic: eip=0x{eip:08x} esp=0x00100f00 ebp=0x00100f10 eax=0x00000001 "
         "ebx=0x00000002 ecx=0x00000003 edx=0x00000004 esi=0x00000005 edi=0x00000006 "
         "eflags=0x00000046 cr2=0x00000000 err=0x00000002"),
        f"cllm: trace: 0x{eip:08x}",
        f"cllm: trace: 0x{ret:08x}",
        "cllm: trace: 0x00000010",
        "cllm: panic end",
    ])
    report = symbolize.parse_panic(log)
    assert report is not None and report.complete
    assert report.reason == "page fault (vector 14) at address 0x00000000"
    assert report.regs["eip"] == eip and report.regs["err"] == 2 and len(report.regs) == 12
    text = symbolize.symbolize_log(log, kernel_elf)
    assert text is not None
    assert f"at    0x{eip:08x} {a_name}+0x5" in text
    assert f"#0   0x{eip:08x} {a_name}+0x5" in text
    assert f"#1   0x{ret:08x} {b_name}+0x{b_size:x}" in text
    assert "#2   0x00000010 ?" in text


def test_no_report_and_cut_short_report(kernel_elf: Path) -> None:
    assert symbolize.symbolize_log("cllm: ready\n", kernel_elf) is None
    text = symbolize.symbolize_log("cllm: panic: out of memory\ncllm: trace: 0x00000010\n", kernel_elf)
    assert text is not None and "out of memory" in text and "cut short" in text
