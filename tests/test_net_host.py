"""Host unit tests of the network stack (kernel/net), built with ASan/UBSan.

tests/host/net_harness.c forges frames into the stack through a fake NIC with a fake
clock and checks what comes out (the cases are in net_test_ip.c and net_test_tcp.c);
each case runs as its own process so a failure names the case. Every TCP case also checks that connections, half-open slots and
buffers return to zero."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hostcc import ROOT, host_binary

NET_SOURCES: list[Path | str] = [
    "kernel/net/checksum.c", "kernel/net/netdev.c", "kernel/net/ether.c", "kernel/net/arp.c",
    "kernel/net/ip_in.c", "kernel/net/ip_out.c", "kernel/net/icmp.c", "kernel/net/udp.c",
    "kernel/net/dhcp.c", "kernel/net/net_stack.c", "kernel/net/tcp.c", "kernel/net/tcp_in.c",
    "kernel/net/tcp_out.c", "kernel/net/echo.c",
    "tests/host/net_harness.c", "tests/host/net_test_ip.c", "tests/host/net_test_tcp.c",
]

CASES = [
    "netdev_register", "arp_reply", "arp_resolve", "icmp_echo", "ip_checks", "stats_format",
    "tcp_handshake_data", "tcp_window_full", "tcp_recv_window", "tcp_keepalive_time_wait_reuse",
    "tcp_retransmit", "tcp_fast_retransmit_ooo",
    "tcp_active_close_time_wait", "tcp_reset", "tcp_syn_flood", "tcp_syn_burst", "tcp_fin_wait_2_recycled", "tcp_echo_bulk", "tcp_fuzz", "dhcp",
]


@pytest.fixture(scope="module")
def net_test() -> Path:
    return host_binary("net_test", NET_SOURCES)


def test_every_portable_net_file_is_built() -> None:
    """The stack must stay portable: every kernel/net source except the kernel glue
    is part of the host build."""
    kernel_only = {"net_boot.c"}
    on_disk = {p.name for p in (ROOT / "kernel" / "net").glob("*.c")} - kernel_only
    assert on_disk == {Path(s).name for s in NET_SOURCES if str(s).startswith("kernel/")}


def test_case_list_matches(net_test: Path) -> None:
    out = subprocess.run([str(net_test), "list"], capture_output=True, text=True, check=True)
    assert out.stdout.split() == CASES


@pytest.mark.parametrize("case", CASES)
def test_net(net_test: Path, case: str) -> None:
    proc = subprocess.run([str(net_test), case], capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == f"ok {case}"
