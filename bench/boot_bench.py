"""Boot benchmark: seconds from starting QEMU (TCG) to the kernel's `cllm: ready` line.

Run directly: .venv/bin/python bench/boot_bench.py [--runs N] [--elf FILE] [--iso].
Without --elf it builds a snapshot of the committed tree (`git archive HEAD kernel
boot`) in a temporary directory, so the numbers describe a commit. Each run starts a
fresh machine (QEMU's Multiboot loader, no NIC) and times it from the spawn of QEMU
to the arrival of `cllm: ready` on COM1; --iso also times the GRUB ISO under SeaBIOS.
Prints medians (and min/max) as Markdown rows for the "Boot" section of BENCHMARKS.md.
Relies on cllm_build only.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cllm_build import config, image, qemu
from cllm_build.build import build

READY_TIMEOUT_S = 120


def snapshot_elf(tmp: Path, rev: str) -> Path:
    """Build the committed kernel/ and boot/ of `rev` in `tmp`; the ELF path."""
    src = tmp / "src"
    src.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "kernel", "boot"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
    cfg = config.BuildConfig(root=src, build_dir=tmp / "build")
    return build(cfg).elf


def time_to_ready(spec: qemu.QemuSpec) -> float:
    """Seconds from spawning QEMU to the `cllm: ready` line."""
    with qemu.Qemu(spec) as vm:
        vm.wait_for_line(r"cllm: ready\b", READY_TIMEOUT_S)
        return vm.elapsed


def machine() -> str:
    cpu = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ver = subprocess.run(["qemu-system-i386", "--version"], capture_output=True, text=True,
                         check=False).stdout
    return f"{cpu}, {os.cpu_count()} CPUs, {ver.splitlines()[0] if ver else 'QEMU ?'}"


def row(what: str, times: list[float]) -> str:
    return (f"| {what} | {len(times)} | {statistics.median(times):.3f} | "
            f"{min(times):.3f} | {max(times):.3f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=9, help="boots per configuration (median reported)")
    ap.add_argument("--elf", type=Path, default=None, help="kernel to boot (default: build HEAD)")
    ap.add_argument("--rev", default="HEAD", help="commit to build when --elf is not given")
    ap.add_argument("--memory", type=int, default=256, help="guest RAM in MiB")
    ap.add_argument("--iso", action="store_true", help="also time the GRUB ISO under SeaBIOS")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="cllm-boot-bench-") as tmp_s:
        tmp = Path(tmp_s)
        elf = args.elf if args.elf is not None else snapshot_elf(tmp, args.rev)
        rows = []
        direct = [time_to_ready(qemu.QemuSpec(elf=elf, memory_mib=args.memory))
                  for _ in range(args.runs)]
        rows.append(row(f"QEMU -kernel (Multiboot), {args.memory} MiB", direct))
        if args.iso:
            iso = image.make_iso(elf, tmp / "cllm.iso").path
            times = [time_to_ready(qemu.QemuSpec(iso=iso, memory_mib=args.memory))
                     for _ in range(args.runs)]
            rows.append(row(f"GRUB ISO under SeaBIOS, {args.memory} MiB", times))
    if args.elf is not None:
        what = f" --elf {args.elf}`"
    else:
        short = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", args.rev],
                               capture_output=True, text=True, check=False).stdout.strip()
        what = f"` (commit {short})"
    print(f"Command: `.venv/bin/python bench/boot_bench.py --runs {args.runs}"
          f"{' --iso' if args.iso else ''}{what}; TCG, no NIC, no model.")
    print(f"Machine: {machine()}")
    print()
    print("| boot path | runs | median s | min s | max s |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(r)


if __name__ == "__main__":
    main()
