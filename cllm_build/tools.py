"""The one wrapper for external programs: zig, gcc/clang, qemu, grub-mkrescue.

`resolve` finds a binary (or raises ToolMissing naming the package that provides it);
`run` logs the exact command through an optional callback and raises ToolFailed with
the program's output when it fails.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from cllm_build.errors import ToolFailed, ToolMissing

# Which package provides each external program, for the ToolMissing message.
PACKAGES = {
    "qemu-system-i386": "apt-get install qemu-system-x86",
    "grub-mkrescue": "apt-get install grub-common grub-pc-bin xorriso mtools",
    "xorriso": "apt-get install xorriso",
    "mformat": "apt-get install mtools",
    "gcc": "apt-get install gcc-i686-linux-gnu (or gcc-multilib)",
    "clang": "apt-get install clang lld",
    "ld.lld": "apt-get install lld",
    "haproxy": "apt-get install haproxy",
}

Logger = Callable[[str], None]


def resolve(name: str) -> str:
    """Absolute path of program `name` on PATH, or ToolMissing with the install hint."""
    path = shutil.which(name)
    if path is None:
        hint = PACKAGES.get(name, f"install {name}")
        raise ToolMissing(f"{name} not found on PATH; install it with: {hint}")
    return path


def zig_command() -> list[str]:
    """The command prefix that runs the zig compiler shipped by the `ziglang` package."""
    try:
        import ziglang  # noqa: F401
    except ImportError as exc:
        raise ToolMissing("the zig compiler is missing; install it with: pip install ziglang") from exc
    return [sys.executable, "-m", "ziglang"]


def zig_lib_dir() -> Path:
    """The directory of the `ziglang` package (zig's lib/ and headers live under it)."""
    zig_command()
    import ziglang

    return Path(ziglang.__file__).resolve().parent


def format_command(cmd: Sequence[str]) -> str:
    return " ".join(shlex.quote(str(c)) for c in cmd)


def run(
    cmd: Sequence[str | Path],
    *,
    what: str,
    cwd: Path | None = None,
    log: Logger | None = None,
    input_bytes: bytes | None = None,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run `cmd` to completion, capturing its output; raise ToolFailed if it fails.

    `what` says in words what the command was doing, for the error message.
    """
    argv = [str(c) for c in cmd]
    if log is not None:
        log(format_command(argv))
    try:
        proc = subprocess.run(
            argv, cwd=cwd, input=input_bytes, capture_output=True, timeout=timeout, check=False
        )
    except FileNotFoundError as exc:
        raise ToolMissing(f"{argv[0]} not found; {PACKAGES.get(Path(argv[0]).name, '')}".rstrip("; ")) from exc
    except subprocess.TimeoutExpired as exc:
        raise ToolFailed(f"{what}: timed out after {timeout} s\n  command: {format_command(argv)}") from exc
    if proc.returncode != 0:
        out = (proc.stdout + proc.stderr).decode("utf-8", "replace").rstrip()
        raise ToolFailed(
            f"{what} failed (exit {proc.returncode})\n  command: {format_command(argv)}\n{out}"
        )
    return proc
