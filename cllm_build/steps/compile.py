"""Compile the kernel's C and Zig sources to objects under build/obj.

Called by cllm_build/build.py. Sources are found by walking kernel/: every `*.c`,
every `kernel/zig/*.zig` root module (helpers they @import live in subdirectories),
plus boot/buildinfo.c (version and build id passed as -D flags). Files named
`*_sse2.c` are compiled with SSE2 enabled; the linker script gathers their code into
`.text.simd`, which the kernel enters only after CPUID says SSE2 is there. Files named
`*_avx2.c` are compiled for SSE2 plus AVX2, FMA and F16C (-mavx2 -mfma -mf16c) and
gathered into `.text.avx2`, entered only after CPUID says AVX2 is there and the kernel
enabled AVX state. Everything else targets a Pentium (x87, no SSE) so the kernel
boots on any i586 or later.

Reproducible: every compiler runs in the source root with root-relative source paths
and `-ffile-prefix-map=<root>=.`, so neither the checkout location nor the build
directory appears in an object (the DWARF line tables name `./kernel/...`).

Incremental: an object is rebuilt when its command line changed or when any file its
depfile lists (the source and every header it included) is newer than the object.
"""

from __future__ import annotations

import functools
import hashlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cllm_build import tools
from cllm_build.config import BuildConfig
from cllm_build.errors import ToolFailed, ToolMissing, UsageError

TARGET = "x86-freestanding-none"
BASE_CPU = "pentium"
SIMD_CPU = "pentium4"  # SSE and SSE2
AVX2_FLAGS = ["-mavx2", "-mfma", "-mf16c"]  # added to SIMD_CPU for *_avx2.c

C_FLAGS = [
    "-std=c11",
    "-ffreestanding",
    "-fno-stack-protector",
    "-fno-pic",
    "-fno-omit-frame-pointer",  # the panic handler walks the EBP chain
    "-fno-asynchronous-unwind-tables",
    "-O2",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wno-unused-parameter",
]

ZIG_FLAGS = ["-O", "ReleaseSafe", "-fno-PIC", "-fno-stack-check", "-fstrip", "-fsingle-threaded"]

# gcc only: the portable kernel code (also built for 64-bit hosts) checks sizes against
# 32-bit limits, which gcc calls "always false" on i386.
GCC_EXTRA = ["-Wno-type-limits"]

# Cross compilers `--cc gcc` tries, in order; the host gcc counts if it can emit -m32.
GCC_CANDIDATES = ("i686-linux-gnu-gcc", "i686-elf-gcc", "i386-elf-gcc", "gcc")
CLANG_CANDIDATES = ("clang",)


@dataclass(frozen=True)
class Unit:
    source: Path
    obj: Path
    kind: str  # "c" or "zig"
    defines: tuple[str, ...] = ()

    @property
    def simd(self) -> bool:
        """Compiled with vector instructions: SSE2 (`*_sse2.c`) or AVX2 (`*_avx2.c`)."""
        return self.source.stem.endswith("_sse2") or self.avx2

    @property
    def avx2(self) -> bool:
        return self.source.stem.endswith("_avx2")


def find_units(cfg: BuildConfig, extra: list[Unit] | None = None) -> list[Unit]:
    kdir = cfg.root / "kernel"
    units = []
    for src in sorted(kdir.rglob("*.c")) + sorted((kdir / "zig").glob("*.zig")):
        rel = src.relative_to(cfg.root)
        kind = "zig" if src.suffix == ".zig" else "c"
        units.append(Unit(src, cfg.obj_dir / rel.with_suffix(".o"), kind))
    return units + list(extra or [])


def _rel(cfg: BuildConfig, path: Path) -> str:
    """`path` relative to the source root when it lies inside it (keeps objects path-free)."""
    try:
        return str(path.relative_to(cfg.root))
    except ValueError:
        return str(path)


@functools.cache
def _targets_i386(cc: str) -> bool:
    """True if compiler `cc` produces a 32-bit i386 object with -m32 (probe compile)."""
    with tempfile.TemporaryDirectory(prefix="cllm-probe-") as tmp:
        src, obj = Path(tmp) / "p.c", Path(tmp) / "p.o"
        src.write_text("#include <stdint.h>\nuint32_t cllm_probe(void) { return 1; }\n")
        try:
            tools.run([cc, "-m32", "-ffreestanding", "-c", str(src), "-o", str(obj)],
                      what=f"probing {cc} for i386 output")
        except (ToolFailed, ToolMissing):
            return False
        head = obj.read_bytes()[:20]
        return head[:4] == b"\x7fELF" and head[4] == 1 and int.from_bytes(head[18:20], "little") == 3


def host_compiler(kind: str) -> str:
    """Path of an i686-capable gcc or clang, or ToolMissing naming the package."""
    names = GCC_CANDIDATES if kind == "gcc" else CLANG_CANDIDATES
    for name in names:
        try:
            path = tools.resolve(name)
        except ToolMissing:
            continue
        if _targets_i386(path):
            return path
    raise ToolMissing(f"no i686-capable {kind} found (tried {', '.join(names)}); install it with: "
                      f"{tools.PACKAGES[kind]}, or build with --cc zig")


