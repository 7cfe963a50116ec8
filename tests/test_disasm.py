"""Disassembly listings and the two code checks (entry stub, no SSE outside .text.simd),
on the miniature kernel (tests/minitree.py) and patched copies of it."""

from __future__ import annotations

import pytest
from test_verify import ENTRY_S, Image

from cllm_build import config
from cllm_build.build import build
from cllm_build.errors import UsageError, VerifyError
from cllm_build.steps import disasm


@pytest.fixture
def image(mini_elf) -> Image:
    return Image(mini_elf.read_bytes())


def _entry_detail(data: bytes, source: str | None = None) -> tuple[bool, str]:
    c = disasm.entry_check(bytes(data), source or ENTRY_S.read_text())
    return c.ok, c.detail


def test_entry_listing_names_symbols(image):
    text = "\n".join(disasm.disassemble(bytes(image.b)))
    stack, main = image.symbol("boot_stack_top"), image.symbol("kernel_main")
    assert text.startswith("cllm_entry:\n")
    assert f"mov esp, {stack:#x}  ; " in text and "boot_stack_top" in text
    assert f"mov ecx, {main:#x}  ; kernel_main" in text
    assert "call ecx" in text and "hang:" in text
    assert "bytes of NOP padding" in text


def test_an_address_is_named_by_its_global_symbol(image):
    """The stack top is a linker-script mark where a file's static variable begins (the
    miniature kernel's mini_table): the listing names the mark, not the variable."""
    stack = image.symbol("boot_stack_top")
    assert image.symbol("mini_table") == stack
    line = next(ln for ln in disasm.disassemble(bytes(image.b)) if "mov esp" in ln)
    assert line.endswith(f"mov esp, {stack:#x}  ; boot_stack_top"), line


def test_function_listing_names_call_targets(image):
    lines = disasm.disassemble(bytes(image.b), "kernel_main")
    assert lines[0] == "kernel_main:"
    target = f"call {image.symbol('mini_add'):#x}  ; mini_add"
    assert any(ln.endswith(target) for ln in lines)
    assert lines[-1].endswith("; kernel_main+0x" + lines[-1].rsplit("+0x", 1)[1])  # the hlt loop


def test_listing_rejects_unknown_and_data_symbols(image):
    with pytest.raises(UsageError, match="'no_such_symbol' not found"):
        disasm.disassemble(bytes(image.b), "no_such_symbol")
    with pytest.raises(UsageError, match="is not code"):
        disasm.disassemble(bytes(image.b), "mini_seed")


def test_good_stub_matches_source(image):
    ok, detail = _entry_detail(image.b)
    assert ok, detail
    assert f"calls kernel_main at {image.symbol('kernel_main'):#x}" in detail


def test_stub_with_wrong_stack_address(image):
    entry = image.symbol("cllm_entry")
    at = image.b.index(bytes([0xBC]), 0x1000 + (entry - 0x100000))  # mov esp, imm32
    image.u32(at + 1, 0)  # as if the first-pass (unresolved) stub had been linked
    ok, detail = _entry_detail(image.b)
    assert not ok
    assert f"expected `mov esp, {image.symbol('boot_stack_top'):#x}`" in detail
    assert "found `mov esp, 0`" in detail


def test_stub_differs_from_source(image):
    source = ENTRY_S.read_text().replace("    cld\n", "    cld\n    nop\n", 1)
    ok, detail = _entry_detail(image.b, source)
    assert not ok and "expected `nop`" in detail


def test_stub_with_code_in_its_padding(image):
    boot_end = 0x1000 + 64
    image.b[boot_end - 2:boot_end] = b"\x0f\x0b"  # ud2 where NOP padding belongs
    ok, detail = _entry_detail(image.b)
    assert not ok and "unexpected bytes after the stub" in detail


def test_sse_inside_text_simd_is_allowed(image):
    assert disasm.sse_check(bytes(image.b)).ok
    # the same code, once its section is not .text.simd, is rejected by name
    image.rename_section(".text.simd", ".text.simx")
    check = disasm.sse_check(bytes(image.b))
    assert not check.ok
    assert "<vec_dot+" in check.detail and "xmm" in check.detail and "*_sse2.c" in check.detail


def test_build_rejects_sse_outside_text_simd(mini_tree):
    (mini_tree / "kernel" / "lib" / "fence.c").write_text(
        'void mini_fence(void) { __asm__ volatile("sfence\\n\\tmovaps %%xmm0, %%xmm1" ::: "memory"); }\n')
    with pytest.raises(VerifyError) as exc:
        build(config.BuildConfig(root=mini_tree, build_dir=mini_tree / "build"))
    msg = str(exc.value)
    assert "FAIL  no SSE outside .text.simd" in msg
    assert "<mini_fence+0x" in msg and "sfence" in msg and "movaps xmm1, xmm0" in msg
    assert not (mini_tree / "build" / "cllm.elf").exists()  # the bad image is never installed


def test_sse_without_xmm_operands_is_recognized():
    # sfence; ldmxcsr [eax]; fisttp dword ptr [eax]; then plain x87/integer code
    code = bytes.fromhex("0faef8" "0fae10" "db08" "d9c0" "01c0")
    flagged = [i.mnemonic for i in disasm._decode(code, 0)
               if i.mnemonic in disasm.SSE_NO_REGISTER or disasm._SIMD_REG.search(i.op_str)]
    assert flagged == ["sfence", "ldmxcsr", "fisttp"]


def test_undecodable_bytes_do_not_stop_the_sweep():
    insns = disasm._decode(b"\x90\x8f\x90\x0f\xae\xf8", 0x1000)  # 8f /7 does not exist
    assert [i.mnemonic for i in insns] == ["nop", ".byte", "nop", "sfence"]
    assert [i.address for i in insns] == [0x1000, 0x1001, 0x1002, 0x1003]


def test_entry_source_without_entry_label(image):
    ok, detail = _entry_detail(image.b, "start:\n    cli\n")
    assert not ok and "no cllm_entry: label" in detail


def test_elf_without_symbol_table_is_reported(image):
    image.rename_section(".symtab", ".symtax")  # no symbol table at all
    ok, detail = _entry_detail(image.b)
    assert not ok and "boot_stack_top" in detail and "does not define" in detail
