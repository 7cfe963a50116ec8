"""The API over the real engine on the host: kernel/http with api_llm.c and kernel/llm
under ASan/UBSan, driven through the fake transport (tests/host/http_llm_host.c loads
the model). Greedy answers equal the generation loop's own harness (tok_gen), requests
running together equal the same requests run alone, and tokenize/detokenize, chat
and stop strings work with the real tokenizer."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from hostcc import host_binary
from http_support import Script, request
from llm_harness import LLM_SOURCES
from test_console_host import TOK_SOURCES, gen

MODEL = "stories260K.gguf"


@pytest.fixture(scope="module")
def model(models_dir):
    return models_dir / MODEL


def complete(model, bodies: list[dict], path: str = "/v1/completions") -> list[Any]:
    """All requests at once, each on its own connection."""
    return post_all(model, [(path, b) for b in bodies])


def post_all(model, bodies: list[tuple[str, dict]]) -> list[Any]:
    """All requests (path, body) at once, each on its own connection; their JSON answers."""
    s = Script(model=model)
    for i, (path, b) in enumerate(bodies, start=1):
        s.open(i).send(i, request("POST", path, b))
    r = s.run().execute()
    out = []
    for i in range(1, len(bodies) + 1):
        [resp] = r.responses(i)
        assert resp.status == 200, resp.body
        out.append(resp.json())
    return out


def test_greedy_completion_equals_the_generation_loop(model):
    exe = host_binary("tok_gen", LLM_SOURCES + TOK_SOURCES + ["tests/host/tok_gen.c"])
    prompt, n = "Once upon a time", 48
    ref = gen(exe, model, prompt, "--n", n, "--temp", 0)
    [body] = complete(model, [{"prompt": prompt, "max_tokens": n, "temperature": 0}])
    assert body["choices"][0]["text"].encode() == ref.text
    assert body["usage"]["prompt_tokens"] == len(ref.prompt_ids)
    assert body["usage"]["completion_tokens"] == ref.n_gen


def test_concurrent_requests_equal_requests_alone(model):
    bodies = [{"prompt": p, "max_tokens": 24, "temperature": 0}
              for p in ("Lily", "The dog ran", "Once upon a time there was", "Tom and Sue")]
    alone = [complete(model, [b])[0]["choices"][0]["text"] for b in bodies]
    together = [x["choices"][0]["text"] for x in complete(model, bodies)]
    assert together == alone
    assert len(set(alone)) == len(alone)


def test_streaming_equals_whole(model):
    body = {"prompt": "The cat", "max_tokens": 20, "temperature": 0}
    [whole] = complete(model, [body])
    s = Script(model=model).open(1).send(1, request("POST", "/v1/completions", {**body, "stream": True}))
    [resp] = s.run().execute().responses(1)
    events = resp.sse_events()
    assert events[-1] == "[DONE]"
    text = "".join(json.loads(e)["choices"][0]["text"] for e in events[:-1])
    assert text == whole["choices"][0]["text"]


def test_stop_string_cuts_the_answer(model):
    [whole] = complete(model, [{"prompt": "Once upon a time", "max_tokens": 40, "temperature": 0}])
    text = whole["choices"][0]["text"]
    word = text.split()[3]
    [cut] = complete(model, [{"prompt": "Once upon a time", "max_tokens": 40, "temperature": 0,
                              "stop": [word]}])
    assert cut["choices"][0]["text"] == text[: text.index(word)]
    assert cut["choices"][0]["finish_reason"] == "stop"


def test_tokenize_detokenize_and_chat(model):
    s = Script(model=model).open(1)
    s.send(1, request("POST", "/tokenize", {"content": "Hello world", "add_special": True}))
    s.send(1, request("POST", "/tokenize", {"content": "Hello world"}))
    s.send(1, request("POST", "/v1/chat/completions",
                      {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8}))
    r = s.run().execute()
    with_bos, plain, chat = r.responses(1)
    assert with_bos.json()["tokens"] == [1] + plain.json()["tokens"]
    back = Script(model=model).open(1).send(1, request("POST", "/detokenize", {"tokens": with_bos.json()["tokens"]}))
    [text] = back.run().execute().responses(1)
    assert text.json() == {"content": "Hello world"}
    body = chat.json()
    assert body["choices"][0]["message"]["role"] == "assistant"
    assert body["usage"]["completion_tokens"] == 8


def test_requests_running_together_share_decode_passes(model):
    # The scheduler (kernel/llm/sched.c) runs the tokens sampled in one turn as one
    # batched pass; /metrics counts those passes from the source the harness registers.
    s = Script(model=model)
    for i, p in enumerate(("Lily", "The dog ran", "Tom and Sue"), start=1):
        s.open(i).send(i, request("POST", "/v1/completions",
                                  {"prompt": p, "max_tokens": 8, "temperature": 0}))
    s.run().open(9).send(9, request("GET", "/metrics")).run()
    text = s.execute().responses(9)[0].body.decode()
    values = dict(line.split(" ") for line in text.splitlines()
                  if line.startswith("cllm_decode_batch"))
    batches = int(values["cllm_decode_batches_total"])
    rows = int(values["cllm_decode_batch_rows_total"])
    assert batches > 0 and 2 * batches <= rows <= 3 * batches, text


def test_models_say_when_the_model_is_the_bundled_demonstration(model):
    default = Path(__file__).resolve().parent.parent / "models" / "default.gguf"
    for path, demo in ((default, True), (model, False)):
        s = Script(model=path).open(1).send(1, request("GET", "/v1/models"))
        [resp] = s.run().execute().responses(1)
        [entry] = resp.json()["data"]
        assert entry.get("demo", False) is demo, entry
        if demo:
            assert entry["id"] == "cllm-default"
            assert "not an assistant" in entry["description"]
        else:
            assert "description" not in entry


def test_client_gone_mid_generation_leaves_the_scheduler(model):
    # Resets while both generations run: each leaves the scheduler's table before its
    # request is freed (ASan would catch a step of a freed one); the rest go on.
    s = Script(model=model).open(1).open(2).open(3)
    for i, stream in ((1, True), (2, False), (3, False)):
        s.send(i, request("POST", "/v1/completions",
                          {"prompt": "Once", "max_tokens": 30, "temperature": 0, "stream": stream}))
    s.poll(6).cmd("reset", 1).poll(3).cmd("reset", 2).run()
    r = s.execute()
    assert r.conns == 1 and r.tasks == 0 and r.responses(3)[0].status == 200


def test_several_choices_equal_single_requests_with_successive_seeds(model):
    body = {"prompt": "Once upon a time", "max_tokens": 16, "temperature": 1, "seed": 5}
    [many] = complete(model, [{**body, "n": 3}])
    singles = complete(model, [{**body, "seed": 5 + i} for i in range(3)])
    assert [c["index"] for c in many["choices"]] == [0, 1, 2]
    assert [c["text"] for c in many["choices"]] == [s["choices"][0]["text"] for s in singles]
    assert len({c["text"] for c in many["choices"]}) > 1
    assert many["usage"]["prompt_tokens"] == singles[0]["usage"]["prompt_tokens"]
    assert many["usage"]["completion_tokens"] == sum(s["usage"]["completion_tokens"]
                                                     for s in singles)


def test_several_choices_stream_with_their_index(model):
    body = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 12,
            "temperature": 1, "seed": 9, "n": 3, "logprobs": True}
    [whole] = complete(model, [body], path="/v1/chat/completions")
    s = Script(model=model).open(1).send(1, request("POST", "/v1/chat/completions",
                                                   {**body, "stream": True}))
    [resp] = s.run().execute().responses(1)
    events = resp.sse_events()
    assert events[-1] == "[DONE]"
    text: dict[int, str] = {0: "", 1: "", 2: ""}
    finish: dict[int, str] = {}
    for e in events[:-1]:
        [c] = json.loads(e)["choices"]
        text[c["index"]] += c["delta"].get("content") or ""
        if c["finish_reason"]:
            finish[c["index"]] = c["finish_reason"]
    assert [text[i] for i in range(3)] == [c["message"]["content"] for c in whole["choices"]]
    assert sorted(finish) == [0, 1, 2]
    for c in whole["choices"]:
        assert "".join(x["token"] for x in c["logprobs"]["content"]) == c["message"]["content"]


PHASES = ("queue", "prompt", "decode", "sampling", "network")


def check_phases(timings: dict, wall_s: float) -> None:
    """Every phase present in cycles and ms, none negative, all together within wall_s."""
    hz = timings["cycles_per_second"]
    cycles = timings["cycles"]
    assert hz > 0 and set(cycles) == set(PHASES), timings
    assert all(isinstance(cycles[p], int) and cycles[p] >= 0 for p in PHASES), timings
    for p in ("queue", "decode", "sampling", "network"):
        assert timings[f"{p}_ms"] == pytest.approx(cycles[p] * 1000 / hz, abs=1e-3), (p, timings)
    assert cycles["prompt"] > 0 and cycles["decode"] > 0 and cycles["sampling"] > 0, timings
    assert sum(cycles.values()) / hz <= wall_s, (timings, wall_s)


def test_timings_split_the_request_by_phase(model):
    # One answer whole and one streamed (its earlier events count as network time), then
    # /metrics; the harness's whole run bounds each request's wall time from above.
    body = {"prompt": "Once upon a time", "max_tokens": 12, "temperature": 0}
    s = Script(model=model).open(1).send(1, request("POST", "/completion", body))
    s.open(2).send(2, request("POST", "/v1/completions", {**body, "stream": True}))
    s.run().open(3).send(3, request("GET", "/metrics")).run()
    t0 = time.monotonic()
    r = s.execute()
    wall = time.monotonic() - t0
    [whole] = r.responses(1)
    check_phases(whole.json()["timings"], wall)
    [stream] = r.responses(2)
    last = json.loads(stream.sse_events()[-2])
    check_phases(last["timings"], wall)
    assert last["timings"]["cycles"]["network"] > 0  # the events before the last one
    text = r.responses(3)[0].body.decode()
    metric = dict(line.rsplit(" ", 1) for line in text.splitlines()
                  if line.startswith(("cllm_phase_", "cllm_cycles_")))
    hz = int(metric["cllm_cycles_per_second"])
    for p in PHASES:
        cyc = int(metric[f'cllm_phase_cycles_total{{phase="{p}"}}'])
        sec = float(metric[f'cllm_phase_seconds_total{{phase="{p}"}}'])
        assert cyc >= 0 and sec == pytest.approx(cyc / hz, rel=1e-3, abs=1e-6), (p, text)
    assert int(metric['cllm_phase_cycles_total{phase="decode"}']) > 0, text
