"""The SMP trampoline check of `cllm verify` (cllm_build/steps/trampoline.py): the bytes
linked between smp_trampoline_start and smp_trampoline_end must decode to exactly the
instructions of boot/ap_start.s, 16-bit up to `.code32` and 32-bit after it."""

from __future__ import annotations

import io
from pathlib import Path

from elftools.elf.elffile import ELFFile

from cllm_build.steps import assemble, trampoline, verify

ROOT = Path(__file__).resolve().parent.parent
SOURCE = (ROOT / "boot" / "ap_start.s").read_text()


def _blob_offset(data: bytes) -> tuple[int, int]:
    """File offset and length of the trampoline in the image."""
    elf = ELFFile(io.BytesIO(data))
    sym = elf.get_section_by_name(".symtab")
    lo = sym.get_symbol_by_name("smp_trampoline_start")[0]["st_value"]
    hi = sym.get_symbol_by_name("smp_trampoline_end")[0]["st_value"]
    for sec in elf.iter_sections():
        if sec["sh_addr"] <= lo < sec["sh_addr"] + sec["sh_size"] and sec["sh_type"] != "SHT_NOBITS":
            return sec["sh_offset"] + lo - sec["sh_addr"], hi - lo
    raise AssertionError("trampoline not in any section")


def test_trampoline_assembles_at_its_run_address():
    code = assemble.assemble_trampoline(SOURCE)
    assert code[0] == 0xFA  # cli, in real mode
    assert 0 < len(code) <= assemble.TRAMPOLINE_MAX


def test_linked_trampoline_matches_source(mini_elf):
    ok, detail = trampoline.compare(mini_elf.read_bytes(), SOURCE)
    assert ok, detail
    checks = verify.verify_or_raise(mini_elf, ROOT / "boot" / "entry.s")
    row = [c for c in checks if c.name == "SMP trampoline matches boot/ap_start.s"]
    assert row and row[0].ok and "instructions" in row[0].detail


def test_patched_byte_fails(mini_elf):
    data = bytearray(mini_elf.read_bytes())
    off, _ = _blob_offset(bytes(data))
    data[off] = 0x90  # cli -> nop
    ok, detail = trampoline.compare(bytes(data), SOURCE)
    assert not ok and "expected `cli`" in detail and "found `nop`" in detail


def test_source_that_differs_fails(mini_elf):
    changed = SOURCE.replace("    mov es, ax\n    mov fs, ax\n", "    mov fs, ax\n    mov es, ax\n", 1)
    assert changed != SOURCE
    ok, detail = trampoline.compare(mini_elf.read_bytes(), changed)
    assert not ok and "expected `mov fs, ax`" in detail


def test_wrong_label_target_fails(mini_elf):
    changed = SOURCE.replace("    jmp ap_hang\n", "    jmp ap_start\n", 1)
    ok, detail = trampoline.compare(mini_elf.read_bytes(), changed)
    assert not ok and "jmp ap_start" in detail


def test_trailing_bytes_fail(mini_elf):
    changed = SOURCE.replace("    jmp ap_hang\n", "", 1)
    ok, detail = trampoline.compare(mini_elf.read_bytes(), changed)
    assert not ok and "bytes after the last instruction" in detail


def test_image_without_trampoline_fails(mini_elf):
    data = bytearray(mini_elf.read_bytes())
    at = bytes(data).find(b"smp_trampoline_start")
    data[at:at + 4] = b"xxx_"
    ok, detail = trampoline.compare(bytes(data), SOURCE)
    assert not ok and "smp_trampoline_start missing" in detail
