"""Layout checks of a kernel ELF, with pyelftools. Runs after every link and as `cllm verify`.

Called by build.py and cli.py; the code checks are steps/disasm.py's. Each rule is one function giving one Check row;
verify_or_raise turns any failure into a VerifyError whose message is the whole table,
so a bad image never reaches QEMU. The rules read only the file's bytes, so they hold
for any file given to `cllm verify`, however broken: a rule that cannot parse what it
needs fails with the parser's message instead of raising.

Rules (Multiboot 0.6.96 section 3.1 for the header, ELF32 gABI for the rest):
  ELF32, little-endian, EM_386, ET_EXEC
  Multiboot magic 4-byte aligned, wholly inside the first 8192 bytes; checksum valid;
  flags ask for the memory map and not the a.out kludge (cllm is loaded as ELF)
  e_entry is `cllm_entry` inside `.boot`, in an executable PT_LOAD segment
  every PT_LOAD segment lies at or above 1 MiB, within the file, filesz <= memsz
  PT_LOAD segments do not overlap (physical or virtual); none is both W and X
  the sections the boot path needs are present
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

from elftools.elf.constants import P_FLAGS
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from cllm_build import multiboot
from cllm_build.errors import VerifyError
from cllm_build.steps import disasm, trampoline
from cllm_build.steps.checks import Check, format_table

LOAD_FLOOR = 0x100000  # 1 MiB: below it are the BIOS data, VGA memory and option ROMs
REQUIRED_SECTIONS = (".boot", ".text", ".rodata", ".bss")
ENTRY_SYMBOL = "cllm_entry"


def _loads(elf: ELFFile) -> list:  # type: ignore[type-arg]
    return [s for s in elf.iter_segments() if s["p_type"] == "PT_LOAD"]


def check_class(elf: ELFFile, data: bytes) -> Check:
    cls, endian = elf.elfclass, "LSB" if elf.little_endian else "MSB"
    mach, typ = elf["e_machine"], elf["e_type"]
    ok = cls == 32 and elf.little_endian and mach == "EM_386" and typ == "ET_EXEC"
    return Check("ELF class and machine", ok, f"ELF{cls} {endian} {mach} {typ} (want ELF32 LSB EM_386 ET_EXEC)")


def multiboot_checks(data: bytes) -> list[Check]:
    name = f"Multiboot header in first {multiboot.SEARCH_LIMIT // 1024} KiB"
    hdr = multiboot.find_header(data, multiboot.SEARCH_LIMIT)
    if hdr is None:
        loose = multiboot.find_magic_unaligned(data, multiboot.SEARCH_LIMIT)
        anywhere = multiboot.find_header(data)
        if loose is not None:
            where = f"magic at offset {loose:#x}, not 4-byte aligned"
        elif anywhere is not None:
            where = f"found at offset {anywhere.offset:#x}, past the {multiboot.SEARCH_LIMIT}-byte limit"
        else:
            where = f"no magic {multiboot.MAGIC:#x}"
        return [Check(name, False, where)]
    return [
        Check(name, True, f"at file offset {hdr.offset:#x}"),
        Check("Multiboot checksum", hdr.checksum_ok,
              f"magic + flags {hdr.flags:#x} + checksum {hdr.checksum:#x} = "
              f"{(multiboot.MAGIC + hdr.flags + hdr.checksum) & 0xFFFFFFFF:#x} (want 0)"),
        Check("Multiboot flags", hdr.flags & multiboot.FLAG_AOUT_KLUDGE == 0
              and hdr.flags & multiboot.FLAG_MEMORY_INFO != 0,
              f"{hdr.flags:#x} (want memory map, no a.out kludge)"),
    ]


def check_entry(elf: ELFFile, data: bytes) -> Check:
    name = "entry point is the boot stub"
    entry = elf["e_entry"]
    boot = elf.get_section_by_name(".boot")
    if boot is None:
        return Check(name, False, f"e_entry {entry:#x}, no .boot section")
    lo, hi = boot["sh_addr"], boot["sh_addr"] + boot["sh_size"]
    if not lo <= entry < hi:
        return Check(name, False, f"e_entry {entry:#x} outside .boot {lo:#x}-{hi:#x}")
    symtab = elf.get_section_by_name(".symtab")
    syms = symtab.get_symbol_by_name(ENTRY_SYMBOL) if isinstance(symtab, SymbolTableSection) else None
    if not syms or syms[0]["st_value"] != entry:
        at = f"{syms[0]['st_value']:#x}" if syms else "undefined"
        return Check(name, False, f"e_entry {entry:#x} is not {ENTRY_SYMBOL} ({at})")
    exec_seg = [s for s in _loads(elf) if s["p_flags"] & P_FLAGS.PF_X
                and s["p_vaddr"] <= entry < s["p_vaddr"] + s["p_memsz"]]
    if not exec_seg:
        return Check(name, False, f"e_entry {entry:#x} is in no executable PT_LOAD segment")
    return Check(name, True, f"e_entry {entry:#x} = {ENTRY_SYMBOL}, .boot {lo:#x}-{hi:#x}")


def check_floor(elf: ELFFile, data: bytes) -> Check:
    segs = _loads(elf)
    low = [s for s in segs if s["p_vaddr"] < LOAD_FLOOR or s["p_paddr"] < LOAD_FLOOR]
    if not segs:
        return Check("nothing loads below 1 MiB", False, "no PT_LOAD segment at all")
    return Check("nothing loads below 1 MiB", not low,
                 ", ".join(f"segment at paddr {s['p_paddr']:#x} vaddr {s['p_vaddr']:#x}" for s in low)
                 or f"{len(segs)} PT_LOAD segments from {min(s['p_paddr'] for s in segs):#x}")


def check_in_file(elf: ELFFile, data: bytes) -> Check:
    bad = []
    for s in _loads(elf):
        if s["p_offset"] + s["p_filesz"] > len(data):
            bad.append(f"segment at {s['p_vaddr']:#x} ends at file offset "
                       f"{s['p_offset'] + s['p_filesz']:#x} past the end ({len(data):#x})")
        if s["p_filesz"] > s["p_memsz"]:
            bad.append(f"segment at {s['p_vaddr']:#x} has filesz {s['p_filesz']:#x} > memsz {s['p_memsz']:#x}")
    return Check("PT_LOAD segments lie within the file", not bad, "; ".join(bad) or "all in bounds")


def _overlaps(spans: list[tuple[int, int]]) -> list[str]:
    """Every pair of [lo, hi) spans that intersect (sweep, so nested spans count too)."""
    spans = sorted(s for s in spans if s[1] > s[0])
    out = []
    for i, a in enumerate(spans):
        for b in spans[i + 1:]:
            if b[0] >= a[1]:
                break
            out.append(f"{a[0]:#x}-{a[1]:#x} and {b[0]:#x}-{b[1]:#x}")
    return out


def check_overlap(elf: ELFFile, data: bytes) -> Check:
    segs = _loads(elf)
    phys = _overlaps([(s["p_paddr"], s["p_paddr"] + s["p_memsz"]) for s in segs])
    virt = _overlaps([(s["p_vaddr"], s["p_vaddr"] + s["p_memsz"]) for s in segs])
    detail = "; ".join([f"physical {o}" for o in phys] + [f"virtual {o}" for o in virt])
    return Check("PT_LOAD segments do not overlap", not detail, detail or "disjoint")


def check_wx(elf: ELFFile, data: bytes) -> Check:
    wx = [s for s in _loads(elf) if s["p_flags"] & P_FLAGS.PF_W and s["p_flags"] & P_FLAGS.PF_X]
    return Check("no segment both writable and executable", not wx,
                 ", ".join(f"segment at {s['p_vaddr']:#x} is RWX" for s in wx) or "W^X holds")


def check_sections(elf: ELFFile, data: bytes) -> Check:
    missing = [n for n in REQUIRED_SECTIONS if elf.get_section_by_name(n) is None]
    return Check("required sections present", not missing,
                 "missing " + ", ".join(missing) if missing else ", ".join(REQUIRED_SECTIONS))


RULES: tuple[tuple[str, Callable[[ELFFile, bytes], Check]], ...] = (
    ("entry point is the boot stub", check_entry),
    ("nothing loads below 1 MiB", check_floor),
    ("PT_LOAD segments lie within the file", check_in_file),
    ("PT_LOAD segments do not overlap", check_overlap),
    ("no segment both writable and executable", check_wx),
    ("required sections present", check_sections),
)


def check_image(data: bytes) -> list[Check]:
    """All layout checks on the bytes of an ELF file."""
    try:
        elf = ELFFile(io.BytesIO(data))
        elf.header  # noqa: B018  (parse now so a bad header fails here)
    except Exception as exc:  # noqa: BLE001  (pyelftools raises assorted errors on junk)
        return [Check("ELF header", False, f"not an ELF file: {exc or type(exc).__name__}")]
    checks = [check_class(elf, data)]
    checks += multiboot_checks(data)
    if not checks[0].ok:
        return checks  # the remaining rules read i386 ELF32 structures
    for name, rule in RULES:
        try:
            checks.append(rule(elf, data))
        except Exception as exc:  # noqa: BLE001  (a corrupt table fails this rule, not the run)
            checks.append(Check(name, False, f"cannot read the ELF: {exc or type(exc).__name__}"))
    return checks


def check_file(path: Path) -> list[Check]:
    return check_image(path.read_bytes())


def check_trampoline(data: bytes, source: Path) -> Check:
    """The SMP trampoline linked into the image decodes to exactly `source` (steps/trampoline.py)."""
    ok, detail = trampoline.check_file(data, source)
    return Check("SMP trampoline matches boot/ap_start.s", ok, detail)


def verify_or_raise(path: Path, entry_source: Path | None = None) -> list[Check]:
    """Layout checks, plus the code checks of steps/disasm.py when `entry_source` is given."""
    data = path.read_bytes()
    checks = check_image(data)
    if entry_source is not None and all(c.ok for c in checks):
        checks += disasm.code_checks(data, entry_source.read_text())
    if entry_source is not None and all(c.ok for c in checks):
        checks.append(check_trampoline(data, entry_source.parent / "ap_start.s"))
    if not all(c.ok for c in checks):
        failed = ", ".join(c.name for c in checks if not c.ok)
        raise VerifyError(f"{path} failed verification ({failed}):\n{format_table(checks)}")
    return checks
