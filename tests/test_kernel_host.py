"""Host tests of the kernel substrate's portable code: the Zig command-line parser
(`zig test`, its test blocks) and kernel/lib printf/string (tests/host/kernel_lib_test.c,
built with ASan and UBSan)."""

from __future__ import annotations

import re
import subprocess
import sys

from hostcc import ROOT, build_dir, host_binary


def test_zig_cmdline_parser():
    cache = build_dir().parent / "zig-test-cache"
    cmd = [sys.executable, "-m", "ziglang", "test", str(ROOT / "kernel" / "zig" / "cmdline.zig"),
           "--cache-dir", str(cache), "--global-cache-dir", str(cache / "global")]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert re.search(r"All \d+ tests passed", out), out


def test_printf_and_string_on_host():
    # Rename the kernel's libc-named functions so they do not collide with the host libc.
    names = ["memcpy", "memmove", "memset", "memcmp", "strlen", "strnlen", "strcmp", "strncmp",
             "strchr", "vsnprintf", "snprintf"]
    renames = [f"-D{n}=kernel_{n}" for n in names]
    exe = host_binary("kernel_lib", ["kernel/lib/printf.c", "kernel/lib/string.c",
                                     "tests/host/kernel_lib_test.c"],
                      extra=["-fno-builtin", "-U_FORTIFY_SOURCE", "-D_FORTIFY_SOURCE=0", *renames])
    proc = subprocess.run([str(exe)], check=False, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "kernel_lib: all passed" in proc.stdout


def test_zig_module_builds_freestanding_with_c_panic(build_config, tmp_path):
    """The pinned Zig builds cmdline.zig for the kernel target (ReleaseSafe) and the
    module's panic handler calls the kernel's zig_panic instead of the std one."""
    from elftools.elf.elffile import ELFFile

    from cllm_build.steps import compile as compile_step

    version = subprocess.run([sys.executable, "-m", "ziglang", "version"], capture_output=True,
                             text=True, check=True).stdout.strip()
    assert version == "0.17.1"
    src = ROOT / "kernel" / "zig" / "cmdline.zig"
    unit = compile_step.Unit(src, tmp_path / "cmdline.o", "zig")
    cmd = compile_step.zig_command(build_config, unit)
    assert "ReleaseSafe" in cmd
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with unit.obj.open("rb") as f:
        elf = ELFFile(f)
        assert elf.elfclass == 32 and elf["e_machine"] == "EM_386"
        syms = {s.name: s for s in elf.get_section_by_name(".symtab").iter_symbols() if s.name}
    for name in ("cmdline_split", "cmdline_parse_u32", "zig_checked_index"):
        assert name in syms and syms[name]["st_shndx"] != "SHN_UNDEF", name
    assert syms["zig_panic"]["st_shndx"] == "SHN_UNDEF"


def test_page_allocator_and_heap_on_host():
    exe = host_binary("kernel_mm", ["kernel/core/page.c", "kernel/core/heap.c",
                                    "kernel/core/memacct.c", "tests/host/mm_test.c"])
    proc = subprocess.run([str(exe)], check=False, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "mm: all passed" in proc.stdout
