"""Multiboot (version 1) header constants and pure checks.

Used by steps/verify.py; boot/entry.s writes the same values as assembly.

Header layout (Multiboot 0.6.96, section 3.1.1), 4-byte aligned, within the first
8192 bytes of the image:
    u32 magic     0x1BADB002
    u32 flags     bit 0: align modules on 4 KiB; bit 1: provide memory map;
                  bit 16: the address fields below are valid (not used: cllm is ELF)
    u32 checksum  magic + flags + checksum == 0 (mod 2^32)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

MAGIC = 0x1BADB002
BOOTLOADER_MAGIC = 0x2BADB002
FLAG_PAGE_ALIGN = 1 << 0
FLAG_MEMORY_INFO = 1 << 1
FLAG_AOUT_KLUDGE = 1 << 16
FLAGS = FLAG_PAGE_ALIGN | FLAG_MEMORY_INFO
SEARCH_LIMIT = 8192
HEADER_SIZE = 12


def checksum(flags: int) -> int:
    return (-(MAGIC + flags)) & 0xFFFFFFFF


@dataclass(frozen=True)
class Header:
    offset: int
    flags: int
    checksum: int

    @property
    def checksum_ok(self) -> bool:
        return (MAGIC + self.flags + self.checksum) & 0xFFFFFFFF == 0


def find_header(image: bytes, limit: int | None = None) -> Header | None:
    """The first 4-byte-aligned Multiboot magic in `image[:limit]` (any offset if None)."""
    end = len(image) if limit is None else min(len(image), limit)
    for off in range(0, end - HEADER_SIZE + 1, 4):
        if struct.unpack_from("<I", image, off)[0] == MAGIC:
            _, flags, csum = struct.unpack_from("<III", image, off)
            return Header(off, flags, csum)
    return None


def find_magic_unaligned(image: bytes, limit: int) -> int | None:
    """Offset of a magic in `image[:limit]` that is not 4-byte aligned, if any."""
    needle = MAGIC.to_bytes(4, "little")
    off = image.find(needle, 0, limit)
    while off != -1:
        if off % 4:
            return off
        off = image.find(needle, off + 1, limit)
    return None
