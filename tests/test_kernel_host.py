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
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
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
    proc = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "kernel_lib: all passed" in proc.stdout