def _gcc_stub_dir(cfg: BuildConfig) -> Path:
    """An include directory searched before gcc's own, holding an empty mm_malloc.h.

    gcc's xmmintrin.h includes mm_malloc.h, which includes the C library's stdlib.h even
    with -ffreestanding; the kernel has no C library and never calls _mm_malloc.
    """
    stub_dir = cfg.build_dir / "gen" / "gcc-include"
    stub = stub_dir / "mm_malloc.h"
    if not stub.exists():
        stub_dir.mkdir(parents=True, exist_ok=True)
        stub.write_text("/* Empty: the freestanding kernel has no _mm_malloc (cllm_build/steps/compile.py). */\n")
    return stub_dir


def c_command(cfg: BuildConfig, unit: Unit) -> list[str]:
    inc = ["-I", "kernel/include", "-I", "kernel"]
    cpu = SIMD_CPU if unit.simd else BASE_CPU
    avx2 = AVX2_FLAGS if unit.avx2 else []
    dep = ["-MD", "-MF", str(unit.obj.with_suffix(".d"))]
    common = (C_FLAGS + [f"-ffile-prefix-map={cfg.root}=."] + list(cfg.extra_cflags) + inc
              + [f"-D{d}" for d in unit.defines] + dep
              + ["-c", _rel(cfg, unit.source), "-o", str(unit.obj)])
    if cfg.cc == "zig":
        # zig's own headers (stdarg.h, ...) live in the venv; keep that path out too.
        zig_lib = f"-ffile-prefix-map={tools.zig_lib_dir()}=zig"
        return tools.zig_command() + ["cc", "-target", TARGET, f"-mcpu={cpu}", zig_lib] + avx2 + common
    if cfg.cc == "clang":
        arch = (["-msse2"] + avx2) if unit.simd else ["-mno-sse"]
        return [host_compiler("clang"), "--target=i686-unknown-none-elf", f"-march={cpu}"] + arch + common
    if cfg.cc == "gcc":
        # gcc assumes a 16-byte aligned stack on entry and spills vectors with aligned
        # moves; the kernel's x87 code keeps only 4 bytes, so vector code realigns.
        arch = (["-msse2", "-mfpmath=sse", "-mincoming-stack-boundary=2"] + avx2) if unit.simd else ["-mno-sse"]
        stubs = ["-isystem", str(_gcc_stub_dir(cfg))]
        return [host_compiler("gcc"), f"-march={cpu}", "-m32", "-fno-pie"] + arch + GCC_EXTRA + stubs + common
    raise UsageError(f"unknown compiler {cfg.cc!r}; choose zig, clang or gcc")


def zig_command(cfg: BuildConfig, unit: Unit) -> list[str]:
    return tools.zig_command() + [
        "build-obj", "-target", TARGET, f"-mcpu={BASE_CPU}", *ZIG_FLAGS,
        "--cache-dir", str(cfg.build_dir / "zig-cache"),
        "--global-cache-dir", str(cfg.build_dir / "zig-global-cache"),
        _rel(cfg, unit.source), f"-femit-bin={unit.obj}",
    ]


def command(cfg: BuildConfig, unit: Unit) -> list[str]:
    return zig_command(cfg, unit) if unit.kind == "zig" else c_command(cfg, unit)


def _deps(cfg: BuildConfig, unit: Unit) -> list[Path]:
    depfile = unit.obj.with_suffix(".d")
    if unit.kind == "zig":
        # Roots are kernel/zig/*.zig; a root may @import helpers from subdirectories.
        return sorted(unit.source.parent.rglob("*.zig"))
    if not depfile.exists():
        return [unit.source]
    text = depfile.read_text().replace("\\\n", " ")
    _, _, rest = text.partition(":")
    return [cfg.root / p for p in rest.split()]  # relative entries are relative to the root


def stale(cfg: BuildConfig, unit: Unit, cmd: list[str]) -> bool:
    cmdfile = unit.obj.with_suffix(".cmd")
    if not unit.obj.exists() or not cmdfile.exists():
        return True
    if cmdfile.read_text() != _cmd_key(cfg, cmd):
        return True
    mtime = unit.obj.stat().st_mtime_ns
    for dep in _deps(cfg, unit):
        if not dep.exists() or dep.stat().st_mtime_ns > mtime:
            return True
    return False


def _cmd_key(cfg: BuildConfig, cmd: list[str]) -> str:
    """The part of a command line that decides the object's content.

    Neither the interpreter that runs zig nor the build directory (object, depfile and
    cache paths) changes the object, so a copied build directory stays up to date.
    """
    argv = cmd[2:] if cmd[1:2] == ["-m"] else cmd
    text = "\0".join(argv).replace(str(cfg.build_dir), "$BUILD")
    return hashlib.sha256(text.encode()).hexdigest()


def compile_unit(cfg: BuildConfig, unit: Unit, log: Callable[[str], None] | None,
                 before: Callable[[], None] | None = None) -> bool:
    """Compile one unit if it is stale; True if it was compiled. `before` runs first."""
    cmd = command(cfg, unit)
    if not stale(cfg, unit, cmd):
        return False
    if before is not None:
        before()
    unit.obj.parent.mkdir(parents=True, exist_ok=True)
    unit.obj.with_suffix(".cmd").unlink(missing_ok=True)
    tools.run(cmd, what=f"compiling {_rel(cfg, unit.source)}", cwd=cfg.root,
              log=log if cfg.verbose else None)
    unit.obj.with_suffix(".cmd").write_text(_cmd_key(cfg, cmd))
    return True
