"""Link the objects and the boot stub into build/cllm.elf with ld.lld (from zig).

Called by cllm_build/build.py; relies on steps/assemble.py (Keystone) and elfobj.py.

Two passes: the first links with a stub assembled against zero addresses, the second
with the addresses of kernel_main and boot_stack_top read from the first result. The
stub has a fixed size, so the addresses cannot move between passes; link() checks it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from cllm_build import elfobj, tools
from cllm_build.config import BuildConfig
from cllm_build.errors import ToolFailed
from cllm_build.steps import assemble

LD_FLAGS = [
    "-m", "elf_i386", "-static", "-nostdlib", "--build-id=none", "-z", "noexecstack",
    "-z", "norelro", "--no-undefined", "--fatal-warnings",
]


def symbol_addresses(elf: Path, names: tuple[str, ...]) -> dict[str, int]:
    with elf.open("rb") as f:
        symtab = ELFFile(f).get_section_by_name(".symtab")
        if not isinstance(symtab, SymbolTableSection):
            raise ToolFailed(f"link: {elf.name} has no symbol table")
        found = {s.name: s["st_value"] for s in symtab.iter_symbols() if s.name in names}
    missing = [n for n in names if n not in found]
    if missing:
        raise ToolFailed(f"link: symbol(s) {', '.join(missing)} not defined by the kernel")
    return found


def _ld(cfg: BuildConfig, objs: list[Path], stub_obj: Path, out: Path,
        log: Callable[[str], None] | None) -> None:
    cmd = tools.zig_command() + ["ld.lld", *LD_FLAGS, "-T", "boot/linker.ld",
                                 "-o", str(out), str(stub_obj), *map(str, objs)]
    tools.run(cmd, what="linking cllm.elf", cwd=cfg.root, log=log if cfg.verbose else None)


def link(cfg: BuildConfig, objs: list[Path], log: Callable[[str], None] | None = None,
         out: Path | None = None) -> Path:
    """Link `objs` and the stub into `out` (default cfg.elf); returns `out`."""
    source = cfg.root / "boot" / "entry.s"
    stub_obj = cfg.obj_dir / "boot" / "entry.o"
    stub_obj.parent.mkdir(parents=True, exist_ok=True)
    out = out or cfg.elf
    tmp = out.with_suffix(".pass1.elf")

    objs = [*objs, assemble.trampoline_object(cfg.root, cfg.obj_dir / "boot" / "ap_start.o")]
    first = assemble.assemble_file(source, {n: 0 for n in assemble.EXTERNAL_SYMBOLS})
    stub_obj.write_bytes(elfobj.relocatable(".boot", first.code, first.labels))
    _ld(cfg, objs, stub_obj, tmp, log)
    addrs = symbol_addresses(tmp, assemble.EXTERNAL_SYMBOLS)

    final = assemble.assemble_file(source, addrs)
    stub_obj.write_bytes(elfobj.relocatable(".boot", final.code, final.labels))
    _ld(cfg, objs, stub_obj, out, log)
    tmp.unlink()
    if symbol_addresses(out, assemble.EXTERNAL_SYMBOLS) != addrs:
        raise ToolFailed("link: the second pass moved kernel symbols; the boot stub slot is unstable")
    return out
