"""Disassembly of the kernel ELF with capstone: listings and the two code checks.

Called by build.py after every link (check_or_raise), by `cllm disasm` (listing) and by
`cllm verify` (code_checks). Relies on pyelftools for sections and symbols.

1. Entry path: the instructions of boot/entry.s from `cllm_entry` on are parsed from
   the source text, their symbol operands replaced by the addresses the final ELF gives
   those symbols (`mov esp, boot_stack_top` -> `mov esp, 0x...`), and compared one by
   one with what capstone decodes at e_entry. The rest of `.boot` must be NOP padding.
   This catches a stub linked with first-pass (zero) addresses, an entry point that is
   not the stub, and any byte patched after assembly.
2. No SSE outside `.text.simd`: every executable section except `.text.simd` is swept
   linearly; an instruction naming an xmm/ymm/mm register, or one of the SSE
   instructions that names none (fences, prefetch, MXCSR access, non-temporal stores),
   fails the check. The kernel enables SSE itself, so such code would fault before it.
   `.text.avx2` is vector code too and is not swept by this rule.
3. No AVX outside `.text.avx2`: every executable section except `.text.avx2` (the
   SSE2 section included) is swept; a VEX- or EVEX-encoded instruction (AVX, AVX2, FMA,
   F16C, AVX-512, and the VEX-encoded BMI integer instructions) fails the check. An
   instruction is VEX-encoded when, after its legacy prefixes, its first opcode byte is
   C4 or C5 (VEX; in 32-bit mode these are LES/LDS unless the next byte's top two bits
   are set, which capstone resolves), 62 (EVEX, else BOUND) or 8F (XOP, else POP). Such
   code would raise #UD on a CPU the kernel did not switch to AVX.
"""

from __future__ import annotations

import bisect
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from cllm_build.errors import ToolMissing, UsageError, VerifyError
from cllm_build.steps.assemble import _strip_comments
from cllm_build.steps.checks import Check, format_table

ENTRY_SYMBOL = "cllm_entry"
SIMD_SECTION = ".text.simd"
AVX2_SECTION = ".text.avx2"
VECTOR_SECTIONS = (SIMD_SECTION, AVX2_SECTION)
# Legacy prefixes that may stand before an opcode (segment overrides, operand and
# address size, lock, rep); VEX itself forbids 66/F2/F3/F0, but the sweep skips all.
_LEGACY_PREFIXES = frozenset({0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65, 0x66, 0x67, 0xF0, 0xF2, 0xF3})
# First opcode byte of a VEX/EVEX/XOP encoding -> the legacy instruction it otherwise is.
_VEX_ESCAPES = {0xC4: "les", 0xC5: "lds", 0x62: "bound", 0x8F: "pop"}
NOP = 0x90
# SSE-family instructions that name no xmm/mm register (so the register test misses them).
SSE_NO_REGISTER = frozenset({
    "sfence", "lfence", "mfence", "prefetchnta", "prefetcht0", "prefetcht1", "prefetcht2",
    "ldmxcsr", "stmxcsr", "vldmxcsr", "vstmxcsr", "movnti", "clflush",
    "fisttp",  # SSE3, though its operands are x87
})
_SIMD_REG = re.compile(r"\b[xyz]?mm\d+\b|\bmxcsr\b")
_SIZE_PREFIX = re.compile(r"\b(byte|word|dword|qword|tbyte|xmmword|ymmword) ptr\s*")
_IDENT = re.compile(r"^[A-Za-z_.][A-Za-z0-9_.]*$")
MAX_REPORTED = 5  # offending instructions named in a failure message
NOP_RUN_FOLD = 4  # a listing folds this many or more consecutive NOPs into one line


@dataclass(frozen=True)
class Insn:
    address: int
    raw: bytes
    mnemonic: str
    op_str: str

    @property
    def text(self) -> str:
        return f"{self.mnemonic} {self.op_str}".strip()


