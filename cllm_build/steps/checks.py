"""One row of an image check and the table they print as.

Shared by steps/verify.py (layout checks) and steps/disasm.py (code checks), so neither
imports the other for it; verify.py calls disasm.py, never the other way round.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def format_table(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    rows = [f"  {'ok  ' if c.ok else 'FAIL'}  {c.name:<{width}}  {c.detail}" for c in checks]
    return "\n".join(rows)
