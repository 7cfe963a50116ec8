"""Frozen build configuration.

Precedence, highest first: command-line flags, then environment variables
(CLLM_CC, CLLM_BUILD_DIR, CLLM_SOURCE_DIR: the tree holding kernel/ and boot/), then
the defaults below (this checkout, build/ in it, zig). The CLI builds one BuildConfig
and hands it to the library; nothing in the library reads flags or the environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Compilers `cllm build --cc` accepts: zig's clang (default, from PyPI), or an
# installed cross gcc / clang that targets i386.
COMPILERS = ("zig", "clang", "gcc")


@dataclass(frozen=True)
class BuildConfig:
    root: Path = ROOT
    build_dir: Path = ROOT / "build"
    cc: str = "zig"
    embed_model: Path | None = None  # file wrapped into section .model
    embed_tokenizer: Path | None = None  # file wrapped into section .tokenizer
    verbose: bool = False
    extra_cflags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def elf(self) -> Path:
        return self.build_dir / "cllm.elf"

    @property
    def obj_dir(self) -> Path:
        return self.build_dir / "obj"

    @property
    def gen_dir(self) -> Path:
        return self.build_dir / "gen"


def from_env(**overrides: object) -> BuildConfig:
    """A BuildConfig from the environment, with non-None `overrides` on top."""
    values: dict[str, object] = {}
    if os.environ.get("CLLM_CC"):
        values["cc"] = os.environ["CLLM_CC"]
    if os.environ.get("CLLM_SOURCE_DIR"):
        root = Path(os.environ["CLLM_SOURCE_DIR"]).resolve()
        values["root"], values["build_dir"] = root, root / "build"
    if os.environ.get("CLLM_BUILD_DIR"):
        values["build_dir"] = Path(os.environ["CLLM_BUILD_DIR"]).resolve()
    values.update({k: v for k, v in overrides.items() if v is not None})
    if values.get("cc", "zig") not in COMPILERS:
        from cllm_build.errors import UsageError

        raise UsageError(f"CLLM_CC={values['cc']!r} is not a compiler cllm knows; choose {', '.join(COMPILERS)}")
    return BuildConfig(**values)  # type: ignore[arg-type]
