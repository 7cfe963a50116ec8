"""n > 1 choices share the prompt's evaluation, and usage reports cached prompt tokens,
on the host through the API over the real engine (tests/host/http_llm_host.c, whose
CLLM_KV_* variables size the pool). The choices of one request equal the same number of
separate requests (seeds the request's plus the index), with or without prefix caching
and with preemption, while the prompt is evaluated once: the other choices fork its
blocks (cllm_kv_forked_tokens_total). Every script ends with the harness's walk of the
pool (no block held, free list whole: "after close"), and /metrics shows every block
free."""

from __future__ import annotations

from typing import Any

import pytest
from http_support import Script, request
from openai.types import Completion
from openai.types.chat import ChatCompletion

MODEL = "stories260K.gguf"
STEM = ("Once upon a time, there was a little girl named Lily. She loved to play outside in "
        "the park with her friends. One day, she saw a big red ball under a tree. ")
# Prompts as token ids, of a length that ends inside a block (37: two full blocks and a
# copied part) and of whole blocks only (32).
IDS_PART = [1] + [(37 * i + 11) % 400 + 3 for i in range(36)]
IDS_WHOLE = IDS_PART[:32]


@pytest.fixture(scope="module")
def model(models_dir):
    return models_dir / MODEL


def metric(text: str, name: str) -> int:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return int(line.split(" ")[1])
    raise AssertionError(f"{name} not in /metrics:\n{text}")


def serve(model, calls: list[tuple[str, dict]], env: dict[str, str] | None = None,
          one_by_one: bool = False) -> tuple[list[Any], str]:
    """The requests (path, body) together, or each after the one before finished; then
    /metrics. Their JSON answers and the metrics text."""
    s = Script(model=model, env=env)
    for i, (path, body) in enumerate(calls, start=1):
        s.open(i).send(i, request("POST", path, body))
        if one_by_one:
            s.run()
    mid = len(calls) + 1
    s.run().open(mid).send(mid, request("GET", "/metrics")).run()
    r = s.execute()
    out = []
    for i in range(1, mid):
        [resp] = r.responses(i)
        assert resp.status == 200, resp.body
        out.append(resp.json())
    text = r.responses(mid)[0].body.decode()
    assert metric(text, 'cllm_kv_blocks{state="used"}') == 0, text
    assert metric(text, "cllm_kv_pool_consistent") == 1, text
    return out, text


def choice_texts(body: dict) -> list[str]:
    return [c["text"] for c in sorted(body["choices"], key=lambda c: c["index"])]


SAMPLINGS = [{"temperature": 0}, {"temperature": 1, "seed": 11}]


@pytest.mark.parametrize("prompt,cache", [(IDS_PART, True), (IDS_WHOLE, False), (STEM, False)],
                         ids=["part-cache", "whole-nocache", "text-nocache"])
def test_choices_evaluate_the_prompt_once_with_the_same_output(model, prompt, cache):
    n = 3
    for sampling in SAMPLINGS:
        body = {"prompt": prompt, "max_tokens": 20, "cache_prompt": cache, **sampling}
        seed = sampling.get("seed", 0)
        singles, _ = serve(model, [("/v1/completions", {**body, "seed": seed + i})
                                   for i in range(n)])
        [many], text = serve(model, [("/v1/completions", {**body, "n": n})])
        assert choice_texts(many) == [choice_texts(s)[0] for s in singles]
        n_prompt = many["usage"]["prompt_tokens"]
        assert metric(text, "cllm_kv_forked_tokens_total") == (n - 1) * n_prompt, text
        assert metric(text, "cllm_kv_prefix_hits_total") == 0, text  # not from the cache
        assert many["usage"]["prompt_tokens_details"]["cached_tokens"] == 0
    assert len(set(choice_texts(many))) > 1  # seeded choices differ


