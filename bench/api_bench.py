"""HTTP API benchmark: the kernel's server, API and generation scheduler under QEMU (TCG).

Run directly: .venv/bin/python bench/api_bench.py [--elf FILE] [--model FILE]
Without --elf it builds the working tree into $CLLM_BUILD_DIR (default build/). It
boots one machine (e1000, user networking, the API forwarded to a host port) with the
model (default ../shared/models/stories260K.gguf) and measures:
  - GET /health round trips per second on one keep-alive connection,
  - one greedy completion of N tokens: the kernel's own prompt and generation rates
    (the "timings" object) and the end-to-end wall time,
  - time to the first streamed token,
  - aggregate generated tokens/s with 1, 4 and 16 clients at once (each its own
    connection and completion), which shows what the one-token-per-turn scheduler
    does with concurrent requests.
Prints Markdown for the "Serving" section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import platform
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cllm_build import config, qemu
from cllm_build.build import build

HEALTH_ROUNDS = 200
N_TOKENS = 64


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def post(c: http.client.HTTPConnection, path: str, body: dict) -> dict:
    c.request("POST", path, body=json.dumps(body))
    r = c.getresponse()
    data = r.read()
    assert r.status == 200, data
    return json.loads(data)


def health_rate(port: int) -> float:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    t0 = time.perf_counter()
    for _ in range(HEALTH_ROUNDS):
        c.request("GET", "/health")
        r = c.getresponse()
        r.read()
    dt = time.perf_counter() - t0
    c.close()
    return HEALTH_ROUNDS / dt


def one_completion(port: int) -> tuple[dict, float]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    t0 = time.perf_counter()
    body = post(c, "/v1/completions", {"prompt": "Once upon a time", "max_tokens": N_TOKENS,
                                        "temperature": 0})
    dt = time.perf_counter() - t0
    c.close()
    return body["timings"], dt


def first_token(port: int) -> float:
    with socket.create_connection(("127.0.0.1", port), timeout=300) as s:
        body = json.dumps({"prompt": "Once upon a time", "max_tokens": 8, "stream": True}).encode()
        req = (b"POST /v1/completions HTTP/1.1\r\nHost: b\r\nConnection: close\r\n"
               b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        t0 = time.perf_counter()
        s.sendall(req)
        data = b""
        while b"data: " not in data:
            chunk = s.recv(4096)
            assert chunk, data
            data += chunk
        dt = time.perf_counter() - t0
        while s.recv(4096):
            pass
    return dt


def open_conns(port: int, n: int) -> list[http.client.HTTPConnection]:
    """n keep-alive connections, each opened by a GET /health."""
    conns = []
    for _ in range(n):  # one by one: QEMU's slirp resets bursts of connects
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        c.request("GET", "/health")
        c.getresponse().read()
        conns.append(c)
    return conns


def aggregate(port: int, clients: int) -> float:
    conns = open_conns(port, clients)
    tokens = [0] * clients

    def run(i: int) -> None:
        body = post(conns[i], "/v1/completions", {"prompt": f"Once upon a time {i}",
                                                   "max_tokens": N_TOKENS, "temperature": 0})
        tokens[i] = body["usage"]["completion_tokens"]

    dt = run_together(run, clients)
    for c in conns:
        c.close()
    return sum(tokens) / dt


def run_together(job: Callable[[int], None], n: int) -> float:
    """Run job(0) .. job(n-1) on n threads released at the same moment; the wall
    seconds from the release until the last one returns."""
    barrier = threading.Barrier(n + 1)

    def start(i: int) -> None:
        barrier.wait()
        job(i)

    threads = [threading.Thread(target=start, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--elf", type=Path)
    ap.add_argument("--model", type=Path, default=ROOT.parent / "shared" / "models" / "stories260K.gguf")
    args = ap.parse_args()
    elf = args.elf or build(config.from_env()).elf
    port = free_port()
    spec = qemu.QemuSpec(elf=elf, memory_mib=256, nic="e1000", host_port=port,
                         modules=(qemu.Module(args.model, "model"),))
    with qemu.Qemu(spec) as vm:
        vm.wait_for_line("cllm: ready", 120)
        rate = health_rate(port)
        timings, wall = one_completion(port)
        ttft = first_token(port)
        agg = {n: aggregate(port, n) for n in (1, 4, 16)}
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                         text=True, check=False).stdout.strip()
    print("```")
    print(f"command: .venv/bin/python bench/api_bench.py (tree: {rev}), model {args.model.name}")
    print(f"machine: {platform.processor() or platform.machine()}, QEMU TCG")
    print("```\n")
    print("| measure | value |\n|---|---|")
    print(f"| GET /health, one keep-alive connection | {rate:.0f} requests/s |")
    print(f"| prompt evaluation (kernel timings) | {timings['prompt_per_second']:.1f} tokens/s |")
    print(f"| generation, one request (kernel timings) | {timings['predicted_per_second']:.1f} tokens/s |")
    print(f"| {N_TOKENS}-token completion, end to end | {wall * 1000:.0f} ms |")
    print(f"| time to first streamed token | {ttft * 1000:.0f} ms |")
    for n, v in agg.items():
        print(f"| aggregate generation, {n} concurrent client{'s' if n > 1 else ''} | {v:.1f} tokens/s |")


if __name__ == "__main__":
    main()