class Symbols:
    """The ELF's named symbols, for name -> address and address -> `name+off` lookups."""

    def __init__(self, elf: ELFFile) -> None:
        self.by_name: dict[str, tuple[int, int]] = {}
        rows: list[tuple[int, int, int, str]] = []  # (address, size, local?, name)
        symtab = elf.get_section_by_name(".symtab")
        for s in symtab.iter_symbols() if isinstance(symtab, SymbolTableSection) else []:
            if not s.name or s["st_info"]["type"] in ("STT_FILE", "STT_SECTION"):
                continue
            if s["st_shndx"] == "SHN_UNDEF":
                continue
            is_global = s["st_info"]["bind"] == "STB_GLOBAL"
            # Prefer a global over a local of the same name (static helpers can repeat).
            if s.name not in self.by_name or is_global:
                self.by_name[s.name] = (s["st_value"], s["st_size"])
            rows.append((s["st_value"], s["st_size"], 0 if is_global else 1, s.name))
        # At one address: sized symbols (functions) first, then globals, then by name.
        rows.sort(key=lambda r: (r[0], -r[1], r[2], r[3]))
        self._rows = rows
        self._addrs = [r[0] for r in rows]

    def exact(self, addr: int) -> str | None:
        """The names at `addr`, ` = `-joined. Global names only when there is one: a
        linker-script mark such as `boot_stack_top` ends one region where a file's static
        variable (e.g. `tsc_hz`) may begin, and the mark is what the code refers to."""
        lo, hi = bisect.bisect_left(self._addrs, addr), bisect.bisect_right(self._addrs, addr)
        here = sorted(self._rows[lo:hi], key=lambda r: (r[2], -r[1], r[3]))  # globals first
        if here and here[0][2] == 0:
            here = [r for r in here if r[2] == 0]
        names = list(dict.fromkeys(r[3] for r in here))
        return " = ".join(names[:3]) if names else None

    def describe(self, addr: int) -> str | None:
        """`name` or `name+0xoff` for an address inside (or right after) a symbol."""
        i = bisect.bisect_right(self._addrs, addr) - 1
        if i < 0:
            return None
        start = self._addrs[i]
        i = bisect.bisect_left(self._addrs, start)  # the preferred symbol at that address
        _, size, _, name = self._rows[i]
        if size and addr >= start + size:
            return None
        return name if addr == start else f"{name}+{addr - start:#x}"

    def span(self, name: str, section_end: int) -> tuple[int, int]:
        """[start, end) of symbol `name`: its size, else up to the next symbol or section end."""
        if name not in self.by_name:
            raise UsageError(f"symbol {name!r} not found in the ELF symbol table")
        start, size = self.by_name[name]
        if size:
            return start, start + size
        later = [a for a in self._addrs if a > start]
        return start, min([section_end] + later[:1])


def _capstone():  # type: ignore[no-untyped-def]
    try:
        import capstone
    except ImportError as exc:
        raise ToolMissing("capstone is missing; install it with: pip install capstone") from exc
    return capstone


def _decode(code: bytes, base: int, count: int = 0) -> list[Insn]:
    """Linear sweep of `code` at `base` (at most `count` instructions if count > 0).

    A byte capstone cannot decode becomes a `.byte` line and the sweep goes on after it.
    """
    cs_mod = _capstone()
    md = cs_mod.Cs(cs_mod.CS_ARCH_X86, cs_mod.CS_MODE_32)
    out: list[Insn] = []
    off = 0
    while off < len(code) and (count == 0 or len(out) < count):
        for addr, size, mnem, ops in md.disasm_lite(code[off:], base + off):
            out.append(Insn(addr, code[addr - base:addr - base + size], mnem, ops))
            off = addr - base + size
            if count and len(out) >= count:
                return out
        if off < len(code):  # capstone stopped at an undecodable byte
            out.append(Insn(base + off, code[off:off + 1], ".byte", f"{code[off]:#04x}"))
            off += 1
    return out


def _elf(data: bytes) -> ELFFile:
    return ELFFile(io.BytesIO(data))


def _section_of(elf: ELFFile, addr: int):  # type: ignore[no-untyped-def]
    for sec in elf.iter_sections():
        if sec["sh_flags"] & SH_FLAGS.SHF_ALLOC and sec["sh_addr"] <= addr < sec["sh_addr"] + sec["sh_size"]:
            return sec
    return None


def _annotate(insn: Insn, syms: Symbols) -> str:
    notes = []
    for tok in re.findall(r"\b0x[0-9a-f]+\b", insn.op_str):
        value = int(tok, 16)
        is_branch = insn.mnemonic == "call" or insn.mnemonic.startswith("j")
        name = syms.describe(value) if is_branch else syms.exact(value)
        if name:
            notes.append(name)
    return f"  ; {', '.join(notes)}" if notes else ""


