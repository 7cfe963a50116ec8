"""Fleet benchmark: aggregate throughput of 1, 2 and 3 kernels behind HAProxy
(`cllm fleet`, cllm_build/fleet.py), the same clients in the same run.

Run: .venv/bin/python bench/fleet_bench.py [--elf FILE] [--model FILE] [--replicas 1,2,3]
         [--clients 16] [--requests 96] [--max-tokens 32] [--rounds 3] [--smp 1]
Without --elf it builds the working tree. For each replica count it boots the fleet,
warms every kernel with one request, then runs --rounds rounds of --requests greedy
completions (/v1/completions, temperature 0, --max-tokens each) from --clients threads
through HAProxy, and reports the medians over the rounds of requests/s and generated
tokens/s (each over a round's wall time, first request to last answer) and the ratio to
one kernel. Every kernel is a QEMU TCG machine with --smp guest CPUs (default 1: one
host thread computing per kernel), so the scaling is bounded by the host's free cores.
Prints Markdown for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import build_bench

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
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--smp", type=int, default=1)
    a = ap.parse_args()
    elf = a.elf or build(from_env()).elf
    rows = []
    for n in (int(x) for x in a.replicas.split(",")):
        opts = fleet.FleetOptions(run=run.RunOptions(elf=elf, model=a.model, accel="tcg", smp=a.smp),
                                  replicas=n, port=a.port, stats_port=a.port + 100)
        rates = []  # (requests/s, tokens/s) per round
        with fleet.Fleet(opts) as f:
            for _ in range(n):
                one(f.url, PROMPTS[0], 4)
            for _ in range(a.rounds):
                secs, toks = round_trip(f.url, a.clients, a.requests, a.max_tokens)
                rates.append((a.requests / secs, toks / secs))
                print(f"{n} kernel(s): {a.requests} requests in {secs:.1f} s, {toks} tokens", file=sys.stderr)
        rows.append((n, statistics.median(r for r, _ in rates), [t for _, t in rates]))
    base = statistics.median(rows[0][2])
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"Machine: {build_bench.machine()}, load average "
          f"{load} at the end; {a.clients} clients, {a.requests} requests of {a.max_tokens} tokens, "
          f"greedy, {a.rounds} rounds per fleet, {a.smp} guest CPU(s) per kernel\n")
    print("| kernels | requests/s, median | tokens/s, median (rounds) | ÷ 1 kernel |")
    print("|---|---|---|---|")
    for n, rps, tok_rates in rows:
        m = statistics.median(tok_rates)
        print(f"| {n} | {rps:.2f} | {m:.1f} ({', '.join(f'{t:.1f}' for t in tok_rates)}) | "
              f"{m / base:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
