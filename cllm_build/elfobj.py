"""Write a minimal ELF32 i386 relocatable object holding one section of raw bytes.

Used by cllm_build/steps/link.py and cllm_build/build.py. The Keystone-assembled boot
stub is machine code with no object file around it; this wraps it as section `.boot`
(alloc + exec) with one global symbol per assembly label, so the linker can place it
and `ENTRY(cllm_entry)` can name it. `cllm build --embed-model/--embed-tokenizer` wrap
file bytes the same way as read-only data (`.model`, `.tokenizer`, 4 KiB aligned),
which boot/linker.ld brackets with embedded_*_start/end symbols.

Layout written: ELF header | section data | .symtab | .strtab | .shstrtab | section headers.
"""

from __future__ import annotations

import struct
from pathlib import Path

ET_REL = 1
EM_386 = 3
SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB = 1, 2, 3
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 0x1, 0x2, 0x4
STB_GLOBAL = 1
STT_OBJECT, STT_FUNC = 1, 2


def _strtab(names: list[str]) -> tuple[bytes, dict[str, int]]:
    blob = b"\0"
    index: dict[str, int] = {}
    for n in names:
        index[n] = len(blob)
        blob += n.encode() + b"\0"
    return blob, index


ELF32_MAX = 0xFFFFFFFF  # every offset and size of an ELF32 file is a u32
COPY_CHUNK = 1 << 20  # bytes per read when streaming a file into an object


def _frame(section: str, size: int, symbols: dict[str, int], align: int, flags: int,
           sym_type: int) -> tuple[bytes, bytes]:
    """(head, tail) of an object whose section data (`size` bytes) goes between them."""
    if align & (align - 1) or align <= 0:
        raise ValueError(f"section alignment {align} is not a power of two")
    shstr, shidx = _strtab([section, ".symtab", ".strtab", ".shstrtab"])
    names = sorted(symbols, key=lambda n: (symbols[n], n))
    strtab, stridx = _strtab(names)

    # Symbol 0 is null, symbol 1 the section symbol, then the globals.
    syms = struct.pack("<IIIBBH", 0, 0, 0, 0, 0, 0)
    syms += struct.pack("<IIIBBH", 0, 0, 0, 3, 0, 1)  # STT_SECTION, local, shndx 1
    for n in names:
        syms += struct.pack("<IIIBBH", stridx[n], symbols[n], 0, (STB_GLOBAL << 4) | sym_type, 0, 1)

    ehsize, shentsize = 52, 40
    data_off = ehsize
    sym_off = (data_off + size + 3) & ~3
    str_off = sym_off + len(syms)
    shstr_off = str_off + len(strtab)
    sh_off = (shstr_off + len(shstr) + 3) & ~3
    if sh_off + 5 * shentsize > ELF32_MAX:
        raise ValueError(f"section {section} of {size} bytes does not fit in an ELF32 object")

    def sh(name: int, typ: int, sh_flags: int, offset: int, length: int, link: int, info: int,
           addralign: int, entsize: int) -> bytes:
        return struct.pack("<IIIIIIIIII", name, typ, sh_flags, 0, offset, length, link, info,
                           addralign, entsize)

    shdrs = sh(0, 0, 0, 0, 0, 0, 0, 0, 0)
    shdrs += sh(shidx[section], SHT_PROGBITS, flags, data_off, size, 0, 0, align, 0)
    shdrs += sh(shidx[".symtab"], SHT_SYMTAB, 0, sym_off, len(syms), 3, 2, 4, 16)
    shdrs += sh(shidx[".strtab"], SHT_STRTAB, 0, str_off, len(strtab), 0, 0, 1, 0)
    shdrs += sh(shidx[".shstrtab"], SHT_STRTAB, 0, shstr_off, len(shstr), 0, 0, 1, 0)

    ident = b"\x7fELF" + bytes([1, 1, 1, 0]) + bytes(8)  # ELFCLASS32, LSB, version 1
    head = ident + struct.pack("<HHIIIIIHHHHHH", ET_REL, EM_386, 1, 0, 0, sh_off, 0, ehsize,
                               0, 0, shentsize, 5, 4)
    tail = bytes(sym_off - (data_off + size)) + syms + strtab + shstr
    tail += bytes(sh_off - (shstr_off + len(shstr))) + shdrs
    return head, tail


def relocatable(section: str, code: bytes, symbols: dict[str, int], align: int = 4,
                flags: int = SHF_ALLOC | SHF_EXECINSTR, sym_type: int = STT_FUNC) -> bytes:
    """An ET_REL object with `code` in `section` and `symbols` (name -> offset) global.

    `flags` are the section's SHF_* bits (default: code), `sym_type` the STT_* type of
    every symbol (STT_FUNC for code labels, STT_OBJECT for data).
    """
    head, tail = _frame(section, len(code), symbols, align, flags, sym_type)
    return head + code + tail


def write_file_object(out: Path, section: str, src: Path, align: int = 4,
                      flags: int = SHF_ALLOC) -> None:
    """Write to `out` an object whose `section` holds the bytes of file `src`, streamed
    (a model of gigabytes is never held in memory). No symbols: the linker script marks
    the section's bounds."""
    size = src.stat().st_size
    head, tail = _frame(section, size, {}, align, flags, STT_OBJECT)
    with src.open("rb") as fin, out.open("wb") as fout:
        fout.write(head)
        copied = 0
        for block in iter(lambda: fin.read(COPY_CHUNK), b""):
            fout.write(block)
            copied += len(block)
        if copied != size:
            raise ValueError(f"{src} changed size while being copied ({size} -> {copied} bytes)")
        fout.write(tail)
