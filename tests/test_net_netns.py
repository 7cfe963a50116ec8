"""The stack against a real Linux TCP/IP peer, through an impaired link.

A network namespace holds a tap device (192.168.77.1/24); the kernel boots in QEMU
with a UDP socket netdev and a static address (cllm.ip=192.168.77.2). A relay in
this process moves frames between the tap and QEMU's socket and drops, delays and
reorders them at fixed rates (this machine has no tc netem). A client run inside
the namespace (this file, `client` mode) pings the kernel, pushes data through the
echo service and makes HTTP requests; everything must arrive intact. The namespace
and the tap are removed whatever happens.

Run alone: `python tests/test_net_netns.py client <guest ip>` inside a namespace.
"""

from __future__ import annotations

import fcntl
import heapq
import json
import os
import random
import re
import select
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # the client half runs inside the namespace without the toolchain
    from cllm_build import qemu

HOST_IP = "192.168.77.1"
GUEST_IP = "192.168.77.2"
LOSS = 0.07          # each frame, each direction
DELAY_P = 0.3        # share of frames delayed
DELAY_MAX_S = 0.02
REORDER_P = 0.05     # share of frames held back past their successors
REORDER_HOLD_S = 0.03
TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000


def run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, timeout=30)


class Relay(threading.Thread):
    """Frames tap <-> QEMU UDP socket, with loss, delay and reordering."""

    def __init__(self, tap_fd: int, sock: socket.socket, qemu_addr: tuple[str, int], seed: int,
                 impaired: bool = True) -> None:
        super().__init__(daemon=True)
        self.tap_fd, self.sock, self.qemu_addr = tap_fd, sock, qemu_addr
        self.rng = random.Random(seed)
        self.impaired = impaired  # False: every frame passes at once, in order
        self.stop = threading.Event()
        self.stats = {"frames": 0, "dropped": 0, "delayed": 0, "reordered": 0}

    def run(self) -> None:
        queue: list[tuple[float, int, bool, bytes]] = []
        n = 0
        while not self.stop.is_set():
            now = time.monotonic()
            timeout = 0.05 if not queue else max(0.0, min(0.05, queue[0][0] - now))
            readable, _, _ = select.select([self.tap_fd, self.sock.fileno()], [], [], timeout)
            for src in readable:
                to_qemu = src == self.tap_fd
                frame = os.read(self.tap_fd, 2048) if to_qemu else self.sock.recv(2048)
                self.stats["frames"] += 1
                if not self.impaired:
                    n += 1
                    heapq.heappush(queue, (0.0, n, to_qemu, frame))
                    continue
                if self.rng.random() < LOSS:
                    self.stats["dropped"] += 1
                    continue
                at = time.monotonic()
                if self.rng.random() < DELAY_P:
                    at += self.rng.uniform(0, DELAY_MAX_S)
                    self.stats["delayed"] += 1
                if self.rng.random() < REORDER_P:
                    at += REORDER_HOLD_S
                    self.stats["reordered"] += 1
                n += 1
                heapq.heappush(queue, (at, n, to_qemu, frame))
            now = time.monotonic()
            while queue and queue[0][0] <= now:
                _, _, to_qemu, frame = heapq.heappop(queue)
                try:
                    if to_qemu:
                        self.sock.sendto(frame, self.qemu_addr)
                    else:
                        os.write(self.tap_fd, frame)
                except OSError:
                    pass  # QEMU not listening yet, or the tap is going away


@contextmanager
def namespace_with_tap() -> Iterator[tuple[str, int]]:
    """A fresh namespace holding an up tap with HOST_IP; yields (namespace, tap fd)."""
    ns = f"cllmnet{os.getpid()}"
    tap = f"cltap{os.getpid() % 100000}"
    fd = os.open("/dev/net/tun", os.O_RDWR)
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", tap.encode(), IFF_TAP | IFF_NO_PI))
        run("ip", "netns", "add", ns)
        try:
            # The open fd stays attached to the device after it moves.
            run("ip", "link", "set", tap, "netns", ns)
            run("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
            run("ip", "netns", "exec", ns, "ip", "addr", "add", f"{HOST_IP}/24", "dev", tap)
            run("ip", "netns", "exec", ns, "ip", "link", "set", tap, "up")
            yield ns, fd
        finally:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30, check=False)
    finally:
        os.close(fd)


