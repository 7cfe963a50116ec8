"""Build the portable kernel C (kernel/llm, kernel/net, kernel/http, kernel/lib parts)
for the host, with AddressSanitizer and UBSan, for host unit tests and benchmarks.

`host_binary(name, sources)` compiles once per content hash into build/host/ (or
$CLLM_BUILD_DIR/host) and returns the executable path.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PORT_HOST = ROOT / "tests" / "host" / "port_host.c"
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]
BASE_FLAGS = ["-std=c11", "-O1", "-g", "-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter",
              "-DCLLM_HOST", "-I", str(ROOT / "kernel" / "include"), "-I", str(ROOT / "kernel")]


def build_dir() -> Path:
    base = Path(os.environ.get("CLLM_BUILD_DIR", ROOT / "build"))
    return base / "host"


def compiler() -> str:
    for cc in (os.environ.get("CC"), "gcc", "cc", "clang"):
        if cc and shutil.which(cc):
            return cc
    raise RuntimeError("no host C compiler found: install gcc (apt-get install gcc)")


def cached_build(out_dir: Path, name: str, cc: str, flags: list[str], srcs: list[Path]) -> Path:
    """`cc flags srcs -lm` into out_dir/NAME-<hash>, once per content hash of the flags,
    the sources and every kernel header; RuntimeError with the compiler's output."""
    h = hashlib.sha256("\0".join(flags).encode())
    for f in srcs + sorted((ROOT / "kernel").rglob("*.h")):
        h.update(f.read_bytes())
    out = out_dir / f"{name}-{h.hexdigest()[:12]}"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        cmd = [cc, *flags, *map(str, srcs), "-o", str(tmp), "-lm"]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"host build of {name} failed:\n{' '.join(cmd)}\n{proc.stdout}{proc.stderr}")
        tmp.rename(out)
    return out


def host_binary(name: str, sources: list[Path | str], *, sanitize: bool = True,
                extra: list[str] | None = None) -> Path:
    """Compile `sources` (paths relative to the repo root, or absolute) plus port_host.c."""
    srcs = [Path(s) if Path(s).is_absolute() else ROOT / s for s in sources] + [PORT_HOST]
    flags = BASE_FLAGS + (SANITIZE if sanitize else ["-O2", "-march=native"]) + (extra or [])
    return cached_build(build_dir(), name, compiler(), flags, srcs)
