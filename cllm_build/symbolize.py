"""Symbolize a kernel panic report: addresses become `function+offset`.

The kernel prints a panic on COM1 as
    cllm: panic: <reason>
    cllm: panic: eip=0x... esp=0x... ebp=0x... eax=... ... cr2=... err=...
    cllm: trace: 0x<return address>      (one per stack frame)
    cllm: panic end
`parse_panic` finds that block in a log; `Symbolizer` maps addresses through the
ELF's .symtab (pyelftools); `format_report` writes the block back with every eip and
trace address resolved. Called by `cllm run` and the tests.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from pathlib import Path

from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from cllm_build.errors import CllmError

_PANIC = re.compile(r"cllm: panic: (.*)$")
_REGS = re.compile(r"\b([a-z0-9]+)=(0x[0-9a-fA-F]+|[0-9a-fA-F]+)\b")
_TRACE = re.compile(r"cllm: trace: (0x[0-9a-fA-F]+)")
_END = re.compile(r"cllm: panic end")


@dataclass
class PanicReport:
    reason: str
    regs: dict[str, int] = field(default_factory=dict)
    trace: list[int] = field(default_factory=list)
    complete: bool = False  # the `panic end` line was seen


def parse_panic(log: str) -> PanicReport | None:
    """The first panic report in `log`, or None if the log holds none."""
    report: PanicReport | None = None
    for line in log.splitlines():
        if report is None:
            m = _PANIC.search(line)
            if m is not None:
                report = PanicReport(reason=m.group(1).strip())
            continue
        if _END.search(line):
            report.complete = True
            break
        m = _TRACE.search(line)
        if m is not None:
            report.trace.append(int(m.group(1), 16))
            continue
        m = _PANIC.search(line)
        if m is not None and "eip=" in m.group(1):
            report.regs = {k: int(v, 16) for k, v in _REGS.findall(m.group(1))}
    return report


class Symbolizer:
    """Address -> `function+0xoff` from the function and object symbols of an ELF."""

    def __init__(self, elf: Path) -> None:
        try:
            with open(elf, "rb") as f:
                ef = ELFFile(f)
                symtab = ef.get_section_by_name(".symtab")
                if not isinstance(symtab, SymbolTableSection):
                    raise CllmError(f"{elf}: no .symtab, cannot symbolize (was it stripped?)")
                syms = []
                for s in symtab.iter_symbols():
                    kind = s["st_info"]["type"]
                    if kind in ("STT_FUNC", "STT_OBJECT", "STT_NOTYPE") and s.name and s["st_value"]:
                        if s["st_shndx"] == "SHN_UNDEF" or s["st_shndx"] == "SHN_ABS":
                            continue
                        syms.append((s["st_value"], s["st_size"], s.name, kind == "STT_FUNC"))
        except OSError as exc:
            raise CllmError(f"cannot read {elf}: {exc}") from exc
        # Prefer functions over labels at the same address.
        syms.sort(key=lambda t: (t[0], not t[3]))
        self._addrs = [s[0] for s in syms]
        self._syms = syms

    def _nearest(self, addr: int) -> tuple[str, int, bool] | None:
        """(symbol, offset, inside) of the last symbol at or below `addr`; `inside`
        is False when `addr` lies past that symbol's size (code without a symbol)."""
        i = bisect.bisect_right(self._addrs, addr) - 1
        if i < 0:
            return None
        # Walk back over symbols at the same address to pick the function first.
        while i > 0 and self._addrs[i - 1] == self._addrs[i]:
            i -= 1
        start, size, name, _ = self._syms[i]
        off = addr - start
        return name, off, not size or off < size

    def lookup(self, addr: int) -> tuple[str, int] | None:
        """(symbol, offset) containing `addr`, or None if no symbol covers it."""
        hit = self._nearest(addr)
        if hit is None or not hit[2]:
            return None
        return hit[0], hit[1]

    def describe(self, addr: int, return_address: bool = False) -> str:
        """`0x... name+0xoff`. A return address is looked up at addr-1, so a call at
        the very end of a function still names that function; so is any address
        just past a function's end (a software panic reports its caller's return
        address as eip). Code no symbol covers is shown as `?` with its neighbour."""
        hit = self.lookup(addr - 1) if return_address and addr else None
        if hit is None:
            hit = self.lookup(addr)
            if hit is None and addr:
                back = self.lookup(addr - 1)
                hit = (back[0], back[1] + 1) if back is not None else None
        else:
            hit = (hit[0], hit[1] + 1)
        if hit is not None:
            return f"0x{addr:08x} {hit[0]}+0x{hit[1]:x}"
        near = self._nearest(addr)
        if near is not None:
            return f"0x{addr:08x} ? (no symbol; {near[1]:#x} bytes after {near[0]})"
        return f"0x{addr:08x} ?"


def format_report(report: PanicReport, sym: Symbolizer) -> str:
    """The panic report as text, with eip and each trace frame symbolized."""
    out = [f"kernel panic: {report.reason}"]
    if report.regs:
        regs = " ".join(f"{k}=0x{v:08x}" for k, v in report.regs.items())
        out.append(f"  registers: {regs}")
        if "eip" in report.regs:
            out.append(f"  at    {sym.describe(report.regs['eip'])}")
    for i, addr in enumerate(report.trace):
        # The first frame is usually the faulting eip itself, not a return address.
        is_eip = i == 0 and addr == report.regs.get("eip")
        out.append(f"  #{i:<3} {sym.describe(addr, return_address=not is_eip)}")
    if not report.complete:
        out.append("  (report cut short: no `cllm: panic end` line)")
    return "\n".join(out)


def symbolize_log(log: str, elf: Path) -> str | None:
    """The symbolized panic report found in `log`, or None if there is none."""
    report = parse_panic(log)
    if report is None:
        return None
    return format_report(report, Symbolizer(elf))
