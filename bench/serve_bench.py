"""Serving benchmark: cllm's HTTP API (the kernel under QEMU TCG, e1000, user networking,
started with `cllm run`) and llama.cpp's server (`python -m llama_cpp.server`, one
thread) measured by the same client in the same run.

Run: .venv/bin/python bench/serve_bench.py [--elf FILE] [--model FILE]
Without --elf it builds the working tree into $CLLM_BUILD_DIR. The peer needs the
`peer` extra; without it only cllm is measured. For each server:
  - cheap requests/s on one keep-alive connection: GET /health (cllm); llama.cpp's
    server has no /health, so GET /v1/models, its cheapest route,
  - streamed greedy completions (/v1/completions, "stream": true) with 1 and then
    16 clients at once, each on its own connection opened beforehand (QEMU's slirp
    drops bursts of connects): per stream the time to the first token and the
    tokens/s after it (chunks with text, first to last; chunks that arrive together
    in one TCP segment make this rate meaningless for very short streams, so keep
    --max-tokens at 64 or more); medians over streams, plus the aggregate tokens/s
    of the whole round.
Both servers get the same prompt, max_tokens and temperature 0, so with the same
model they generate the same text. llama.cpp's server runs with
`--interrupt_requests False`: by default a new request cuts the stream in progress
short, which would turn the 16-client round into 15 truncated streams. A stream that
ends early or breaks the HTTP framing fails the run. Prints Markdown for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from api_bench import run_together

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
PROMPT = "Once upon a time"
CHEAP_ROUNDS = 200


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stream:
    ttft_s: float  # request sent -> first chunk with text
    n_tokens: int  # chunks with text
    gen_s: float  # first -> last chunk with text
    total_s: float  # request sent -> end of stream


def wait_ready(port: int, path: str, timeout_s: float, proc: subprocess.Popen) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before it answered")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", path)
            ok = c.getresponse().status == 200
            c.close()
            if ok:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"no answer on port {port} {path} within {timeout_s} s")


def cheap_rate(port: int, path: str) -> float:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("GET", path)
    c.getresponse().read()
    t0 = time.perf_counter()
    for _ in range(CHEAP_ROUNDS):
        c.request("GET", path)
        r = c.getresponse()
        r.read()
        if r.status != 200:
            raise RuntimeError(f"GET {path}: HTTP {r.status}")
    dt = time.perf_counter() - t0
    c.close()
    return CHEAP_ROUNDS / dt


def stream_one(c: http.client.HTTPConnection, body: dict) -> Stream:
    t0 = time.perf_counter()
    c.request("POST", "/v1/completions", body=json.dumps(body),
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    if r.status != 200:
        raise RuntimeError(f"completion: HTTP {r.status}: {r.read()[:200]!r}")
    first = last = None
    n = 0
    done = False
    while True:
        line = r.readline()
        if not line:
            break
        line = line.strip()
        if not line.startswith(b"data:"):
            continue
        data = line[5:].strip()
        if data == b"[DONE]":
            done = True
            break
        text = json.loads(data)["choices"][0].get("text", "")
        if text:
            now = time.perf_counter()
            first = first if first is not None else now
            last = now
            n += 1
    r.read()
    t_end = time.perf_counter()
    if not done or first is None or last is None:
        raise RuntimeError(f"completion stream ended early ({n} text chunks, [DONE] {done})")
    return Stream(first - t0, n, last - first, t_end - t0)


def round_of(port: int, clients: int, body: dict) -> tuple[list[Stream], float]:
    conns = []
    for _ in range(clients):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
        c.connect()
        conns.append(c)
        time.sleep(0.05)
    out: list[Stream | None] = [None] * clients
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            out[i] = stream_one(conns[i], body)
        except (OSError, RuntimeError, ValueError, http.client.HTTPException) as e:
            errors.append(e)

    wall = run_together(run, clients)
    for c in conns:
        c.close()
    if errors:
        raise RuntimeError(f"{len(errors)} of {clients} streams failed: {errors[0]}")
    return [s for s in out if s is not None], wall


def measure(name: str, port: int, cheap_path: str, body: dict, levels: list[int],
            rounds: int) -> dict[str, str]:
    """The measures of one server, keyed by what they measure (the table's rows)."""
    out = {"cheap requests/s on one keep-alive connection (GET /health; llama.cpp: "
           "GET /v1/models)": f"{cheap_rate(port, cheap_path):.0f}"}
    for n in levels:
        streams: list[Stream] = []
        aggs = []
        for _ in range(rounds if n == 1 else max(1, rounds // 2)):
            ss, wall = round_of(port, n, body)
            streams += ss
            aggs.append(sum(s.n_tokens for s in ss) / wall)
        ttft = statistics.median(s.ttft_s for s in streams)
        ttft_max = max(s.ttft_s for s in streams)
        rate = statistics.median((s.n_tokens - 1) / s.gen_s for s in streams if s.gen_s > 0)
        toks = statistics.median(s.n_tokens for s in streams)
        c = f"{n} client{'s' if n > 1 else ''}"
        out[f"{c}: time to first token, median (max)"] = f"{ttft * 1e3:.0f} ms ({ttft_max * 1e3:.0f} ms)"
        out[f"{c}: tokens/s per stream, median"] = f"{rate:.1f} ({toks:.0f} tokens)"
        out[f"{c}: aggregate tokens/s (all tokens / round wall time)"] = f"{statistics.median(aggs):.1f}"
        print(name, {k: v for k, v in out.items() if k.startswith(c)}, file=sys.stderr, flush=True)
    return out


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--elf", type=Path)
    ap.add_argument("--model", type=Path,
                    default=ROOT.parent / "shared" / "models" / "stories260K.gguf")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3, help="rounds at 1 client (half at 16)")
    ap.add_argument("--levels", default="1,16")
    ap.add_argument("--no-peer", action="store_true")
    args = ap.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    body = {"prompt": PROMPT, "max_tokens": args.max_tokens, "temperature": 0, "stream": True}
    if args.elf is None:
        sys.path.insert(0, str(ROOT))
        from cllm_build import config
        from cllm_build.build import build
        args.elf = build(config.from_env()).elf
    log = open(os.environ.get("SERVE_BENCH_LOG", os.devnull), "ab")  # noqa: SIM115
    servers: dict[str, dict[str, str]] = {}
    port = free_port()
    cmd = [str(Path(PY).parent / "cllm"), "run", str(args.elf), "--model", str(args.model),
           "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=log, stderr=log, start_new_session=True)
    try:
        wait_ready(port, "/health", 300, proc)
        servers["cllm (QEMU TCG)"] = measure("cllm", port, "/health", body, levels, args.rounds)
    finally:
        stop(proc)
    peer_cmd = None
    if not args.no_peer:
        import importlib.util

        if importlib.util.find_spec("llama_cpp") is not None:
            import llama_cpp

            port2 = free_port()
            peer_cmd = [PY, "-m", "llama_cpp.server", "--model", str(args.model), "--port",
                        str(port2), "--n_threads", "1", "--n_threads_batch", "1", "--n_ctx", "512",
                        "--type_k", "0", "--type_v", "0", "--interrupt_requests", "False"]
            proc = subprocess.Popen(peer_cmd, stdout=log, stderr=log, start_new_session=True)
            try:
                wait_ready(port2, "/v1/models", 300, proc)
                servers[f"llama.cpp server {llama_cpp.__version__} (native)"] = measure(
                    "llama.cpp", port2, "/v1/models", body, levels, args.rounds)
            finally:
                stop(proc)
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                         text=True, check=False).stdout.strip()
    print("```")
    print(f"command: .venv/bin/python bench/serve_bench.py --rounds {args.rounds} "
          f"--max-tokens {args.max_tokens} (tree: {rev}), model {args.model.name}")
    print("cllm:  cllm run ELF --model MODEL --port P (QEMU TCG, e1000, user networking)")
    if peer_cmd:
        print("peer:  python -m llama_cpp.server --model MODEL --port P2 --n_threads 1 "
              "--n_threads_batch 1 --n_ctx 512 --type_k 0 --type_v 0 --interrupt_requests False")
    print(f"machine: {platform.machine()}, Python {platform.python_version()}")
    print("```\n")
    names = list(servers)
    print("| measure | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for key in servers[names[0]]:
        print(f"| {key} | " + " | ".join(servers[n].get(key, "-") for n in names) + " |")


if __name__ == "__main__":
    main()
