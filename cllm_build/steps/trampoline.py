"""The SMP trampoline check: the bytes linked between `smp_trampoline_start` and
`smp_trampoline_end` decode to exactly the instructions of boot/ap_start.s.

Called through verify.check_trampoline (so `cllm build` and `cllm verify` run it).
The trampoline is data to the kernel (kernel/core/smp.c copies it below 1 MiB), so the
SSE sweep of executable sections never sees it; this check is what says it is the code
its source claims. The source starts in 16-bit mode and switches with `.code32`; each
instruction is decoded with capstone in the mode the source is in at that line. Labels
get the address their instruction decodes at (the blob is assembled at the address it
runs from), so `ljmp 0x08:ap_protected` is compared with the decoded far pointer.
Returns (ok, detail) and imports nothing from verify.py.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from cllm_build.steps.assemble import TRAMPOLINE_ADDRESS, _strip_comments

START, END = "smp_trampoline_start", "smp_trampoline_end"
_LABEL = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*):\s*(.*)$")
_SIZE = re.compile(r"\b(byte|word|dword|qword|fword|tbyte) ptr\s*")
_NUMBER = re.compile(r"\b(0x[0-9a-f]+|[0-9]+)\b")
_IDENT = re.compile(r"\b[a-z_][a-z0-9_]*\b")


def _blob(data: bytes) -> bytes | str:
    """The linked trampoline bytes, or why they cannot be found."""
    elf = ELFFile(io.BytesIO(data))
    symtab = elf.get_section_by_name(".symtab")
    if not isinstance(symtab, SymbolTableSection):
        return "no symbol table"
    addr = {}
    for name in (START, END):
        syms = symtab.get_symbol_by_name(name)
        if not syms:
            return f"symbol {name} missing (no trampoline linked)"
        addr[name] = syms[0]["st_value"]
    lo, hi = addr[START], addr[END]
    for sec in elf.iter_sections():
        base = sec["sh_addr"]
        if sec["sh_type"] != "SHT_NOBITS" and base <= lo <= hi <= base + sec["sh_size"] and sec["sh_size"]:
            return sec.data()[lo - base:hi - base]
    return f"{START}..{END} ({lo:#x}-{hi:#x}) lies in no section with file contents"


def _source_items(source: str) -> list[tuple[list[str], int, str]] | str:
    """(labels before it, mode, text) per instruction, or why the source cannot be read."""
    items: list[tuple[list[str], int, str]] = []
    labels: list[str] = []
    mode = 16
    for line in _strip_comments(source):
        text = line.strip()
        while (m := _LABEL.match(text)) is not None:
            labels.append(m.group(1).lower())
            text = m.group(2).strip()
        if not text:
            continue
        if text in (".code16", ".code32"):
            mode = int(text[5:])
            continue
        if text.startswith("."):
            return f"directive {text!r}: cannot derive the expected instructions"
        items.append((labels, mode, text))
        labels = []
    if labels:
        items.append((labels, mode, ""))  # labels after the last instruction
    return items


def _norm(text: str, labels: dict[str, int]) -> str:
    text = _SIZE.sub("", text.lower())
    text = _IDENT.sub(lambda m: hex(labels[m.group(0)]) if m.group(0) in labels else m.group(0), text)
    text = _NUMBER.sub(lambda m: hex(int(m.group(0), 0)), text)
    return text.replace(" ", "")


def compare(data: bytes, source: str, source_name: str = "boot/ap_start.s") -> tuple[bool, str]:
    import capstone

    blob = _blob(data)
    if isinstance(blob, str):
        return False, blob
    items = _source_items(source)
    if isinstance(items, str):
        return False, f"{source_name}: {items}"
    decoders = {16: capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_16),
                32: capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_32)}
    found: list[tuple[int, str, str]] = []  # (address, decoded text, source text)
    labels: dict[str, int] = {}
    off = 0
    for names, mode, text in items:
        for n in names:
            labels[n] = TRAMPOLINE_ADDRESS + off
        if not text:
            continue
        insn = next(decoders[mode].disasm(blob[off:], TRAMPOLINE_ADDRESS + off, 1), None)
        if insn is None:
            return False, f"at {TRAMPOLINE_ADDRESS + off:#x}: no {mode}-bit instruction where {text!r} should be"
        found.append((insn.address, f"{insn.mnemonic} {insn.op_str}".strip(), text))
        off += insn.size
    if off != len(blob):
        return False, f"{len(blob) - off} bytes after the last instruction of {source_name}"
    for address, got, text in found:
        if _norm(got, {}) != _norm(text, labels):
            return False, f"at {address:#x}: expected `{text}`, found `{got}`"
    return True, f"{len(found)} instructions, {len(blob)} bytes, run at {TRAMPOLINE_ADDRESS:#x}"


def check_file(data: bytes, source: Path) -> tuple[bool, str]:
    try:
        text = source.read_text()
    except OSError as exc:
        return False, f"cannot read {source}: {exc.strerror}"
    return compare(data, text, source.name)
