"""Fleet benchmark: aggregate throughput of 1, 2 and 3 kernels behind HAProxy
(`cllm fleet`, cllm_build/fleet.py), the same clients in the same run.

Run: .venv/bin/python bench/fleet_bench.py [--elf FILE] [--model FILE] [--replicas 1,2,3]
         [--clients 16] [--requests 96] [--max-tokens 32]
Without --elf it builds the working tree. For each replica count it boots the fleet,
warms every kernel with one request, then sends --requests greedy completions
(/v1/completions, temperature 0, --max-tokens each) from --clients threads through
HAProxy, and reports requests/s and generated tokens/s over the whole round (the wall
time from the first request to the last answer) and the ratio to one kernel. Every
kernel is a QEMU TCG machine on its own host thread, so the scaling is bounded by the
host's cores. Prints Markdown for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cllm_build import fleet, run
from cllm_build.build import build
from cllm_build.config import from_env

PROMPTS = ["In the beginning", "And the LORD said", "Blessed are", "The king of Israel"]


def one(url: str, prompt: str, max_tokens: int) -> int:
    body = {"prompt": prompt, "max_tokens": max_tokens, "temperature": 0}
    req = urllib.request.Request(url + "v1/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as resp:
        return int(json.loads(resp.read())["usage"]["completion_tokens"])


def round_trip(url: str, clients: int, requests: int, max_tokens: int) -> tuple[float, int]:
    jobs = iter(range(requests))
    lock = threading.Lock()
    tokens = [0]

    def client() -> None:
        while True:
            with lock:
                i = next(jobs, None)
            if i is None:
                return
            n = one(url, PROMPTS[i % len(PROMPTS)], max_tokens)
            with lock:
                tokens[0] += n

    threads = [threading.Thread(target=client) for _ in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - t0, tokens[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--elf", type=Path)
    ap.add_argument("--model", type=Path)
    ap.add_argument("--replicas", default="1,2,3")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--requests", type=int, default=96)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--port", type=int, default=28080)
    a = ap.parse_args()
    elf = a.elf or build(from_env()).elf
    rows = []
    for n in (int(x) for x in a.replicas.split(",")):
        opts = fleet.FleetOptions(run=run.RunOptions(elf=elf, model=a.model, accel="tcg"), replicas=n,
                                  port=a.port, stats_port=a.port + 100)
        with fleet.Fleet(opts) as f:
            for _ in range(n):
                one(f.url, PROMPTS[0], 4)
            secs, toks = round_trip(f.url, a.clients, a.requests, a.max_tokens)
        rows.append((n, secs, toks))
        print(f"{n} kernel(s): {a.requests} requests in {secs:.1f} s, {toks} tokens", file=sys.stderr)
    base = rows[0][2] / rows[0][1]
    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"{a.clients} clients, {a.requests} requests of {a.max_tokens} tokens, greedy\n")
    print("| kernels | wall s | requests/s | tokens/s | ÷ 1 kernel |")
    print("|---|---|---|---|---|")
    for n, secs, toks in rows:
        print(f"| {n} | {secs:.1f} | {a.requests / secs:.2f} | {toks / secs:.1f} | "
              f"{toks / secs / base:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
