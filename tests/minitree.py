"""A miniature kernel source tree for toolchain tests.

The real boot/ (entry.s, linker.ld, buildinfo.c) with a few tiny C files in place of
kernel/, so build, verify and disasm tests link a real Multiboot ELF in well under a
second and do not depend on the state of the kernel sources. Used by the fixtures in
conftest.py and by tests/test_build*.py, test_verify*.py, test_disasm*.py, test_cli*.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

FILES = {
    "kernel/include/mini.h": (
        "/* Declarations shared by the miniature kernel's units. */\n"
        "#ifndef MINI_H\n#define MINI_H\n"
        "#define MINI_SLOTS 64\n"
        "int mini_add(int a, int b);\n"
        "float vec_dot(const float *a, const float *b, int n);\n"
        "#endif\n"
    ),
    "kernel/core/main.c": (
        "/* Miniature kernel_main: touches .rodata, .data and .bss, then halts. */\n"
        '#include "mini.h"\n'
        "extern const char cllm_version[];\n"
        "static unsigned mini_table[MINI_SLOTS];\n"
        "unsigned mini_seed = 7;\n"
        "volatile unsigned mini_sink;\n"
        'static const char mini_banner[] = "mini kernel";\n'
        "void kernel_main(unsigned magic, unsigned info) {\n"
        "    mini_table[magic % MINI_SLOTS] = info + mini_seed;\n"
        "    mini_sink = (unsigned)mini_add((int)magic, (int)mini_table[info % MINI_SLOTS])\n"
        "                + (unsigned)cllm_version[0] + (unsigned)mini_banner[info % 11];\n"
        "    for (;;)\n"
        '        __asm__ volatile("hlt");\n'
        "}\n"
    ),
    "kernel/lib/add.c": (
        "/* An integer helper that includes mini.h (for header-dependency tests). */\n"
        '#include "mini.h"\n'
        "int mini_add(int a, int b) { return a + b + MINI_SLOTS; }\n"
    ),
    "kernel/lib/other.c": (
        "/* A unit that includes no project header. */\n"
        "int mini_other(int x) { return x * 3; }\n"
    ),
    "kernel/lib/vec_sse2.c": (
        "/* Float code compiled with SSE2: must land in .text.simd. */\n"
        '#include "mini.h"\n'
        "float vec_dot(const float *a, const float *b, int n) {\n"
        "    float s = 0.0f;\n"
        "    for (int i = 0; i < n; i++)\n"
        "        s += a[i] * b[i];\n"
        "    return s;\n"
        "}\n"
    ),
}


def make_tree(dest: Path) -> Path:
    """Write the miniature tree under `dest` (boot/ copied from the repository)."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(ROOT / "boot", dest / "boot", dirs_exist_ok=True)
    for rel, text in FILES.items():
        path = dest / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return dest
