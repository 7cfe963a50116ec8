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


def relocatable(section: str, code: bytes, symbols: dict[str, int], align: int = 4,
                flags: int = SHF_ALLOC | SHF_EXECINSTR, sym_type: int = STT_FUNC) -> bytes:
    """An ET_REL object with `code` in `section` and `symbols` (name -> offset) global.

    `flags` are the section's SHF_* bits (default: code), `sym_type` the STT_* type of
    every symbol (STT_FUNC for code labels, STT_OBJECT for data).
    """
    shstr, shidx = _strtab([section, ".symtab", ".strtab", ".shstrtab"])
    names = sorted(symbols, key=lambda n: (symbols[n], n))
    strtab, stridx = _strtab(names)

    # Symbol 0 is null, symbol 1 the section symbol, then the globals.
    syms = struct.pack("<IIIBBH", 0, 0, 0, 0, 0, 0)
    syms += struct.pack("<IIIBBH", 0, 0, 0, 3, 0, 1)  # STT_SECTION, local, shndx 1
    for n in names:
        syms += struct.pack("<IIIBBH", stridx[n], symbols[n], 0, (STB_GLOBAL << 4) | sym_type, 0, 1)

    ehsize, shentsize = 52, 40
    if align & (align - 1) or align <= 0:
        raise ValueError(f"section alignment {align} is not a power of two")
    off = ehsize
    code_off = off
    off += len(code)
    off = (off + 3) & ~3
    sym_off = off
    off += len(syms)
    str_off = off
    off += len(strtab)
    shstr_off = off
    off += len(shstr)
    off = (off + 3) & ~3
    sh_off = off

    def sh(name: int, typ: int, flags: int, offset: int, size: int, link: int, info: int,
           addralign: int, entsize: int) -> bytes:
        return struct.pack("<IIIIIIIIII", name, typ, flags, 0, offset, size, link, info,
                           addralign, entsize)

    shdrs = sh(0, 0, 0, 0, 0, 0, 0, 0, 0)
    shdrs += sh(shidx[section], SHT_PROGBITS, flags, code_off, len(code), 0, 0, align, 0)
    shdrs += sh(shidx[".symtab"], SHT_SYMTAB, 0, sym_off, len(syms), 3, 2, 4, 16)
    shdrs += sh(shidx[".strtab"], SHT_STRTAB, 0, str_off, len(strtab), 0, 0, 1, 0)
    shdrs += sh(shidx[".shstrtab"], SHT_STRTAB, 0, shstr_off, len(shstr), 0, 0, 1, 0)

    ident = b"\x7fELF" + bytes([1, 1, 1, 0]) + bytes(8)  # ELFCLASS32, LSB, version 1
    header = ident + struct.pack("<HHIIIIIHHHHHH", ET_REL, EM_386, 1, 0, 0, sh_off, 0, ehsize,
                                 0, 0, shentsize, 5, 4)
    out = bytearray(header)
    out += code
    out += bytes(sym_off - len(out))
    out += syms + strtab + shstr
    out += bytes(sh_off - len(out))
    out += shdrs
    return bytes(out)
