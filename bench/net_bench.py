"""Network benchmark: the kernel's TCP/IP stack and NIC drivers under QEMU (TCG).

Run directly: .venv/bin/python bench/net_bench.py [--elf FILE] [--nic e1000|virtio ...]
Without --elf it builds the working tree into $CLLM_BUILD_DIR (default build/). For
each NIC it boots one machine with user networking and the echo service (port 7)
forwarded to the host, then measures:
  - bulk: MB/s of a 4 MiB transfer echoed back (each byte crosses the stack twice),
  - rtt: median round trip of a 64-byte message on one open connection,
  - connections: sequential connect / 100 bytes echoed / close per second.
Prints Markdown rows for the "Network" section of BENCHMARKS.md. The path includes
QEMU's slirp, so the numbers bound the whole emulated link, not the stack alone.
"""

from __future__ import annotations

import argparse
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cllm_build import config, qemu
from cllm_build.build import build

NIC_DEVICES = {"e1000": "e1000", "virtio": "virtio-net-pci"}
BULK_BYTES = 4 << 20
RTT_ROUNDS = 200
CONN_ROUNDS = 100


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bulk(port: int) -> float:
    data = bytes(i & 0xFF for i in range(BULK_BYTES))
    got = 0
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        def reader() -> None:
            nonlocal got
            while chunk := s.recv(1 << 16):
                got += len(chunk)
        t = threading.Thread(target=reader)
        t0 = time.monotonic()
        t.start()
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        t.join()
        dt = time.monotonic() - t0
    assert got == len(data), f"echoed {got} of {len(data)} bytes"
    return len(data) / dt / 1e6


def rtt(port: int) -> float:
    msg = b"x" * 64
    times = []
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(RTT_ROUNDS):
            t0 = time.monotonic()
            s.sendall(msg)
            got = b""
            while len(got) < len(msg):
                got += s.recv(1024)
            times.append(time.monotonic() - t0)
    return statistics.median(times) * 1e3


def conns(port: int) -> float:
    t0 = time.monotonic()
    for _ in range(CONN_ROUNDS):
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(b"y" * 100)
            s.shutdown(socket.SHUT_WR)
            got = b""
            while chunk := s.recv(1024):
                got += chunk
            assert len(got) == 100
    return CONN_ROUNDS / (time.monotonic() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--elf", type=Path)
    ap.add_argument("--nic", action="append", choices=sorted(NIC_DEVICES))
    args = ap.parse_args()
    elf = args.elf or build(config.from_env()).elf
    rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True, check=True).stdout.strip()
    qv = subprocess.run(["qemu-system-i386", "--version"], capture_output=True, text=True,
                        check=True).stdout
    print("```")
    print(f"command: .venv/bin/python bench/net_bench.py (tree: {rev})")
    print(f"machine: {platform.processor() or platform.machine()}, QEMU {qv.split()[3]}, TCG")
    print("```\n")
    print("| NIC | bulk echo MB/s | rtt 64 B ms (median) | connections/s |")
    print("|---|---|---|---|")
    for nic in args.nic or ["e1000", "virtio"]:
        port = free_port()
        spec = qemu.QemuSpec(elf=elf, memory_mib=128, accel="tcg", extra_args=(
            "-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{port}-:7",
            "-device", f"{NIC_DEVICES[nic]},netdev=n0"))
        with qemu.Qemu(spec) as vm:
            vm.wait_for_line("cllm: ready", 120)
            b, r, c = bulk(port), rtt(port), conns(port)
        print(f"| {nic} | {b:.2f} | {r:.2f} | {c:.1f} |")


if __name__ == "__main__":
    main()
