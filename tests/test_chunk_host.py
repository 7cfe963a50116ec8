"""Chunked prefill (kernel/llm/generate.c, sched.c) on the host, through the API over
the real engine (tests/host/http_llm_host.c; CLLM_PREFILL_CHUNK is cllm.prefill_chunk):
a long prompt that arrives while other streams generate is read a chunk per scheduler
turn, in the same forward pass as the others' decode steps, and every output is the
same whatever the chunk size (0: the whole prompt in one turn), for greedy and seeded
sampling. Every script ends with the harness's walk of the KV pool (no block held)."""

from __future__ import annotations

import pytest
from http_support import Script, request
from test_kv_pool_host import metric, texts

MODEL = "stories260K.gguf"
STREAMS = ("Lily", "The dog ran", "Tom and Sue")
LONG = " ".join(["the little dog ran to the park and saw a big red ball"] * 6)


def serve(model, sampling: dict, chunk: str | None, env: dict[str, str] | None = None,
          longs: tuple[str, ...] = (LONG,)) -> tuple[list[str], str]:
    """Three streams start; a few turns later the long prompts arrive; then /metrics."""
    s = Script(model=model, env={**({"CLLM_PREFILL_CHUNK": chunk} if chunk else {}),
                                 **(env or {})})
    for i, p in enumerate(STREAMS, start=1):
        s.open(i).send(i, request("POST", "/v1/completions",
                                  {"prompt": p, "max_tokens": 40, **sampling}))
    s.poll(4)
    n = len(STREAMS)
    for long in longs:
        n += 1
        s.open(n).send(n, request("POST", "/v1/completions",
                                  {"prompt": long, "max_tokens": 12, **sampling}))
    s.run().open(n + 1).send(n + 1, request("GET", "/metrics")).run()
    r = s.execute()
    out = texts([r.responses(i)[0] for i in range(1, n + 1)])
    return out, r.responses(n + 1)[0].body.decode()


@pytest.mark.parametrize("sampling", [{"temperature": 0}, {"temperature": 0.9, "seed": 11}],
                         ids=["greedy", "seeded"])
def test_output_is_the_same_for_every_chunk_size(models_dir, sampling):
    model = models_dir / MODEL
    whole, _ = serve(model, sampling, "0")
    for chunk in ("1", "7", "16", None):
        got, text = serve(model, sampling, chunk)
        assert got == whole, chunk
        # the long prompt's chunks ran in the same passes as the streams' decode steps
        assert metric(text, "cllm_prefill_mixed_batches_total") > 0, (chunk, text)
        assert metric(text, 'cllm_kv_blocks{state="used"}') == 0


def test_prompts_arriving_together_share_one_chunk_a_turn(models_dir):
    # Two long prompts at once: a turn runs at most one chunk of prompt rows, the older
    # prompt's first, so the younger one's chunks wait (deferred) while the streams go on;
    # every output is what the whole prompts in one turn give.
    model = models_dir / MODEL
    longs = (LONG, LONG.replace("dog", "cat"))
    whole, text = serve(model, {"temperature": 0}, "0", longs=longs)
    assert metric(text, "cllm_prefill_deferred_total") == 0, text
    got, text = serve(model, {"temperature": 0}, "16", longs=longs)
    assert got == whole
    assert metric(text, "cllm_prefill_deferred_total") > 0, text
    assert metric(text, 'cllm_kv_blocks{state="used"}') == 0


def test_chunks_and_preemption_together(models_dir):
    # 12 blocks of 16 positions cannot hold the long prompt beside the streams: it is
    # preempted, or waits, and is read again in 7-token chunks, with the same output.
    model = models_dir / MODEL
    roomy, _ = serve(model, {"temperature": 0}, "7")
    tight, text = serve(model, {"temperature": 0}, "7", env={"CLLM_KV_BLOCKS": "12"})
    assert tight == roomy
    assert metric(text, "cllm_kv_preemptions_total") > 0, text
    assert metric(text, "cllm_kv_pool_consistent") == 1


def test_cli_prefill_chunk_becomes_a_kernel_option(tmp_path):
    from test_run import _opts

    from cllm_build import run as runlib

    plan = runlib.make_plan(_opts(tmp_path, prompt="hi", prefill_chunk=0))
    try:
        assert plan.spec.cmdline.split() == ["cllm.prefill_chunk=0"]
    finally:
        plan.cleanup()