@pytest.mark.parametrize("sampling", SAMPLINGS, ids=["greedy", "seeded"])
def test_choices_under_preemption_give_the_same_output(model, sampling):
    # 6 blocks of 16 positions: the choices of 37 + 40 positions cannot all run at once.
    calls = [("/v1/completions", {"prompt": IDS_PART, "max_tokens": 40, "n": 4, **sampling}),
             ("/v1/completions", {"prompt": STEM, "max_tokens": 30, "n": 2, **sampling})]
    roomy, _ = serve(model, calls)
    tight, text = serve(model, calls, env={"CLLM_KV_BLOCKS": "6"})
    assert [choice_texts(b) for b in tight] == [choice_texts(b) for b in roomy]
    assert metric(text, "cllm_kv_preemptions_total") > 0, text
    assert metric(text, 'cllm_kv_blocks{state="free"}') == 6


def test_cached_tokens_in_usage(model):
    """A first request reports no cached tokens; the same prompt again reports its full
    blocks but the last token's (which is always run), on all three endpoints, as the
    openai client reads usage."""
    chat = {"messages": [{"role": "user", "content": STEM}], "max_tokens": 4, "temperature": 0}
    text = {"prompt": STEM, "max_tokens": 4, "temperature": 0}
    calls = [("/v1/chat/completions", chat), ("/v1/chat/completions", {**chat, "n": 2}),
             ("/v1/completions", text), ("/v1/completions", text), ("/completion", text)]
    out, metrics = serve(model, calls, one_by_one=True)
    first, again = ChatCompletion.model_validate(out[0]), ChatCompletion.model_validate(out[1])
    assert first.usage and first.usage.prompt_tokens_details
    assert again.usage and again.usage.prompt_tokens_details
    n_chat = first.usage.prompt_tokens
    assert first.usage.prompt_tokens_details.cached_tokens == 0
    assert again.usage.prompt_tokens_details.cached_tokens == 16 * ((n_chat - 1) // 16) > 0
    c1, c2 = Completion.model_validate(out[2]), Completion.model_validate(out[3])
    assert c1.usage and c1.usage.prompt_tokens_details and c2.usage and c2.usage.prompt_tokens_details
    n_text = c1.usage.prompt_tokens
    assert c1.usage.prompt_tokens_details.cached_tokens == 0
    assert c2.usage.prompt_tokens_details.cached_tokens == 16 * ((n_text - 1) // 16) > 0
    assert c2.choices[0].text == c1.choices[0].text
    native = out[4]
    assert native["tokens_cached"] == native["timings"]["cache_n"] == 16 * ((n_text - 1) // 16)
    assert metric(metrics, "cllm_kv_forked_tokens_total") == n_chat  # the second choice's


@pytest.mark.parametrize("blocks,ahead", [(5, 1), (4, 4)], ids=["late-take", "give-up"])
def test_choices_behind_a_request_in_a_full_pool(model, blocks, ahead):
    """A request ahead holds most of the pool: a choice finds no block for its copy when
    the prompt is ready, and takes it a turn later while the first choice's token
    awaits its pass (late-take), or finds the first choice gone past its prompt and
    evaluates the prompt itself (give-up); the prompt also starts with a cached block of
    the request ahead. The answers equal those of a pool with room for all."""
    def run(env: dict[str, str] | None) -> tuple[str, list[str]]:
        s = Script(model=model, env=env)
        s.open(1).send(1, request("POST", "/v1/completions",
                                  {"prompt": IDS_PART, "max_tokens": ahead, "temperature": 0}))
        s.poll(1).open(2).send(2, request("POST", "/v1/completions",
                                          {"prompt": IDS_PART[:20], "max_tokens": 30, "n": 3,
                                           "temperature": 1, "seed": 4}))
        r = s.run().execute()
        first, many = r.responses(1)[0], r.responses(2)[0]
        assert first.status == many.status == 200, (first.body, many.body)
        return first.json()["choices"][0]["text"], choice_texts(many.json())

    assert run({"CLLM_KV_BLOCKS": str(blocks)}) == run(None)
