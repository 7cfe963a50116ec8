"""Assemble boot/entry.s with Keystone into the `.boot` object, and boot/ap_start.s (the
SMP trampoline) into a `.rodata.smp_trampoline` object.

The stub refers to symbols defined by the C kernel (kernel_main) and the linker
script (boot_stack_top). Their values come from a table the caller supplies (zeros on
the first link pass, the real addresses on the second) and are written into the source
as hex literals before Keystone sees it. Keystone's own symbol-resolver callback is not
used: once it has resolved a symbol, later assemblies in the same process read decimal
literals as hex (Keystone 0.9.2), and it mis-resolves rel32 calls. The stub is padded to
STUB_SIZE so both passes lay out the rest of the image identically.

The trampoline names no kernel symbol (smp.c hands it its parameters at fixed
addresses), so it is assembled once, in 16-bit mode from its first line (Keystone
follows its `.code32` directive), at the address smp.c copies it to. It is data to the
kernel: the symbols smp_trampoline_start/_end delimit it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from cllm_build import elfobj
from cllm_build.errors import ToolFailed, ToolMissing

STUB_SIZE = 64
BOOT_ADDRESS = 0x100000
EXTERNAL_SYMBOLS = ("kernel_main", "boot_stack_top")
TRAMPOLINE_SOURCE = "boot/ap_start.s"
TRAMPOLINE_ADDRESS = 0x7000  # SMP_TRAMPOLINE_ADDR in kernel/include/smp.h
TRAMPOLINE_MAX = 0xF00  # its parameters start at SMP_TRAMPOLINE_PARAMS = 0x7F00
TRAMPOLINE_SECTION = ".rodata.smp_trampoline"
_LABEL = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*):")


@dataclass(frozen=True)
class Stub:
    code: bytes  # padded to STUB_SIZE
    labels: dict[str, int]  # label -> offset in the stub
    length: int  # bytes before padding


def _keystone():  # type: ignore[no-untyped-def]
    try:
        import keystone
    except ImportError as exc:
        raise ToolMissing("Keystone is missing; install it with: pip install keystone-engine") from exc
    return keystone


def _strip_comments(source: str) -> list[str]:
    return [line.split("#", 1)[0].rstrip() for line in source.splitlines()]


def assemble(source: str, externals: dict[str, int], base: int = BOOT_ADDRESS) -> Stub:
    """Assemble `source` at `base`; labels of the source become stub symbols."""
    ks_mod = _keystone()
    lines = _strip_comments(source)

    def substitute(line: str) -> str:
        for name, value in externals.items():
            line = re.sub(rf"\b{re.escape(name)}\b", f"{value:#010x}", line)
        return line

    lines = [substitute(line) for line in lines]

    def encode(text: str) -> bytes:
        if not text.strip():
            return b""
        ks = ks_mod.Ks(ks_mod.KS_ARCH_X86, ks_mod.KS_MODE_32)
        try:
            enc, _ = ks.asm(text, base)
        except ks_mod.KsError as exc:
            raise ToolFailed(f"Keystone could not assemble boot/entry.s: {exc}") from exc
        return bytes(enc or b"")

    code = encode("\n".join(lines))
    labels: dict[str, int] = {}
    for i, line in enumerate(lines):
        m = _LABEL.match(line)
        if m:
            labels[m.group(1)] = len(encode("\n".join(lines[:i])))
    if len(code) > STUB_SIZE:
        raise ToolFailed(f"boot stub is {len(code)} bytes, more than its {STUB_SIZE}-byte slot")
    return Stub(code + b"\x90" * (STUB_SIZE - len(code)), labels, len(code))


def assemble_file(path: Path, externals: dict[str, int]) -> Stub:
    return assemble(path.read_text(), externals)


def assemble_trampoline(source: str) -> bytes:
    """The SMP trampoline's bytes, assembled at TRAMPOLINE_ADDRESS starting in 16-bit mode."""
    ks_mod = _keystone()
    text = "\n".join(_strip_comments(source))
    ks = ks_mod.Ks(ks_mod.KS_ARCH_X86, ks_mod.KS_MODE_16)
    try:
        enc, _ = ks.asm(text, TRAMPOLINE_ADDRESS)
    except ks_mod.KsError as exc:
        raise ToolFailed(f"Keystone could not assemble {TRAMPOLINE_SOURCE}: {exc}") from exc
    code = bytes(enc or b"")
    if not code or len(code) > TRAMPOLINE_MAX:
        raise ToolFailed(f"{TRAMPOLINE_SOURCE} is {len(code)} bytes; it must be 1..{TRAMPOLINE_MAX}")
    return code


def trampoline_object(root: Path, obj: Path) -> Path:
    """Write the trampoline as a relocatable object at `obj` (data, not code); returns `obj`."""
    code = assemble_trampoline((root / TRAMPOLINE_SOURCE).read_text())
    obj.parent.mkdir(parents=True, exist_ok=True)
    obj.write_bytes(elfobj.relocatable(TRAMPOLINE_SECTION, code,
                                       {"smp_trampoline_start": 0, "smp_trampoline_end": len(code)},
                                       align=16, flags=elfobj.SHF_ALLOC, sym_type=elfobj.STT_OBJECT))
    return obj
