"""KV-cache benchmark: the rows of the paged KV pool's table in BENCHMARKS.md, measured
in the host harness (tests/host/http_main.c linked with the real engine,
tests/host/http_llm_host.c, built -O2 without sanitizers; one thread), which runs the
kernel's HTTP server, API and scheduler over a scripted transport.

Run: .venv/bin/python bench/kv_bench.py ttft|concurrency|throughput --model FILE [options]
  ttft         a chat request whose ~500-token system prompt is in the prefix cache
               against the same request with "cache_prompt": false. Per run, one harness
               process: a warm-up chat (same system prompt, another question), then the
               measured question with the cache and without it, in alternating order.
               Time to first token = prompt_ms + predicted_ms of a one-token answer (the
               engine's clock, `timings`); medians over --runs, ratio of the medians and
               median of the per-run ratios. MODEL: a chat model (SmolLM2-135M-Instruct).
  concurrency  --requests sequences of about 200 positions each (a ~180-token story prompt,
               then --gen greedy tokens) in a pool of --contexts whole
               contexts (CLLM_KV_BLOCKS = contexts x ceil(ctx / 16)). After every scheduler
               turn the script reads /metrics: the rows of that turn's decode pass are the
               sequences that ran at once. Reports the peak and the mean over the passes,
               against what the contiguous design held in the same bytes (computed: it
               reserved ctx x layers x kv_dim x 2 x 4 bytes per sequence, so `contexts`).
  throughput   aggregate generated tokens/s with 1, 8 and 64 clients, each on its own
               connection, all sent at once; the round's wall time comes from the
               harness's monotonic clock ("stamp" script lines) around it; one harness
               process per run, each running every client count once (the order reversed
               every other run); medians. Each run
               also evaluates a ~180-token prompt (batched, prompt_per_second of its
               timings): the rate of one pass over many rows, the most that batching the
               decode steps of many clients could reach. --kernels picks the engine's
               kernel set (sse2, avx2 or scalar).
  peer         the kernel under QEMU (`cllm run ELF --model MODEL`, TCG) and llama-cpp-python's
               server (--peer-python: a Python with its `server` extra; one thread, one
               request at a time: it has no --parallel) measured by serve_bench.py's client:
               streamed greedy completions, --clients at once, --tokens each.
Prints Markdown for BENCHMARKS.md. Needs a C compiler (gcc) like the host tests.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import build_bench
from http_support import Response, Result, Script, parse_responses, request

CLOSE = {"Connection": "close"}  # each round's connections end with it (the server's limit)
BLOCK_LEN = 16  # KV_BLOCK_LEN, the shared pool's default (kernel/llm/kv.h)

# About 500 tokens of a system prompt (SmolLM2's BPE); a chat that shares it.
SYSTEM = (
    "You are the help desk assistant of a small public library in a mountain town. "
    "The library opens at nine in the morning and closes at six in the evening on weekdays, "
    "and opens from ten to four on Saturdays; it is closed on Sundays and public holidays. "
    "Members may borrow up to eight books, four magazines and two films at a time. "
    "Books are lent for three weeks, magazines for one week and films for three days. "
    "A loan may be renewed twice, in person, by telephone or on the website, unless "
    "another member has reserved the item. Late returns cost ten cents a day for books "
    "and magazines and one dollar a day for films, up to the price of the item. "
    "Children under twelve pay no late fees. Lost items are charged at their price plus "
    "a processing fee of five dollars. Membership is free for residents of the county; "
    "others pay twenty dollars a year. To join, a visitor shows an identity card and a "
    "proof of address, such as a utility bill or a lease, dated within three months. "
    "The reading room on the first floor is quiet; group study rooms on the second floor "
    "can be booked for two hours at a time, up to a week in advance. The library has "
    "twelve public computers, free wireless access, a printer that prints ten pages a day "
    "free and ten cents a page after that, and a scanner. Story time for children is on "
    "Tuesday and Thursday mornings at ten thirty; the book club meets on the first "
    "Wednesday of each month at seven in the evening, and the chess club on Fridays at "
    "four. Answer questions about these rules politely and briefly, in plain words. If a "
    "question is about something these rules do not cover, say that you do not know and "
    "suggest calling the front desk during opening hours. Never invent a rule, a price or "
    "an opening time. Do not give legal, medical or financial advice. When a member asks "
    "about an overdue item, explain the fee and how to renew, without judging. When a "
    "member asks for a recommendation, ask what they enjoyed reading last and suggest "
    "two or three titles of the same kind that the library is likely to hold, saying "
    "that the catalogue on the website shows whether each one is on the shelf. Keep every "
    "answer under one hundred words unless the member asks for more detail. Always end "
    "an answer about fees by reminding the member that the front desk can waive a fee "
    "once a year for a good reason, such as an illness or a family emergency. "
    "The library also lends museum passes, telescopes and seeds for the community garden; "
    "each of these is lent for one week, cannot be renewed and must be reserved ahead."
)
WARM_QUESTION = "When does the library open on Saturdays?"
QUESTION = "How much is the late fee for a film?"

# About 180 tokens of text for the concurrency prompts (llama2's SentencePiece vocabulary).
STORY = (
    "Once upon a time, in a small village at the edge of a great forest, there lived a girl "
    "named Lily. Every morning she walked to the river with her little dog to fetch water for "
    "her mother. One day she saw a strange light between the trees, and she wondered where it "
    "came from. She put down her bucket and followed the light deeper into the forest, past the "
    "old oak tree and the mossy stones, until she reached a clearing full of flowers she had "
    "never seen before. In the middle stood a tiny house with a red door and a round window. "
    "Lily knocked on the door, and an old woman with kind eyes opened it and smiled at her. "
    "The woman said that she had been waiting for a visitor for a very long time, and she "
    "asked Lily to come in and have a cup of warm milk with honey."
)


def machine() -> str:
    """The CPU model and count (build_bench's line), the load, the harness's CPU share."""
    cpu = build_bench.machine()
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    share = f", the harness had {CPU_S[0] / CPU_S[1]:.0%} of one CPU" if CPU_S[1] else ""
    return f"{cpu}, load average {load} at the end{share}"


def ok_json(r: Response) -> dict:
    if r.status != 200:
        raise RuntimeError(f"HTTP {r.status}: {r.body[:300]!r}")
    return r.json()  # type: ignore[return-value]


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split(" ")[1])
    raise RuntimeError(f"{name} not in /metrics")


CPU_S = [0.0, 0.0]  # the harness processes' CPU seconds and wall seconds, all runs together


def serve(model: Path, env: dict[str, str], script: Script) -> Result:
    script.model, script.env, script.sanitize = model, env, False
    script.timeout_s = 3600
    cpu0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
    r = script.execute()
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU_S[0] += cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime
    CPU_S[1] += time.monotonic() - t0
    return r


# ---- time to first token, cached prefix against uncached ----

def chat(question: str, cache: bool) -> dict:
    return {"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}],
            "max_tokens": 1, "temperature": 0, "cache_prompt": cache}


def ttft(a: argparse.Namespace) -> None:
    env = {"CLLM_KV_BLOCKS": str(a.blocks)}
    cached, uncached, ratios = [], [], []
    n_prompt = n_cached = hit_tokens = 0
    for run in range(a.runs):
        order = [True, False] if run % 2 == 0 else [False, True]
        s = Script().open(1).send(1, request("POST", "/v1/chat/completions", chat(WARM_QUESTION, True))).run()
        for cid, cache in enumerate(order, start=2):
            s.open(cid).send(cid, request("POST", "/v1/chat/completions", chat(QUESTION, cache))).run()
        s.open(9).send(9, request("GET", "/metrics")).run()
        r = serve(a.model, env, s)
        got = {}
        for cid, cache in enumerate(order, start=2):
            body = ok_json(r.responses(cid)[0])
            t = body["timings"]
            got[cache] = t["prompt_ms"] + t["predicted_ms"]
            if cache:
                n_cached = t["prompt_n"]
            else:
                n_prompt = t["prompt_n"]
        hit_tokens = int(metric(r.responses(9)[0].body.decode(), "cllm_kv_prefix_hit_tokens_total"))
        cached.append(got[True])
        uncached.append(got[False])
        ratios.append(got[True] / got[False])
        print(f"run {run + 1}: cached {got[True]:.1f} ms, uncached {got[False]:.1f} ms", file=sys.stderr)
    mc, mu = statistics.median(cached), statistics.median(uncached)
    print(f"model {a.model.name}, pool {a.blocks} blocks of {BLOCK_LEN} (F32), {a.runs} runs; "
          f"machine: {machine()}\n")
    print("| measure | cached | uncached | cached ÷ uncached |")
    print("|---|---|---|---|")
    print(f"| prompt tokens | {n_cached} ({hit_tokens} from the prefix cache) | {n_prompt} | |")
    print(f"| time to first token, median (min..max) | {mc:.1f} ms ({min(cached):.1f}..{max(cached):.1f}) "
          f"| {mu:.1f} ms ({min(uncached):.1f}..{max(uncached):.1f}) | {mc / mu:.3f} "
          f"(per-run median {statistics.median(ratios):.3f}) |")


# ---- concurrent sequences in a fixed pool ----

def model_shape(model: Path) -> tuple[int, int, int]:
    """(context, layers, kv_dim) from the GGUF's metadata."""
    import gguf  # the `gguf` package of the dev environment

    r = gguf.GGUFReader(str(model))
    arch = bytes(r.fields["general.architecture"].parts[-1]).decode()

    def num(key: str) -> int:
        f = r.fields[f"{arch}.{key}"]
        return int(f.parts[f.data[0]][0])

    heads = num("attention.head_count")
    kv_heads = num("attention.head_count_kv") if f"{arch}.attention.head_count_kv" in r.fields else heads
    return num("context_length"), num("block_count"), num("embedding_length") // heads * kv_heads


def concurrency(a: argparse.Namespace) -> None:
    ctx, layers, kv_dim = model_shape(a.model)
    per_ctx = -(-ctx // BLOCK_LEN)
    blocks = a.contexts * per_ctx
    block_bytes = layers * 2 * BLOCK_LEN * kv_dim * 4
    s = Script()
    for i in range(a.requests):
        text = f"{i + 1}. {STORY}"  # a different first block each: no prefix sharing
        body = {"prompt": text, "max_tokens": a.gen, "temperature": 0, "ignore_eos": True}
        s.open(i + 1).send(i + 1, request("POST", "/v1/completions", body))
    mid = a.requests + 1
    s.open(mid)
    for _ in range(a.turns):
        s.poll(1).send(mid, request("GET", "/metrics"))
    s.run()
    r = serve(a.model, {"CLLM_KV_BLOCKS": str(blocks)}, s)
    lengths = []
    for i in range(a.requests):
        u = ok_json(r.responses(i + 1)[0])["usage"]
        lengths.append(u["prompt_tokens"] + u["completion_tokens"])
    samples = [resp.body.decode() for resp in parse_responses(r.out[mid], closed=False)]
    rows = [metric(t, "cllm_decode_batch_rows_total") for t in samples]
    passes = [metric(t, "cllm_decode_batches_total") for t in samples]
    used = [metric(t, 'cllm_kv_blocks{state="used"}') for t in samples]
    per_turn = [rows[k] - rows[k - 1] for k in range(1, len(rows)) if passes[k] - passes[k - 1] == 1]
    last = samples[-1]
    mean = rows[-1] / passes[-1] if passes[-1] else 0.0
    peak = max(per_turn, default=0)
    seq_blocks = -(-max(lengths) // BLOCK_LEN)
    fit = blocks // seq_blocks
    print(f"model {a.model.name}: context {ctx}, {layers} layers, kv_dim {kv_dim}; pool {blocks} blocks "
          f"of {BLOCK_LEN} positions, F32 ({blocks * block_bytes / 2**20:.1f} MiB = {a.contexts} "
          f"whole contexts); {a.requests} requests of {min(lengths)}..{max(lengths)} positions "
          f"({a.gen} generated); machine: {machine()}\n")
    print("| measure | value |")
    print("|---|---|")
    print(f"| contiguous design: sequences in the same bytes (computed: bytes ÷ ctx x layers x kv_dim "
          f"x 2 x 4) | {a.contexts} |")
    print(f"| paged: sequences whose blocks fit (computed: {blocks} ÷ {seq_blocks}) | {fit} |")
    print(f"| paged: peak sequences in one decode pass (measured) | {peak:.0f} |")
    print(f"| paged: mean sequences per batched decode pass (measured, {passes[-1]:.0f} passes) "
          f"| {mean:.1f} |")
    print(f"| decode passes with {fit} sequences or more (of {len(per_turn)}) | "
          f"{sum(1 for x in per_turn if x >= fit)} |")
    print(f"| peak KV blocks in use (of {blocks}) | {max(used):.0f} |")
    print(f"| preemptions | {metric(last, 'cllm_kv_preemptions_total'):.0f} |")
    print(f"| paged ÷ contiguous, peak (measured ÷ computed) | {peak / a.contexts:.2f} |")
    print(f"\n{len(samples)} /metrics samples, one per scheduler turn; "
          f"pool consistent at the end: {metric(last, 'cllm_kv_pool_consistent'):.0f}")


# ---- aggregate tokens/s, 1 against 64 clients ----

def throughput(a: argparse.Namespace) -> None:
    clients = [int(x) for x in a.clients.split(",")]
    rates: dict[int, list[float]] = {n: [] for n in clients}
    prompt_rate = []  # a ~180-token prompt per run: the rate of a batched pass over many rows
    for run in range(a.runs):  # one process per run: the harness keeps at most 128 connections
        s = Script()
        body = {"prompt": STORY, "max_tokens": 1, "temperature": 0}
        s.open(1).send(1, request("POST", "/v1/completions", body, CLOSE)).run()
        cid = 1
        plan = []  # (clients, first connection id)
        for n in clients if run % 2 == 0 else clients[::-1]:  # alternating order
            plan.append((n, cid + 1))
            s.stamp()
            for _ in range(n):
                cid += 1
                body = {"prompt": "Once upon a time", "max_tokens": a.tokens, "temperature": 0,
                        "ignore_eos": True}
                s.open(cid).send(cid, request("POST", "/v1/completions", body, CLOSE))
            s.run().stamp()
        r = serve(a.model, {"CLLM_KV_BLOCKS": str(a.blocks), "CLLM_KERNELS": a.kernels}, s)
        prompt_rate.append(ok_json(r.responses(1)[0])["timings"]["prompt_per_second"])
        for k, (n, first) in enumerate(plan):
            secs = (r.stamps[2 * k + 1] - r.stamps[2 * k]) / 1e6
            toks = sum(ok_json(r.responses(first + j)[0])["usage"]["completion_tokens"] for j in range(n))
            rates[n].append(toks / secs)
            print(f"{n} clients: {toks} tokens in {secs:.2f} s", file=sys.stderr)
    base = statistics.median(rates[clients[0]])
    print(f"model {a.model.name}, {a.kernels} kernels, {a.tokens} tokens per client, greedy, "
          f"pool {a.blocks} blocks (F32), "
          f"{a.runs} runs of each; machine: {machine()}\n")
    print(f"| clients | aggregate tokens/s, median (all rounds) | ÷ {clients[0]} client |")
    print("|---|---|---|")
    for n in clients:
        m = statistics.median(rates[n])
        print(f"| {n} | {m:.1f} ({', '.join(f'{x:.1f}' for x in rates[n])}) | {m / base:.2f} |")
    m = statistics.median(prompt_rate)
    print(f"| (prompt evaluation of ~180 tokens, batched: the rate of a pass over many rows) | "
          f"{m:.1f} ({', '.join(f'{x:.1f}' for x in prompt_rate)}) | {m / base:.2f} |")


# ---- the same serving shape: the kernel in QEMU against llama.cpp's server ----

def peer(a: argparse.Namespace) -> None:
    import subprocess

    import serve_bench as sb  # its client: streamed completions, rounds of N clients at once

    body = {"prompt": sb.PROMPT, "max_tokens": a.tokens, "temperature": 0, "stream": True}
    levels = [int(x) for x in a.clients.split(",")]
    log = open(os.devnull, "ab")  # noqa: SIM115
    servers: dict[str, dict[str, str]] = {}
    port = sb.free_port()
    cmd = [sys.executable, "-m", "cllm_build", "run", str(a.elf), "--model", str(a.model), "--port", str(port)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, stdout=log, stderr=log, start_new_session=True, env=env)
    try:
        sb.wait_ready(port, "/health", 900, proc)
        servers["cllm (QEMU TCG)"] = sb.measure("cllm", port, "/health", body, levels, a.rounds)
    finally:
        sb.stop(proc)
    port2 = sb.free_port()
    peer_cmd = [str(a.peer_python), "-m", "llama_cpp.server", "--model", str(a.model), "--port", str(port2),
                "--n_threads", "1", "--n_threads_batch", "1", "--n_ctx", "2048",
                "--interrupt_requests", "False"]
    proc = subprocess.Popen(peer_cmd, stdout=log, stderr=log, start_new_session=True)
    try:
        sb.wait_ready(port2, "/v1/models", 300, proc)
        servers["llama-cpp-python server (native, 1 thread)"] = sb.measure(
            "llama.cpp", port2, "/v1/models", body, levels, a.rounds)
    finally:
        sb.stop(proc)
    print(f"model {a.model.name}, prompt {sb.PROMPT!r}, {a.tokens} streamed greedy tokens per client; "
          f"machine: {machine()}\n")
    names = list(servers)
    print("| measure | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for key in servers[names[0]]:
        print(f"| {key} | " + " | ".join(servers[n].get(key, "-") for n in names) + " |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    p = sub.add_parser("ttft")
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--blocks", type=int, default=128)
    p = sub.add_parser("concurrency")
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--contexts", type=int, default=2)
    p.add_argument("--requests", type=int, default=12)
    p.add_argument("--gen", type=int, default=20)
    p.add_argument("--turns", type=int, default=400)
    p = sub.add_parser("throughput")
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--clients", default="1,8,64")
    p.add_argument("--tokens", type=int, default=16)
    p.add_argument("--runs", type=int, default=2)
    p.add_argument("--blocks", type=int, default=512)
    p.add_argument("--kernels", choices=["scalar", "sse2", "avx2"], default="sse2",
                   help="the engine's kernel set (CLLM_KERNELS of the harness)")
    p = sub.add_parser("peer")
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--elf", type=Path, required=True)
    p.add_argument("--peer-python", type=Path, required=True, help="a Python with llama-cpp-python[server]")
    p.add_argument("--clients", default="1,8")
    p.add_argument("--tokens", type=int, default=8)
    p.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    {"ttft": ttft, "concurrency": concurrency, "throughput": throughput, "peer": peer}[a.what](a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