def disassemble(data: bytes, symbol: str | None = None) -> list[str]:
    """Listing lines of `symbol` (default: the entry stub, `cllm_entry` to the end of `.boot`)."""
    elf = _elf(data)
    syms = Symbols(elf)
    name = symbol or ENTRY_SYMBOL
    if name not in syms.by_name:
        raise UsageError(f"symbol {name!r} not found in the ELF symbol table")
    sec = _section_of(elf, syms.by_name[name][0])
    if sec is None or not sec["sh_flags"] & SH_FLAGS.SHF_EXECINSTR or sec["sh_type"] == "SHT_NOBITS":
        where = sec.name if sec is not None else "no section"
        raise UsageError(f"symbol {name!r} is not code (it lies in {where})")
    sec_end = sec["sh_addr"] + sec["sh_size"]
    start, end = (start := syms.by_name[name][0], sec_end) if symbol is None else syms.span(name, sec_end)
    end = min(end, sec_end)
    code = sec.data()[start - sec["sh_addr"]:end - sec["sh_addr"]]
    lines: list[str] = []
    insns = _decode(code, start)
    i = 0
    while i < len(insns):
        insn = insns[i]
        label = syms.exact(insn.address)
        if label:
            lines.append(f"{label}:")
        run = 0
        while i + run < len(insns) and insns[i + run].raw == bytes([NOP]) and (
                run == 0 or not syms.exact(insns[i + run].address)):
            run += 1
        if run >= NOP_RUN_FOLD:
            lines.append(f"  {insn.address:08x}  ({run} bytes of NOP padding)")
            i += run
            continue
        lines.append(f"  {insn.address:08x}  {insn.raw.hex(' '):<24} {insn.text}{_annotate(insn, syms)}")
        i += 1
    return lines


def _norm_operand(op: str, values: dict[str, int]) -> str | int:
    op = _SIZE_PREFIX.sub("", op.strip().lower())
    if op in values:
        return values[op]
    try:
        return int(op, 0) & 0xFFFFFFFF
    except ValueError:
        return op.replace(" ", "")


def _expected_stub(source: str, syms: Symbols) -> list[tuple[str, str, list[str | int]]]:
    """(source line, mnemonic, operands) for every instruction from `cllm_entry:` on."""
    values = {n.lower(): a for n, (a, _) in syms.by_name.items()}
    out = []
    seen_entry = False
    for line in _strip_comments(source):
        text = line.strip()
        if not text:
            continue
        if text.endswith(":") and _IDENT.match(text[:-1]):
            seen_entry = seen_entry or text[:-1] == ENTRY_SYMBOL
            continue
        if not seen_entry:
            continue
        if text.startswith("."):
            raise VerifyError(f"boot/entry.s: directive {text!r} after {ENTRY_SYMBOL}: cannot derive the "
                              "expected instructions")
        mnem, _, rest = text.partition(" ")
        ops = [o for o in rest.split(",")] if rest.strip() else []
        missing = [o.strip() for o in ops if _IDENT.match(o.strip()) and o.strip().lower() not in values
                   and not _is_register(o.strip())]
        if missing:
            raise VerifyError(f"boot/entry.s: {text!r} names {', '.join(missing)}, which the ELF does not define")
        out.append((text, mnem.lower(), [_norm_operand(o, values) for o in ops]))
    if not seen_entry:
        raise VerifyError(f"boot/entry.s has no {ENTRY_SYMBOL}: label")
    return out


_REGISTERS = frozenset([
    "eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "esp",
    "ax", "bx", "cx", "dx", "si", "di", "bp", "sp",
    "al", "bl", "cl", "dl", "ah", "bh", "ch", "dh",
    "cs", "ds", "es", "fs", "gs", "ss",
    "cr0", "cr2", "cr3", "cr4", "dr0", "dr1", "dr2", "dr3", "dr6", "dr7",
])


def _is_register(op: str) -> bool:
    return op.lower() in _REGISTERS


