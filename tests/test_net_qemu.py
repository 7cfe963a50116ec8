"""The NIC drivers and the TCP/IP stack end to end: boot the kernel in QEMU (TCG)
with user networking and talk to it from the host through forwarded ports.

Port 7 is the kernel's echo service (bulk data must come back intact), port 80 the
HTTP server. QEMU user networking also exercises the kernel's DHCP client and ARP
(slirp answers DHCP and resolves the guest before forwarding)."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from cllm_build import qemu

BOOT_TIMEOUT_S = 60.0
IO_TIMEOUT_S = 30.0
MAC_LINE = r"^cllm: net: {name} ([0-9a-f]{{2}}(:[0-9a-f]{{2}}){{5}}) link up$"
IP_LINE = re.compile(r"^cllm: net: \S+ ip (\S+) netmask (\S+) gw (\S+) \((dhcp|static)\)$")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def booted(elf: Path, nic: str, cmdline: str = "") -> Iterator[tuple[qemu.Qemu, int, int]]:
    """QEMU with `nic` on user networking; yields (vm, host port -> :80, host port -> :7)."""
    http_port, echo_port = free_port(), free_port()
    netdev = (f"user,id=n0,hostfwd=tcp:127.0.0.1:{http_port}-:80,"
              f"hostfwd=tcp:127.0.0.1:{echo_port}-:7")
    spec = qemu.QemuSpec(elf=elf, memory_mib=128, accel="tcg", cmdline=cmdline,
                         extra_args=("-netdev", netdev, "-device", f"{qemu.NIC_DEVICES[nic]},netdev=n0"))
    with qemu.Qemu(spec) as vm:
        vm.wait_for_line("cllm: ready", BOOT_TIMEOUT_S)
        yield vm, http_port, echo_port


def echo_roundtrip(port: int, payload: bytes, chunk: int = 8192) -> bytes:
    """Send payload to the echo service while reading the echo back; close; return it."""
    got = bytearray()
    with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT_S) as s:
        def reader() -> None:
            while True:
                b = s.recv(65536)
                if not b:
                    return
                got.extend(b)
        t = threading.Thread(target=reader)
        t.start()
        for i in range(0, len(payload), chunk):
            s.sendall(payload[i:i + chunk])
        s.shutdown(socket.SHUT_WR)
        t.join(IO_TIMEOUT_S)
        assert not t.is_alive(), f"echo stalled after {len(got)} of {len(payload)} bytes"
    return bytes(got)


def pattern(n: int, seed: int) -> bytes:
    return bytes((i * 31 + seed + (i >> 9)) & 0xFF for i in range(n))


@pytest.mark.qemu
@pytest.mark.parametrize("nic", qemu.NICS)
def test_nic_dhcp_and_tcp(kernel_elf: Path, nic: str) -> None:
    with booted(kernel_elf, nic) as (vm, http_port, echo_port):
        name = "e1000" if nic == "e1000" else "virtio-net"
        assert any(re.match(MAC_LINE.format(name=name), ln) for ln in vm.lines), vm.log_text
        ip = [m.groups() for m in map(IP_LINE.match, vm.lines) if m]
        assert ip == [("10.0.2.15", "255.255.255.0", "10.0.2.2", "dhcp")], vm.log_text

        # Bulk: 300 KB through the echo service, byte-exact and in order.
        data = pattern(300_000, 7)
        assert echo_roundtrip(echo_port, data) == data

        # Several connections at once (the echo service takes up to 8).
        results: dict[int, bytes] = {}

        def client(k: int) -> None:
            results[k] = echo_roundtrip(echo_port, pattern(20_000 + k * 1000, k))

        threads = [threading.Thread(target=client, args=(k,)) for k in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(IO_TIMEOUT_S * 2)
        for k in range(6):
            assert results.get(k) == pattern(20_000 + k * 1000, k), f"client {k}"

        # The HTTP server answers on port 80 over the same stack.
        with socket.create_connection(("127.0.0.1", http_port), timeout=IO_TIMEOUT_S) as s:
            s.sendall(b"GET /health HTTP/1.0\r\nHost: x\r\n\r\n")
            head = s.recv(64)
        assert re.match(rb"HTTP/1\.[01] \d{3} ", head), head
        assert not any("panic" in ln for ln in vm.lines), vm.log_text


@pytest.mark.qemu
def test_static_address(kernel_elf: Path) -> None:
    """cllm.ip= skips DHCP; user networking still reaches 10.0.2.15."""
    cmd = "cllm.ip=10.0.2.15 cllm.netmask=255.255.255.0 cllm.gw=10.0.2.2"
    with booted(kernel_elf, "e1000", cmd) as (vm, _http_port, echo_port):
        ip = [m.groups() for m in map(IP_LINE.match, vm.lines) if m]
        assert ip == [("10.0.2.15", "255.255.255.0", "10.0.2.2", "static")], vm.log_text
        data = pattern(50_000, 3)
        assert echo_roundtrip(echo_port, data) == data


@pytest.mark.qemu
def test_nic_chosen_from_the_driver_table(kernel_elf: Path) -> None:
    """cllm.nic= names a row of the driver table (kernel/dev/nic.c): a driver whose card
    is absent finds nothing, an unknown name is warned about and probed as auto."""
    with booted(kernel_elf, "e1000", "cllm.nic=virtio") as (vm, _http_port, _echo_port):
        assert "cllm: net: no network card found (cllm.nic=virtio)" in vm.lines, vm.log_text
        assert not any(re.match(MAC_LINE.format(name=r"\S+"), ln) for ln in vm.lines), vm.log_text
    with booted(kernel_elf, "virtio", "cllm.nic=rtl8139") as (vm, _http_port, echo_port):
        assert ('cllm: warning: no NIC driver named "rtl8139"; drivers: e1000 virtio; '
                "trying each (cllm.nic=auto)") in vm.lines, vm.log_text
        assert any(re.match(MAC_LINE.format(name="virtio-net"), ln) for ln in vm.lines), vm.log_text
        data = pattern(10_000, 5)
        assert echo_roundtrip(echo_port, data) == data
