"""`cllm build`: compile, embed, assemble + link, verify, check the entry path.

Called by cli.py (and the test fixtures) with one BuildConfig; reports progress as
lines through a callback and raises CllmError subclasses, never prints.

The build id is a hash of every source, of the compiler choice and of the embedded
files, so two clean builds of the same tree give byte-identical ELFs and the id names
the tree that was built. The image is linked to a temporary name and only renamed to
build/cllm.elf once every check passed, so a bad image never sits where QEMU looks.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cllm_build import __version__, elfobj
from cllm_build.config import BuildConfig
from cllm_build.errors import UsageError
from cllm_build.steps import compile as compile_step
from cllm_build.steps import link as link_step
from cllm_build.steps import verify as verify_step
from cllm_build.steps import web as web_step

Progress = Callable[[str], None]

# Embeddable files: (config attribute, section name, flag that names it).
EMBEDS = (("embed_model", ".model", "--embed-model"),
          ("embed_tokenizer", ".tokenizer", "--embed-tokenizer"))
EMBED_ALIGN = 4096  # the loader binds tensors in place; page alignment keeps them aligned


@dataclass(frozen=True)
class BuildResult:
    elf: Path
    size: int
    compiled: int
    total: int
    build_id: str


def _sources(cfg: BuildConfig) -> list[Path]:
    pats = ["kernel/**/*.c", "kernel/**/*.h", "kernel/**/*.zig", "boot/*", str(web_step.PAGE)]
    files: set[Path] = set()
    for p in pats:
        files.update(f for f in cfg.root.glob(p) if f.is_file())
    return sorted(files)


def _digest(path: Path) -> bytes:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.digest()


def build_id(cfg: BuildConfig) -> str:
    h = hashlib.sha256(cfg.cc.encode() + b"\0" + "\0".join(cfg.extra_cflags).encode())
    for f in _sources(cfg):
        h.update(str(f.relative_to(cfg.root)).encode() + b"\0" + f.read_bytes())
    for attr, section, _ in EMBEDS:
        path = getattr(cfg, attr)
        if path is not None:
            h.update(section.encode() + b"\0" + _digest(path))
    return h.hexdigest()[:16]


def _buildinfo_unit(cfg: BuildConfig, bid: str) -> compile_step.Unit:
    src = cfg.root / "boot" / "buildinfo.c"
    return compile_step.Unit(src, cfg.obj_dir / "boot" / "buildinfo.o", "c",
                             (f'CLLM_VERSION="{__version__}"', f'CLLM_BUILD_ID="{bid}"'))


def _embed_objects(cfg: BuildConfig, say: Progress) -> list[Path]:
    """One object per embedded file; rewritten only when the file's content changed."""
    objs = []
    for attr, section, flag in EMBEDS:
        path: Path | None = getattr(cfg, attr)
        if path is None:
            continue
        if not path.is_file():
            raise UsageError(f"{flag}: {path} is not a readable file")
        obj = cfg.obj_dir / "embed" / f"{section.lstrip('.')}.o"
        stamp = obj.with_suffix(".sha256")
        digest = _digest(path).hex()
        size = path.stat().st_size
        if not obj.exists() or not stamp.exists() or stamp.read_text() != digest:
            say(f"EMBED {section} <- {path.name} ({size} bytes)")
            obj.parent.mkdir(parents=True, exist_ok=True)
            stamp.unlink(missing_ok=True)
            try:
                elfobj.write_file_object(obj, section, path, align=EMBED_ALIGN, flags=elfobj.SHF_ALLOC)
            except ValueError as exc:
                raise UsageError(f"{flag} {path}: {exc}") from exc
            stamp.write_text(digest)
        objs.append(obj)
    return objs


def _link_key(cfg: BuildConfig, inputs: list[Path]) -> str:
    """What the link reads: each input object's identity, the script and the stub source,
    and the toolchain code that links and checks (a new rule re-verifies the image)."""
    h = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for f in sorted([*(here / "steps").glob("*.py"), here / "elfobj.py", here / "multiboot.py"]):
        h.update(f.read_bytes())
    for obj in inputs:
        st = obj.stat()
        h.update(f"{obj}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    for rel in ("boot/linker.ld", "boot/entry.s", "boot/ap_start.s"):
        h.update((cfg.root / rel).read_bytes())
    h.update(" ".join(link_step.LD_FLAGS).encode())
    return h.hexdigest()


def build(cfg: BuildConfig, progress: Progress | None = None) -> BuildResult:
    say: Progress = progress or (lambda _msg: None)
    bid = build_id(cfg)
    units = compile_step.find_units(cfg, extra=[_buildinfo_unit(cfg, bid)])
    compiled = 0
    for i, unit in enumerate(units, 1):
        label = f"{unit.kind.upper():3} [{i}/{len(units)}] {unit.source.relative_to(cfg.root)}"
        if compile_step.compile_unit(cfg, unit, say, before=functools.partial(say, label)):
            compiled += 1
    say(f"compiled {compiled} of {len(units)} units ({len(units) - compiled} up to date)")
    embedded = _embed_objects(cfg, say)
    page = web_step.page_object(cfg, say)
    embedded += [page] if page else []
    inputs = [u.obj for u in units] + embedded
    key = _link_key(cfg, inputs)
    stamp = cfg.elf.with_suffix(".inputs")
    if cfg.elf.exists() and stamp.exists() and stamp.read_text() == key:
        say(f"LINK {cfg.elf.name} up to date (no input changed; verified when it was linked)")
    else:
        stamp.unlink(missing_ok=True)
        staging = cfg.elf.with_suffix(".new.elf")
        say(f"ASM boot/entry.s (Keystone) + LINK {cfg.elf.name} (ld.lld, two passes)")
        link_step.link(cfg, inputs, say, out=staging)
        say("VERIFY ELF layout, Multiboot header, entry stub vs boot/entry.s, no SSE outside .text.simd, no AVX outside .text.avx2")
        verify_step.verify_or_raise(staging, cfg.root / "boot" / "entry.s")
        staging.replace(cfg.elf)
        stamp.write_text(key)
    size = cfg.elf.stat().st_size
    say(f"image {cfg.elf}: {size} bytes ({size / 1024:.1f} KiB)")
    return BuildResult(cfg.elf, size, compiled, len(units), bid)
