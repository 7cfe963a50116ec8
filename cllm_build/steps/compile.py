"""Compile the kernel's C and Zig sources to objects under build/obj.

Sources are found by walking kernel/: every `*.c` and every `kernel/zig/*.zig` root
module. Files named `*_sse2.c` are compiled with SSE2 enabled; the linker script
gathers their code into `.text.simd`, which the kernel enters only after CPUID says
SSE2 is there. Everything else targets a Pentium (x87, no SSE) so the kernel boots on
any i586 or later.

Incremental: an object is rebuilt when its command line changed or when any file its
depfile lists (the source and every header it included) is newer than the object.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cllm_build import tools
from cllm_build.config import BuildConfig
from cllm_build.errors import UsageError

TARGET = "x86-freestanding-none"
BASE_CPU = "pentium"
SIMD_CPU = "pentium4"  # SSE and SSE2

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

ZIG_FLAGS = ["-O", "ReleaseSafe", "-fno-PIC", "-fno-stack-check", "-fstrip"]


@dataclass(frozen=True)
class Unit:
    source: Path
    obj: Path
    kind: str  # "c" or "zig"

    @property
    def simd(self) -> bool:
        return self.source.stem.endswith("_sse2")


def find_units(cfg: BuildConfig, extra: list[Path] | None = None) -> list[Unit]:
    kdir = cfg.root / "kernel"
    units = []
    sources = sorted(kdir.rglob("*.c")) + sorted((kdir / "zig").glob("*.zig")) + (extra or [])
    for src in sources:
        try:
            rel = src.relative_to(cfg.root)
        except ValueError:
            rel = src.relative_to(cfg.build_dir)
        kind = "zig" if src.suffix == ".zig" else "c"
        units.append(Unit(src, cfg.obj_dir / rel.with_suffix(".o"), kind))
    return units


def c_command(cfg: BuildConfig, unit: Unit) -> list[str]:
    inc = ["-I", str(cfg.root / "kernel" / "include"), "-I", str(cfg.root / "kernel")]
    cpu = SIMD_CPU if unit.simd else BASE_CPU
    dep = ["-MD", "-MF", str(unit.obj.with_suffix(".d"))]
    common = C_FLAGS + list(cfg.extra_cflags) + inc + dep + ["-c", str(unit.source), "-o", str(unit.obj)]
    if cfg.cc == "zig":
        return tools.zig_command() + ["cc", "-target", TARGET, f"-mcpu={cpu}"] + common
    if cfg.cc == "clang":
        arch = ["-msse2"] if unit.simd else ["-mno-sse"]
        return [tools.resolve("clang"), "--target=i686-unknown-none-elf", f"-march={cpu}"] + arch + common
    if cfg.cc == "gcc":
        gcc = "i686-linux-gnu-gcc"
        arch = ["-msse2", "-mfpmath=sse"] if unit.simd else ["-mno-sse"]
        return [tools.resolve(gcc), f"-march={cpu}", "-m32", "-fno-pie"] + arch + common
    raise UsageError(f"unknown compiler {cfg.cc!r}; choose zig, clang or gcc")


def zig_command(cfg: BuildConfig, unit: Unit) -> list[str]:
    return tools.zig_command() + [
        "build-obj", "-target", TARGET, f"-mcpu={BASE_CPU}", *ZIG_FLAGS,
        "--cache-dir", str(cfg.build_dir / "zig-cache"),
        "--global-cache-dir", str(cfg.build_dir / "zig-global-cache"),
        str(unit.source), f"-femit-bin={unit.obj}",
    ]


def command(cfg: BuildConfig, unit: Unit) -> list[str]:
    return zig_command(cfg, unit) if unit.kind == "zig" else c_command(cfg, unit)


def _deps(unit: Unit) -> list[Path]:
    depfile = unit.obj.with_suffix(".d")
    if unit.kind == "zig":
        return sorted(unit.source.parent.glob("*.zig"))
    if not depfile.exists():
        return [unit.source]
    text = depfile.read_text().replace("\\\n", " ")
    _, _, rest = text.partition(":")
    return [Path(p) for p in rest.split()]


def stale(unit: Unit, cmd: list[str]) -> bool:
    cmdfile = unit.obj.with_suffix(".cmd")
    if not unit.obj.exists() or not cmdfile.exists():
        return True
    if cmdfile.read_text() != _cmd_key(cmd):
        return True
    mtime = unit.obj.stat().st_mtime
    for dep in _deps(unit):
        if not dep.exists() or dep.stat().st_mtime > mtime:
            return True
    return False


def _cmd_key(cmd: list[str]) -> str:
    # The python interpreter path in the zig prefix does not change the output.
    return hashlib.sha256("\0".join(cmd[2:] if cmd[1:2] == ["-m"] else cmd).encode()).hexdigest()


def compile_unit(cfg: BuildConfig, unit: Unit, log: Callable[[str], None] | None) -> bool:
    """Compile one unit if it is stale; True if it was compiled."""
    cmd = command(cfg, unit)
    if not stale(unit, cmd):
        return False
    unit.obj.parent.mkdir(parents=True, exist_ok=True)
    rel = unit.source.relative_to(cfg.root) if unit.source.is_relative_to(cfg.root) else unit.source
    tools.run(cmd, what=f"compiling {rel}", cwd=cfg.root, log=log if cfg.verbose else None)
    unit.obj.with_suffix(".cmd").write_text(_cmd_key(cmd))
    return True
