"""`cllm fleet`: kernels behind HAProxy (cllm_build/fleet.py), on loopback.

The configuration is checked by HAProxy itself; then three real kernels serve 200
greedy requests from 16 clients while one kernel is killed mid-run: every request is
answered with the right text (a request that failed before any byte of its answer is
retried by its client, as a real client would), the dead kernel leaves HAProxy's pool
within the health-check interval and rejoins once booted again, and requests that name
a conversation stay on one kernel."""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from cllm_build import fleet, run

CHECK_MS = 500
PROMPTS = ["In the beginning", "And the LORD said", "Blessed are", "The king of Israel",
           "And it came to pass", "Hear, O Israel", "Praise ye", "The words of"]


@pytest.fixture(scope="module", autouse=True)
def need_haproxy() -> None:
    if not shutil.which("haproxy"):
        pytest.skip("haproxy is not installed (the Makefile installs it: apt-get install haproxy)")


def free_ports(n: int) -> int:
    """A base port with n free ports in a row."""
    for base in range(21000, 60000, 97):
        socks = []
        try:
            for p in range(base, base + n):
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", p))
                socks.append(s)
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port range")


def options(elf: Path, replicas: int = 3) -> fleet.FleetOptions:
    base = free_ports(replicas + 2)
    return fleet.FleetOptions(run=run.RunOptions(elf=elf, accel="tcg"), replicas=replicas,
                              port=base, stats_port=base + 1, base_port=base + 2, check_ms=CHECK_MS)


def test_generated_configuration_is_valid(tmp_path) -> None:
    o = options(Path("cllm.elf"))
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(fleet.haproxy_config(o))
    import subprocess

    proc = subprocess.run(["haproxy", "-c", "-f", str(cfg)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = cfg.read_text()
    for p in o.kernel_ports():
        assert f"127.0.0.1:{p} check inter {CHECK_MS}ms" in text
    assert "balance leastconn" in text and "hash-type consistent" in text
    assert "retry-on conn-failure empty-response" in text


def test_options_are_checked() -> None:
    base = run.RunOptions(elf=Path("x"))
    with pytest.raises(fleet.UsageError, match="overlap"):
        fleet.Fleet(fleet.FleetOptions(run=base, port=9000, stats_port=9001, base_port=9000))
    with pytest.raises(fleet.UsageError, match="replicas"):
        fleet.Fleet(fleet.FleetOptions(run=base, replicas=0))
    with pytest.raises(fleet.UsageError, match="console"):
        fleet.Fleet(fleet.FleetOptions(run=run.RunOptions(elf=Path("x"), prompt="hi")))


def complete(url: str, prompt: str, headers: dict[str, str] | None = None,
             body_extra: dict | None = None) -> tuple[str, str]:
    """One greedy completion; (text, the kernel that served it). Raises on failure."""
    body = {"prompt": prompt, "max_tokens": 8, "temperature": 0, **(body_extra or {})}
    req = urllib.request.Request(url + "v1/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(req, timeout=120) as resp:
        data = json.loads(resp.read())
        return data["choices"][0]["text"], resp.headers.get("X-Served-By", "")


def wait_state(f: fleet.Fleet, server: str, want: str, timeout: float) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if f.server_states().get(server, "").startswith(want):
            return time.monotonic() - t0
        time.sleep(0.05)
    raise AssertionError(f"{server} not {want} after {timeout} s: {f.server_states()}")


@pytest.mark.qemu
def test_kernel_killed_mid_run_costs_no_wrong_answer(kernel_elf) -> None:
    with fleet.Fleet(options(kernel_elf)) as f:
        for k in ("k0", "k1", "k2"):
            wait_state(f, k, "UP", 30)
        expected = {p: complete(f.url, p)[0] for p in PROMPTS}
        assert all(expected.values())

        results: list[tuple[str, str, str]] = []
        retries = Counter()
        lock = threading.Lock()
        jobs = iter(range(200))
        done = threading.Event()

        def client() -> None:
            while True:
                with lock:
                    i = next(jobs, None)
                if i is None:
                    return
                prompt = PROMPTS[i % len(PROMPTS)]
                for attempt in range(8):
                    try:
                        text, by = complete(f.url, prompt)
                        break
                    except (urllib.error.URLError, OSError, ValueError):
                        # failed before any answer: retry, as a client does
                        with lock:
                            retries[i] += 1
                        time.sleep(0.2 * (attempt + 1))
                else:
                    text, by = "<no answer>", ""
                with lock:
                    results.append((prompt, text, by))
                    if len(results) == 60:
                        done.set()

        threads = [threading.Thread(target=client) for _ in range(16)]
        for t in threads:
            t.start()
        assert done.wait(600), "the first 60 requests did not finish"
        f.kill(1)
        t_down = wait_state(f, "k1", "DOWN", 10 * CHECK_MS / 1000)
        for t in threads:
            t.join(600)
        assert len(results) == 200
        wrong = [(p, t) for p, t, _ in results if t != expected[p]]
        assert not wrong, f"{len(wrong)} wrong answers, e.g. {wrong[:3]}"
        served = Counter(by for _, _, by in results)
        assert served["k0"] and served["k2"], served
        # the dead kernel left the pool within `fall` checks, each at most its timeout
        assert t_down <= 2 * (CHECK_MS / 1000 + 2.0) + 1.0, t_down

        f.restart(1)
        wait_state(f, "k1", "UP", 10 * CHECK_MS / 1000)
        after = Counter(complete(f.url, PROMPTS[0])[1] for _ in range(12))
        assert after["k1"] > 0, f"k1 gets no work after rejoining: {after}"


@pytest.mark.qemu
def test_conversations_stay_on_one_kernel(kernel_elf) -> None:
    with fleet.Fleet(options(kernel_elf)) as f:
        by_header = {complete(f.url, "Amen", {"X-Conversation-Id": "chat-42"})[1] for _ in range(6)}
        assert len(by_header) == 1, by_header
        by_user = {complete(f.url, "Amen", body_extra={"user": "alice"})[1] for _ in range(6)}
        assert len(by_user) == 1, by_user
        spread = {complete(f.url, "Amen", {"X-Conversation-Id": f"c{i}"})[1] for i in range(24)}
        assert len(spread) >= 2, spread
