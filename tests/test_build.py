"""Build toolchain tests: Keystone assembly, ELF object writing, and full builds of the
miniature tree (tests/minitree.py): progress, incremental rebuilds, reproducibility,
compile errors, embedded files, Zig modules and the alternative C compilers."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from cllm_build import config, elfobj
from cllm_build.build import build
from cllm_build.errors import ToolFailed, ToolMissing
from cllm_build.steps import assemble
from cllm_build.steps import compile as compile_step


def _cfg(root: Path, build_dir: Path | None = None, **kw) -> config.BuildConfig:
    return config.BuildConfig(root=root, build_dir=build_dir or root / "build", **kw)


def _symbols(elf: Path) -> dict[str, int]:
    with elf.open("rb") as f:
        return {s.name: s["st_value"] for s in ELFFile(f).get_section_by_name(".symtab").iter_symbols()}


# --- Keystone assembly -------------------------------------------------------------------

def test_assemble_resolves_externals_and_labels():
    src = "start:\n    mov esp, boot_stack_top\n    mov ecx, kernel_main\n    call ecx\nloop:\n    jmp loop\n"
    stub = assemble.assemble(src, {"boot_stack_top": 0x123000, "kernel_main": 0x100040})
    assert stub.code[:5] == bytes([0xBC, 0x00, 0x30, 0x12, 0x00])  # mov esp, imm32
    assert stub.code[5:10] == bytes([0xB9, 0x40, 0x00, 0x10, 0x00])  # mov ecx, imm32
    assert stub.code[10:12] == bytes([0xFF, 0xD1])  # call ecx
    assert stub.labels == {"start": 0, "loop": 12}
    assert stub.code[12:14] == bytes([0xEB, 0xFE])  # jmp to itself
    assert len(stub.code) == assemble.STUB_SIZE and stub.code[stub.length:] == b"\x90" * (
        assemble.STUB_SIZE - stub.length)


def test_assemble_rejects_bad_source_and_oversize():
    with pytest.raises(ToolFailed, match="Keystone could not assemble"):
        assemble.assemble("    frobnicate eax\n", {})
    with pytest.raises(ToolFailed, match="more than its"):
        assemble.assemble("    nop\n" * (assemble.STUB_SIZE + 1), {})


def test_decimal_literals_survive_earlier_assemblies(repo_root):
    """Two passes assemble boot/entry.s in one process; a later assembly must still read
    decimal literals as decimal (Keystone's resolver callback used to flip that)."""
    externals = {"boot_stack_top": 0x200000, "kernel_main": 0x100100}
    assemble.assemble_file(repo_root / "boot" / "entry.s", externals)
    stub = assemble.assemble("    mov esi, 1048844\n    push 10\n", {})
    assert stub.code[:5] == bytes([0xBE]) + (1048844).to_bytes(4, "little")
    assert stub.code[5:7] == bytes([0x6A, 10])


def test_entry_stub_fits_and_starts_with_multiboot_header(repo_root):
    stub = assemble.assemble_file(repo_root / "boot" / "entry.s", {n: 0 for n in assemble.EXTERNAL_SYMBOLS})
    assert stub.code[:4] == (0x1BADB002).to_bytes(4, "little")
    assert (0x1BADB002 + int.from_bytes(stub.code[4:8], "little")
            + int.from_bytes(stub.code[8:12], "little")) & 0xFFFFFFFF == 0
    assert stub.labels["cllm_entry"] == 12


# --- ELF relocatable objects ---------------------------------------------------------------

def test_elfobj_code_section_reads_back(tmp_path):
    obj = tmp_path / "stub.o"
    obj.write_bytes(elfobj.relocatable(".boot", b"\xfa\xf4\xeb\xfd", {"entry": 0, "hang": 1}))
    with obj.open("rb") as f:
        elf = ELFFile(f)
        assert (elf.elfclass, elf["e_machine"], elf["e_type"]) == (32, "EM_386", "ET_REL")
        sec = elf.get_section_by_name(".boot")
        assert sec.data() == b"\xfa\xf4\xeb\xfd"
        assert sec["sh_flags"] == elfobj.SHF_ALLOC | elfobj.SHF_EXECINSTR
        syms = {s.name: s for s in elf.get_section_by_name(".symtab").iter_symbols() if s.name}
        assert syms["hang"]["st_value"] == 1
        assert syms["entry"]["st_info"]["type"] == "STT_FUNC"
        assert syms["entry"]["st_info"]["bind"] == "STB_GLOBAL"


def test_elfobj_data_section_is_readonly_and_aligned(tmp_path):
    blob = bytes(range(256)) * 5
    obj = tmp_path / "model.o"
    obj.write_bytes(elfobj.relocatable(".model", blob, {}, align=4096, flags=elfobj.SHF_ALLOC))
    with obj.open("rb") as f:
        sec = ELFFile(f).get_section_by_name(".model")
        assert sec.data() == blob
        assert sec["sh_addralign"] == 4096
        assert sec["sh_flags"] == elfobj.SHF_ALLOC  # not writable, not executable
    with pytest.raises(ValueError, match="power of two"):
        elfobj.relocatable(".x", b"", {}, align=3000)


def test_elfobj_streams_a_file_into_the_same_object(tmp_path):
    src = tmp_path / "model.bin"
    src.write_bytes(bytes(range(251)) * (elfobj.COPY_CHUNK // 251 + 3))  # more than one chunk
    out = tmp_path / "model.o"
    elfobj.write_file_object(out, ".model", src, align=4096)
    assert out.read_bytes() == elfobj.relocatable(".model", src.read_bytes(), {}, align=4096,
                                                  flags=elfobj.SHF_ALLOC, sym_type=elfobj.STT_OBJECT)
    with out.open("rb") as f:
        assert ELFFile(f).get_section_by_name(".model").data() == src.read_bytes()


# --- full builds of the miniature tree -----------------------------------------------------

def test_build_reports_steps_and_image_size(mini_tree):
    lines: list[str] = []
    res = build(_cfg(mini_tree), progress=lines.append)
    assert res.elf.exists() and res.size == res.elf.stat().st_size
    assert res.compiled == res.total == 5  # four kernel units + boot/buildinfo.c
    text = "\n".join(lines)
    for step in ("C   [1/5] kernel/core/main.c", "compiled 5 of 5 units", "LINK", "VERIFY",
                 f"{res.size} bytes"):
        assert step in text
    # the SSE2 unit went into .text.simd, the rest stayed in .text
    syms = _symbols(res.elf)
    assert syms["simd_text_start"] <= syms["vec_dot"] < syms["simd_text_end"]
    assert not syms["simd_text_start"] <= syms["mini_add"] < syms["simd_text_end"]


def test_incremental_build(mini_tree):
    cfg = _cfg(mini_tree)
    first = build(cfg)
    linked_at = first.elf.stat().st_mtime_ns
    lines: list[str] = []
    again = build(cfg, progress=lines.append)
    assert again.compiled == 0  # nothing changed: nothing recompiled, nothing relinked
    assert any("up to date" in ln for ln in lines) and not any(ln.startswith("VERIFY") for ln in lines)
    assert again.elf.stat().st_mtime_ns == linked_at

    # the linker script is a link input: relink (and verify) without recompiling
    script = mini_tree / "boot" / "linker.ld"
    script.write_text(script.read_text() + "/* edited */\n")
    lines.clear()
    assert build(cfg, progress=lines.append).compiled == 1  # buildinfo: the id hashes boot/
    assert any(ln.startswith("VERIFY") for ln in lines)

    # a header change recompiles exactly its dependents (and buildinfo: the id changed)
    header = mini_tree / "kernel" / "include" / "mini.h"
    header.write_text(header.read_text().replace("MINI_SLOTS 64", "MINI_SLOTS 32"))
    lines.clear()
    res = build(cfg, progress=lines.append)
    rebuilt = {ln.split()[-1] for ln in lines if ln.startswith("C ")}
    assert rebuilt == {"kernel/core/main.c", "kernel/lib/add.c", "kernel/lib/vec_sse2.c", "boot/buildinfo.c"}
    assert res.compiled == 4

    # one source changed: it and buildinfo
    other = mini_tree / "kernel" / "lib" / "other.c"
    other.write_text(other.read_text().replace("x * 3", "x * 5"))
    assert build(cfg).compiled == 2

    # a changed flag recompiles everything
    res = build(_cfg(mini_tree, extra_cflags=("-DMINI_FLAG=1",)))
    assert res.compiled == res.total


def test_clean_builds_are_byte_identical(mini_tree, tmp_path):
    first = build(_cfg(mini_tree, tmp_path / "a")).elf.read_bytes()
    second = build(_cfg(mini_tree, tmp_path / "elsewhere" / "b")).elf.read_bytes()
    assert first == second
    moved = shutil.copytree(mini_tree, tmp_path / "moved" / "checkout", ignore=shutil.ignore_patterns("build"))
    third = build(_cfg(moved, tmp_path / "c")).elf.read_bytes()
    assert third == first
    assert str(tmp_path).encode() not in first


def test_compile_error_carries_compiler_message(mini_tree):
    bad = mini_tree / "kernel" / "lib" / "other.c"
    bad.write_text("int mini_other(int x) { return x +; }\n")
    with pytest.raises(ToolFailed) as exc:
        build(_cfg(mini_tree))
    msg = str(exc.value)
    assert "compiling kernel/lib/other.c failed" in msg
    assert "kernel/lib/other.c:1:" in msg and "error" in msg
    assert not (mini_tree / "build" / "cllm.elf").exists()


def test_warning_is_an_error(mini_tree):
    (mini_tree / "kernel" / "lib" / "warn.c").write_text("int mini_warn(void) { int unused; return 1; }\n")
    with pytest.raises(ToolFailed, match="unused"):
        build(_cfg(mini_tree))


def test_embedded_model_and_tokenizer(mini_tree, models_dir):
    model, tok = models_dir / "stories260K.bin", models_dir / "tok512.bin"
    lines: list[str] = []
    res = build(_cfg(mini_tree, embed_model=model, embed_tokenizer=tok), progress=lines.append)
    syms = _symbols(res.elf)
    with res.elf.open("rb") as f:
        elf = ELFFile(f)
        for name, path in (("model", model), ("tokenizer", tok)):
            start, end = syms[f"embedded_{name}_start"], syms[f"embedded_{name}_end"]
            assert end - start == path.stat().st_size
            assert start % 4096 == 0
            sec = elf.get_section_by_name(f".{name}")
            assert sec["sh_addr"] == start and sec.data() == path.read_bytes()
            assert sec["sh_flags"] & 0x1 == 0 and sec["sh_flags"] & 0x4 == 0  # not W, not X
    assert any(ln.startswith("EMBED .model") for ln in lines)
    # unchanged model: the object is not rewritten, and nothing recompiles
    lines.clear()
    assert build(_cfg(mini_tree, embed_model=model, embed_tokenizer=tok), progress=lines.append).compiled == 0
    assert not any(ln.startswith("EMBED") for ln in lines)
    # without the flags, the sections are empty again
    syms = _symbols(build(_cfg(mini_tree)).elf)
    assert syms["embedded_model_start"] == syms["embedded_model_end"]


def test_zig_module_is_compiled_and_linked(mini_tree):
    zig = mini_tree / "kernel" / "zig" / "mini.zig"
    zig.parent.mkdir()
    zig.write_text("export fn mini_zig_sum(a: u32, b: u32) u32 {\n    return a +% b;\n}\n")
    lines: list[str] = []
    res = build(_cfg(mini_tree), progress=lines.append)
    assert any(ln.startswith("ZIG") and ln.endswith("kernel/zig/mini.zig") for ln in lines)
    assert "mini_zig_sum" in _symbols(res.elf)
    assert build(_cfg(mini_tree)).compiled == 0
    # a helper in a subdirectory is imported, not a root; changing it rebuilds the root
    (zig.parent / "lib").mkdir()
    (zig.parent / "lib" / "wrap.zig").write_text("pub fn twice(x: u32) u32 {\n    return x *% 2;\n}\n")
    zig.write_text('const wrap = @import("lib/wrap.zig");\n'
                   "export fn mini_zig_sum(a: u32, b: u32) u32 {\n    return wrap.twice(a) +% b;\n}\n")
    assert build(_cfg(mini_tree)).compiled == 2  # the root and buildinfo
    helper = zig.parent / "lib" / "wrap.zig"
    helper.write_text(helper.read_text().replace("x *% 2", "x *% 3"))
    lines.clear()
    build(_cfg(mini_tree), progress=lines.append)
    assert [ln.split()[-1] for ln in lines if ln.startswith("ZIG")] == ["kernel/zig/mini.zig"]


@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_other_compilers_build_or_say_what_is_missing(mini_tree, cc):
    try:
        compiler = compile_step.host_compiler(cc)
    except ToolMissing as exc:
        assert "apt-get install" in str(exc) and "--cc zig" in str(exc)
        return
    res = build(_cfg(mini_tree, cc=cc))
    assert res.compiled == res.total and os.path.exists(compiler)


def test_unknown_compiler_in_environment(monkeypatch):
    from cllm_build.errors import UsageError

    monkeypatch.setenv("CLLM_CC", "tcc")
    with pytest.raises(UsageError, match="CLLM_CC='tcc'"):
        config.from_env()