def entry_check(data: bytes, source: str) -> Check:
    """The stub at e_entry is exactly the instructions of `source` with resolved symbols."""
    name = "entry stub matches boot/entry.s"
    elf = _elf(data)
    syms = Symbols(elf)
    entry = elf["e_entry"]
    try:
        expected = _expected_stub(source, syms)
    except VerifyError as exc:
        return Check(name, False, str(exc))
    if syms.by_name.get(ENTRY_SYMBOL, (None,))[0] != entry:
        return Check(name, False, f"e_entry {entry:#x} is not {ENTRY_SYMBOL} "
                                  f"({syms.describe(entry) or 'no symbol there'})")
    sec = _section_of(elf, entry)
    if sec is None or sec.name != ".boot":
        return Check(name, False, f"e_entry {entry:#x} is not inside .boot")
    code = sec.data()[entry - sec["sh_addr"]:]
    found = _decode(code, entry, len(expected))
    for i, (line, mnem, ops) in enumerate(expected):
        if i >= len(found):
            return Check(name, False, f"stub ends before {line!r}")
        insn = found[i]
        got_ops = [_norm_operand(o, {}) for o in insn.op_str.split(",")] if insn.op_str else []
        if insn.mnemonic != mnem or got_ops != ops:
            want = f"{mnem} " + ", ".join(hex(o) if isinstance(o, int) else o for o in ops)
            return Check(name, False, f"at {insn.address:#x}: expected `{want.strip()}` (from {line!r}), "
                                      f"found `{insn.text}`")
    tail_start = found[-1].address + len(found[-1].raw) - sec["sh_addr"] if found else 0
    tail = sec.data()[tail_start:]
    if any(b != NOP for b in tail):
        at = sec["sh_addr"] + tail_start + next(i for i, b in enumerate(tail) if b != NOP)
        return Check(name, False, f"unexpected bytes after the stub at {at:#x} (want NOP padding)")
    return Check(name, True, f"{len(expected)} instructions at {entry:#x}, "
                             f"calls kernel_main at {syms.by_name.get('kernel_main', (0,))[0]:#x}")


def _in_section(name: str, sections: tuple[str, ...]) -> bool:
    return any(name == s or name.startswith(s + ".") for s in sections)


def _offenders(data: bytes, allowed: tuple[str, ...], bad: Callable[[Insn], bool]) -> list[str]:
    """`addr <symbol> text` of each instruction `bad` flags in executable sections
    other than those named in `allowed` (and their `.name.*` subsections)."""
    elf = _elf(data)
    syms = Symbols(elf)
    found = []
    for sec in elf.iter_sections():
        if not sec["sh_flags"] & SH_FLAGS.SHF_EXECINSTR or sec["sh_type"] == "SHT_NOBITS":
            continue
        if _in_section(sec.name, allowed):
            continue
        for insn in _decode(sec.data(), sec["sh_addr"]):
            if bad(insn):
                where = syms.describe(insn.address) or sec.name
                found.append(f"{insn.address:#x} <{where}> {insn.text}")
    return found


def is_sse(insn: Insn) -> bool:
    return insn.mnemonic in SSE_NO_REGISTER or bool(_SIMD_REG.search(insn.op_str))


def is_vex(insn: Insn) -> bool:
    """True for a VEX-, EVEX- or XOP-encoded instruction (see the module docstring)."""
    i = 0
    while i < len(insn.raw) and insn.raw[i] in _LEGACY_PREFIXES:
        i += 1
    if i >= len(insn.raw) or insn.raw[i] not in _VEX_ESCAPES:
        return False
    return insn.mnemonic not in (_VEX_ESCAPES[insn.raw[i]], ".byte")


def sse_offenders(data: bytes) -> list[str]:
    """`addr <symbol> text` of each SSE-family instruction outside the vector sections."""
    return _offenders(data, VECTOR_SECTIONS, is_sse)


def avx_offenders(data: bytes) -> list[str]:
    """`addr <symbol> text` of each VEX-encoded instruction outside .text.avx2."""
    return _offenders(data, (AVX2_SECTION,), is_vex)


def sse_check(data: bytes) -> Check:
    name = f"no SSE outside {SIMD_SECTION}"
    bad = sse_offenders(data)
    if bad:
        more = f" (and {len(bad) - MAX_REPORTED} more)" if len(bad) > MAX_REPORTED else ""
        return Check(name, False, f"{len(bad)} SSE instruction(s): " + "; ".join(bad[:MAX_REPORTED]) + more
                     + "; move that code to a *_sse2.c file")
    return Check(name, True, "executable sections are x87/integer only")


def avx_check(data: bytes) -> Check:
    name = f"no AVX outside {AVX2_SECTION}"
    bad = avx_offenders(data)
    if bad:
        more = f" (and {len(bad) - MAX_REPORTED} more)" if len(bad) > MAX_REPORTED else ""
        return Check(name, False, f"{len(bad)} VEX-encoded instruction(s): " + "; ".join(bad[:MAX_REPORTED])
                     + more + "; move that code to a *_avx2.c file")
    return Check(name, True, "no VEX-encoded instruction outside it")


def code_checks(data: bytes, source: str) -> list[Check]:
    return [entry_check(data, source), sse_check(data), avx_check(data)]


def check_or_raise(elf: Path, entry_source: Path) -> list[Check]:
    checks = code_checks(elf.read_bytes(), entry_source.read_text())
    if not all(c.ok for c in checks):
        raise VerifyError(f"{elf} failed the code checks:\n{format_table(checks)}")
    return checks
