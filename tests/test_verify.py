"""`cllm verify` rules: each broken fixture is a real linked ELF (the miniature kernel,
tests/minitree.py) with a few bytes patched, and must be rejected by exactly the rule
it breaks, with a message that says what is wrong."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from cllm_build import multiboot
from cllm_build.errors import VerifyError
from cllm_build.steps import disasm, verify

ROOT = Path(__file__).resolve().parent.parent
ENTRY_S = ROOT / "boot" / "entry.s"
MB_MAGIC = struct.pack("<I", multiboot.MAGIC)


class Image:
    """A mutable copy of an ELF32 file with helpers that patch its headers."""

    def __init__(self, data: bytes) -> None:
        self.b = bytearray(data)

    def u32(self, off: int, value: int | None = None) -> int:
        if value is not None:
            struct.pack_into("<I", self.b, off, value)
        return struct.unpack_from("<I", self.b, off)[0]

    @property
    def header_off(self) -> int:
        return bytes(self.b).index(MB_MAGIC)

    def phdr(self, i: int) -> int:
        """File offset of program header `i` (fields: +4 offset, +8 vaddr, +12 paddr, +24 flags)."""
        phoff, phentsize = self.u32(28), struct.unpack_from("<H", self.b, 42)[0]
        return phoff + i * phentsize

    def rename_section(self, old: str, new: str) -> None:
        assert len(old) == len(new)
        at = bytes(self.b).index(b"\0" + old.encode() + b"\0") + 1
        self.b[at:at + len(new)] = new.encode()

    def symbol(self, name: str) -> int:
        from io import BytesIO

        from elftools.elf.elffile import ELFFile

        return ELFFile(BytesIO(bytes(self.b))).get_section_by_name(".symtab").get_symbol_by_name(name)[0]["st_value"]


@pytest.fixture
def image(mini_elf) -> Image:
    return Image(mini_elf.read_bytes())


def _failed(data: bytes) -> dict[str, str]:
    checks = verify.check_image(bytes(data))
    if all(c.ok for c in checks):
        checks += disasm.code_checks(bytes(data), ENTRY_S.read_text())
    return {c.name: c.detail for c in checks if not c.ok}


def test_good_image_passes_every_rule(mini_elf):
    checks = verify.verify_or_raise(mini_elf, ENTRY_S)
    assert [c.name for c in checks if not c.ok] == []
    assert len(checks) == 14


def test_real_kernel_passes_every_rule(kernel_elf, repo_root):
    checks = verify.verify_or_raise(kernel_elf, repo_root / "boot" / "entry.s")
    assert all(c.ok for c in checks)


def test_header_past_8k(image):
    off = image.header_off
    hdr = bytes(image.b[off:off + 12])
    image.u32(off, 0)
    tail = (-len(image.b)) % 4 + max(0, multiboot.SEARCH_LIMIT - len(image.b))
    image.b += bytes(tail) + hdr
    assert _failed(image.b) == {"Multiboot header in first 8 KiB":
                                f"found at offset {len(image.b) - 12:#x}, past the 8192-byte limit"}


def test_bad_checksum(image):
    off = image.header_off
    image.u32(off + 8, image.u32(off + 8) + 1)
    failed = _failed(image.b)
    assert list(failed) == ["Multiboot checksum"]
    assert "want 0" in failed["Multiboot checksum"] and "= 0x1 " in failed["Multiboot checksum"]


def test_misaligned_header(image):
    off = image.header_off
    hdr = bytes(image.b[off:off + 12])
    image.b[off + 2:off + 14] = hdr
    assert _failed(image.b) == {"Multiboot header in first 8 KiB":
                                f"magic at offset {off + 2:#x}, not 4-byte aligned"}


def test_aout_kludge_flag(image):
    off = image.header_off
    flags = multiboot.FLAGS | multiboot.FLAG_AOUT_KLUDGE
    image.u32(off + 4, flags)
    image.u32(off + 8, multiboot.checksum(flags))
    assert list(_failed(image.b)) == ["Multiboot flags"]


def test_wx_segment(image):
    image.u32(image.phdr(0) + 24, 7)  # text segment: R W X
    failed = _failed(image.b)
    assert list(failed) == ["no segment both writable and executable"]
    assert "segment at 0x100000 is RWX" in failed["no segment both writable and executable"]


def test_entry_outside_stub(image):
    image.u32(24, image.symbol("kernel_main"))
    failed = _failed(image.b)
    assert list(failed) == ["entry point is the boot stub"]
    assert "outside .boot" in failed["entry point is the boot stub"]


def test_entry_inside_stub_but_not_cllm_entry(image):
    image.u32(24, image.symbol("cllm_entry") + 1)
    failed = _failed(image.b)
    assert "is not cllm_entry" in failed["entry point is the boot stub"]


def test_segment_below_1mib(image):
    ph = image.phdr(2)  # data/bss segment
    image.u32(ph + 8, 0x80000)
    image.u32(ph + 12, 0x80000)
    failed = _failed(image.b)
    assert list(failed) == ["nothing loads below 1 MiB"]
    assert "segment at paddr 0x80000 vaddr 0x80000" in failed["nothing loads below 1 MiB"]


def test_overlapping_segments(image):
    text_end = 0x100000 + image.u32(image.phdr(0) + 20)  # p_memsz of the text segment
    ph = image.phdr(1)  # rodata segment moved to start inside the text segment
    image.u32(ph + 8, text_end - 0x10)
    image.u32(ph + 12, text_end - 0x10)
    failed = _failed(image.b)
    assert list(failed) == ["PT_LOAD segments do not overlap"]
    assert "physical 0x100000-" in failed["PT_LOAD segments do not overlap"]
    assert "virtual 0x100000-" in failed["PT_LOAD segments do not overlap"]


def test_segment_past_end_of_file(image):
    ph = image.phdr(1)
    image.u32(ph + 4, len(image.b) - 16)
    assert list(_failed(image.b)) == ["PT_LOAD segments lie within the file"]


def test_missing_section(image):
    image.rename_section(".rodata", ".rodatx")
    assert _failed(image.b) == {"required sections present": "missing .rodata"}


def test_not_an_elf():
    failed = _failed(b"#!/bin/sh\necho this is not a kernel\n" * 10)
    assert list(failed) == ["ELF header"]
    assert "not an ELF file" in failed["ELF header"]


def test_wrong_machine(image):
    struct.pack_into("<H", image.b, 18, 62)  # EM_X86_64
    failed = _failed(image.b)
    assert list(failed) == ["ELF class and machine"]
    assert "EM_X86_64" in failed["ELF class and machine"]


def test_truncated_elf_reports_instead_of_raising(image):
    failed = _failed(image.b[:0x900])
    assert failed  # the tables past the end cannot be read: rules fail, nothing raises
    assert "Multiboot header in first 8 KiB" in failed


def test_verify_or_raise_names_failed_rules(image, tmp_path):
    image.u32(image.phdr(0) + 24, 7)
    bad = tmp_path / "bad.elf"
    bad.write_bytes(image.b)
    with pytest.raises(VerifyError) as exc:
        verify.verify_or_raise(bad, ENTRY_S)
    assert "(no segment both writable and executable)" in str(exc.value)
    assert "FAIL  no segment both writable and executable" in str(exc.value)