@contextmanager
def guest_behind_tap(kernel_elf: Path, device: str, *, impaired: bool, seed: int, memory_mib: int = 128,
                     modules: tuple[qemu.Module, ...] = ()) -> Iterator[tuple[qemu.Qemu, str, Relay]]:
    """The kernel booted (static GUEST_IP) on a UDP socket netdev that a Relay joins to a
    tap in a fresh namespace; yields (the running QEMU, namespace, relay)."""
    from cllm_build import qemu

    with namespace_with_tap() as (ns, tap_fd):
        relay_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        relay_sock.bind(("127.0.0.1", 0))
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind(("127.0.0.1", 0))
        qemu_port = probe.getsockname()[1]
        probe.close()
        relay = Relay(tap_fd, relay_sock, ("127.0.0.1", qemu_port), seed=seed, impaired=impaired)
        relay.start()
        netdev = f"socket,id=n0,udp=127.0.0.1:{relay_sock.getsockname()[1]},localaddr=127.0.0.1:{qemu_port}"
        spec = qemu.QemuSpec(
            elf=kernel_elf, memory_mib=memory_mib, accel="tcg", modules=modules,
            cmdline=f"cllm.ip={GUEST_IP} cllm.netmask=255.255.255.0 cllm.gw={HOST_IP}",
            extra_args=("-netdev", netdev, "-device", f"{device},netdev=n0"))
        try:
            with qemu.Qemu(spec) as vm:
                vm.wait_for_line("cllm: ready", 120)
                yield vm, ns, relay
                assert not any("panic" in ln for ln in vm.lines), vm.log_text()
        finally:
            relay.stop.set()
            relay.join(5)
            relay_sock.close()


@pytest.mark.qemu
@pytest.mark.parametrize("device", ["e1000", "virtio-net-pci"])
def test_linux_peer_through_lossy_link(kernel_elf: Path, device: str) -> None:
    if shutil.which("ip") is None:
        pytest.skip("iproute2 (ip) is not installed")
    with guest_behind_tap(kernel_elf, device, impaired=True, seed=6) as (_vm, ns, relay):
        proc = subprocess.run(
            ["ip", "netns", "exec", ns, sys.executable, __file__, "client", GUEST_IP],
            capture_output=True, text=True, timeout=300, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["ping_ok"] == result["ping_sent"] == 5, result
    assert result["echo_ok"] == result["echo_total"] == 12, result
    assert result["http_ok"] == result["http_total"] == 8, result
    # The guest lost some of its own segments on the way out and recovered them.
    assert result["guest_retransmits"] > 0, result
    print("netns result", result, relay.stats)
    assert relay.stats["dropped"] > 0 and relay.stats["reordered"] > 0, relay.stats


# ---- the client, run inside the namespace ----

def _icmp_checksum(b: bytes) -> int:
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def _ping(ip: str, seq: int, payload: bytes) -> bool:
    """One echo request, retried through loss; True once the matching reply came."""
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as s:
        s.settimeout(0.5)
        ident = os.getpid() & 0xFFFF
        hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
        pkt = struct.pack("!BBHHH", 8, 0, _icmp_checksum(hdr + payload), ident, seq) + payload
        for _ in range(20):
            s.sendto(pkt, (ip, 0))
            deadline = time.monotonic() + 0.5
            while time.monotonic() < deadline:
                try:
                    data = s.recv(2048)
                except TimeoutError:
                    break
                icmp = data[(data[0] & 0xF) * 4:]
                typ, _, _sum, rid, rseq = struct.unpack("!BBHHH", icmp[:8])
                if typ == 0 and rid == ident and rseq == seq:
                    return icmp[8:] == payload and _icmp_checksum(icmp) == 0
    return False


def _echo(ip: str, data: bytes) -> str:
    """"" when the echo came back intact, else what went wrong."""
    got = bytearray()
    with socket.create_connection((ip, 7), timeout=60) as s:
        def reader() -> None:
            while chunk := s.recv(65536):
                got.extend(chunk)
        t = threading.Thread(target=reader)
        t.start()
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        t.join(120)
    if bytes(got) == data:
        return ""
    diff = next((i for i, (a, b) in enumerate(zip(got, data)) if a != b), min(len(got), len(data)))
    return f"{len(data)} bytes: got {len(got)}, first difference at {diff}"


def _get(ip: str, path: str) -> bytes | None:
    """The body of a complete HTTP response (Content-Length honoured), else None."""
    with socket.create_connection((ip, 80), timeout=60) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: cllm\r\nConnection: close\r\n\r\n".encode())
        resp = bytearray()
        while chunk := s.recv(65536):
            resp.extend(chunk)
    head, _, body = bytes(resp).partition(b"\r\n\r\n")
    m = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
    ok = head.startswith(b"HTTP/1.1 ") and m is not None and int(m.group(1)) == len(body)
    return body if ok else None


def client(ip: str) -> None:
    ping_ok = sum(_ping(ip, seq, bytes(range(seq, seq + 48))) for seq in range(5))
    sizes = [1, 100, 1460, 1461, 5000, 20000, 40000, 65536, 3000, 12345, 777, 30000]
    errors = []
    for k, n in enumerate(sizes):
        err = _echo(ip, bytes((i * 7 + k + (i >> 10)) & 0xFF for i in range(n)))
        if err:
            errors.append(err)
    http_ok = sum(_get(ip, "/health") is not None for _ in range(8))
    metrics = _get(ip, "/metrics") or b""
    m = re.search(rb"^cllm_net_tcp_retransmits_total (\d+)$", metrics, re.MULTILINE)
    out = {"ping_sent": 5, "ping_ok": ping_ok, "echo_total": len(sizes), "echo_ok": len(sizes) - len(errors),
           "echo_errors": errors, "http_total": 8, "http_ok": http_ok,
           "guest_retransmits": int(m.group(1)) if m else -1}
    print(json.dumps(out))


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "client":
    client(sys.argv[2])
