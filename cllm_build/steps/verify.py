"""Layout checks of a kernel ELF, with pyelftools. Runs after every link and as `cllm verify`.

Each rule gives one Check row; verify_or_raise turns any failure into a VerifyError
whose message is the whole table, so a bad image never reaches QEMU.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.constants import P_FLAGS
from elftools.elf.elffile import ELFFile

from cllm_build import multiboot
from cllm_build.errors import VerifyError

LOAD_FLOOR = 0x100000
REQUIRED_SECTIONS = (".boot", ".text", ".rodata", ".bss")


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def _segments(elf: ELFFile) -> list:  # type: ignore[type-arg]
    return [s for s in elf.iter_segments() if s["p_type"] == "PT_LOAD"]


def check_image(data: bytes) -> list[Check]:
    """All layout checks on the bytes of an ELF file."""
    try:
        elf = ELFFile(io.BytesIO(data))
        elf.header  # noqa: B018  (parse now so a bad header fails here)
    except (ELFError, Exception) as exc:  # pyelftools raises assorted errors on junk
        return [Check("ELF header", False, f"not an ELF file: {exc}")]

    checks: list[Check] = []
    cls, mach, typ = elf.elfclass, elf["e_machine"], elf["e_type"]
    checks.append(Check("ELF class and machine", cls == 32 and mach == "EM_386" and typ == "ET_EXEC",
                        f"ELF{cls} {mach} {typ} (want ELF32 EM_386 ET_EXEC)"))

    hdr = multiboot.find_header(data, multiboot.SEARCH_LIMIT)
    anywhere = hdr or multiboot.find_header(data)
    if hdr is not None:
        checks.append(Check("Multiboot header in first 8 KiB", True, f"at file offset {hdr.offset:#x}"))
        checks.append(Check("Multiboot checksum", hdr.checksum_ok,
                            f"flags {hdr.flags:#x} checksum {hdr.checksum:#x}"))
        checks.append(Check("Multiboot flags", hdr.flags & multiboot.FLAG_AOUT_KLUDGE == 0
                            and hdr.flags & multiboot.FLAG_MEMORY_INFO != 0,
                            f"{hdr.flags:#x} (want memory map, no a.out kludge)"))
    else:
        where = f"found at {anywhere.offset:#x}, past the limit" if anywhere else "no magic 0x1BADB002"
        checks.append(Check("Multiboot header in first 8 KiB", False, where))

    entry = elf["e_entry"]
    boot = elf.get_section_by_name(".boot")
    if boot is not None:
        lo, hi = boot["sh_addr"], boot["sh_addr"] + boot["sh_size"]
        ok = lo <= entry < hi
        sym_ok = True
        symtab = elf.get_section_by_name(".symtab")
        if symtab is not None:
            syms = symtab.get_symbol_by_name("cllm_entry")
            sym_ok = bool(syms) and syms[0]["st_value"] == entry
        checks.append(Check("entry point is the boot stub", ok and sym_ok,
                            f"e_entry {entry:#x}, .boot {lo:#x}-{hi:#x}"))
    else:
        checks.append(Check("entry point is the boot stub", False, f"e_entry {entry:#x}, no .boot section"))

    segs = _segments(elf)
    low = [s for s in segs if s["p_vaddr"] < LOAD_FLOOR or s["p_paddr"] < LOAD_FLOOR]
    checks.append(Check("nothing loads below 1 MiB", not low and bool(segs),
                        ", ".join(f"segment at {s['p_paddr']:#x}" for s in low) or f"{len(segs)} PT_LOAD segments"))

    spans = sorted((s["p_paddr"], s["p_paddr"] + s["p_memsz"]) for s in segs)
    overlaps = [f"{a[0]:#x}-{a[1]:#x} and {b[0]:#x}-{b[1]:#x}" for a, b in zip(spans, spans[1:]) if b[0] < a[1]]
    checks.append(Check("PT_LOAD segments do not overlap", not overlaps, "; ".join(overlaps) or "disjoint"))

    wx = [s for s in segs if s["p_flags"] & P_FLAGS.PF_W and s["p_flags"] & P_FLAGS.PF_X]
    checks.append(Check("no segment both writable and executable", not wx,
                        ", ".join(f"segment at {s['p_vaddr']:#x}" for s in wx) or "W^X holds"))

    missing = [n for n in REQUIRED_SECTIONS if elf.get_section_by_name(n) is None]
    checks.append(Check("required sections present", not missing,
                        "missing " + ", ".join(missing) if missing else ", ".join(REQUIRED_SECTIONS)))
    return checks


def check_file(path: Path) -> list[Check]:
    return check_image(path.read_bytes())


def format_table(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    rows = [f"  {'ok  ' if c.ok else 'FAIL'}  {c.name:<{width}}  {c.detail}" for c in checks]
    return "\n".join(rows)


def verify_or_raise(path: Path) -> list[Check]:
    checks = check_file(path)
    if not all(c.ok for c in checks):
        raise VerifyError(f"{path} failed verification:\n{format_table(checks)}")
    return checks
