"""A tiny Multiboot guest for testing the QEMU runner apart from the kernel.

`make_guest` writes an i386 ELF that prints given bytes on COM1 and on COM2 (polling
the UART's line status before each byte) and then
either writes an exit status to isa-debug-exit, halts forever, or triple-faults.
Assembled with Keystone (the same assembler the kernel's entry stub uses); the ELF
has one PT_LOAD segment at 1 MiB holding the Multiboot header, code and strings.
"""

from __future__ import annotations

import struct
from pathlib import Path

import keystone

LOAD_ADDR = 0x100000
MB_MAGIC = 0x1BADB002
COM1 = 0x3F8
COM2 = 0x2F8


def _asm(src: str, addr: int) -> bytes:
    ks = keystone.Ks(keystone.KS_ARCH_X86, keystone.KS_MODE_32)
    code, _ = ks.asm(src, addr)
    return bytes(code)


def make_guest(path: Path, log: bytes = b"", data: bytes = b"", status: int | None = 0,
               triple_fault: bool = False) -> Path:
    """Write the guest ELF to `path`. status None: halt forever after printing."""
    header = struct.pack("<III", MB_MAGIC, 0, (-MB_MAGIC) & 0xFFFFFFFF)
    code_addr = LOAD_ADDR + len(header)
    # Strings go after a code area of fixed size, so addresses are known up front.
    code_room = 256
    log_addr = code_addr + code_room
    data_addr = log_addr + len(log)
    # Every number in hex with its 0x: Keystone's default radix is process-wide state
    # that another assembly in the same process (the kernel build) may have changed.
    lines = ["cli", "cld"]
    for tag, port, addr, n in (("a", COM1, log_addr, len(log)), ("b", COM2, data_addr, len(data))):
        # Like a driver that must not lose a byte: wait until the transmitter is empty
        # (LSR bit 6) before each byte.
        lines += [
            f"mov esi, {addr:#x}", f"mov ecx, {n:#x}",
            f"next_{tag}: test ecx, ecx", f"jz done_{tag}",
            f"mov dx, {port + 5:#x}",
            f"wait_{tag}: in al, dx", "test al, 0x40", f"jz wait_{tag}",
            f"mov dx, {port:#x}", "lodsb", "out dx, al", "dec ecx", f"jmp next_{tag}",
            f"done_{tag}: nop",
        ]
    if triple_fault:
        # Load an empty IDT and raise an interrupt: #GP -> #DF -> triple fault.
        lines += ["push 0x0", "push 0x0", "lidt [esp+0x2]", "int 0x3"]
    elif status is not None:
        lines += [f"mov eax, {status:#x}", "mov dx, 0xf4", "out dx, eax"]
    lines += ["halt: hlt", "jmp halt"]
    code = _asm("; ".join(lines), code_addr)
    assert len(code) <= code_room, "guest code outgrew its area"
    image = header + code.ljust(code_room, b"\x90") + log + data

    ehdr_size, phdr_size = 52, 32
    offset = 0x1000
    ehdr = struct.pack(
        "<16sHHIIIIIHHHHHH",
        b"\x7fELF\x01\x01\x01" + b"\0" * 9,
        2, 3, 1,                # ET_EXEC, EM_386, version
        code_addr,              # entry
        ehdr_size, 0, 0,        # phoff, shoff, flags
        ehdr_size, phdr_size, 1,  # ehsize, phentsize, phnum
        40, 0, 0,               # shentsize, shnum, shstrndx
    )
    phdr = struct.pack("<IIIIIIII", 1, offset, LOAD_ADDR, LOAD_ADDR, len(image), len(image), 7, 0x1000)
    blob = (ehdr + phdr).ljust(offset, b"\0") + image
    path.write_bytes(blob)
    return path
