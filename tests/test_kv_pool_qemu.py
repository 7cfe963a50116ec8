"""The paged KV pool in the kernel (QEMU): a pool of a few blocks (cllm.kv_kib) forces
the scheduler to preempt sequences, and every answer is still the one the same request
gets alone; the boot log and /metrics describe the pool, and show every block free when
idle; a prompt longer than the whole pool gets a clear 503 while others are served."""

from __future__ import annotations

import json
import re

import pytest
from test_api_qemu import Guest, _boot

pytestmark = pytest.mark.qemu

PROMPTS = ("Lily", "The dog ran", "Once upon a time there was", "Tom and Sue")
N = 40


@pytest.fixture(scope="module")
def tight(kernel_elf, models_dir):
    # stories260K: 5 layers of 4 KV heads of 8, so a block of 16 positions in F16 is
    # 10 KiB: 80 KiB holds 8 blocks, 128 positions; each request below needs 3 blocks.
    # Prompts are read 3 tokens a turn (cllm.prefill_chunk), beside the others' decode
    # steps, so the answers below are also the same with chunked prefill.
    vm, port = _boot(kernel_elf, models_dir, cmdline="cllm.kv_kib=80 cllm.prefill_chunk=3")
    try:
        yield Guest(vm, port)
    finally:
        vm.close()


def metric(text: str, name: str) -> int:
    m = re.search(r"^" + re.escape(name) + r" (\d+)$", text, re.MULTILINE)
    assert m, text
    return int(m.group(1))


def test_boot_log_describes_the_pool(tight):
    log = tight.vm.log_text()
    assert "cllm: cmdline: 2 options, 0 rejected, 0 unknown" in log, log
    m = re.search(r"cllm: kv: pool (\d+) blocks of 16 positions, F16, (\d+) KiB "
                  r"\(10 KiB a block\), "
                  r"0 used (\d+) free; context (\d+)", log)
    assert m, log
    assert int(m.group(1)) == 8 == int(m.group(3)) and int(m.group(2)) == 80
    assert int(m.group(4)) == 128


def test_preempted_sequences_answer_as_alone(tight):
    alone = {p: tight.completion(p, N) for p in PROMPTS}
    # Each connection is opened and proven open first (QEMU's user networking resets a
    # burst of connects); then every request is sent before any answer is read, so the
    # four generations run at the same time.
    conns = []
    for _ in PROMPTS:
        c = tight.conn()
        c.request("GET", "/health")
        r = c.getresponse()
        assert r.status == 200 and r.read()
        conns.append(c)
    for c, p in zip(conns, PROMPTS):
        c.request("POST", "/v1/completions",
                  body=json.dumps({"prompt": p, "max_tokens": N, "temperature": 0}))
    got = {}
    for c, p in zip(conns, PROMPTS):
        got[p] = json.loads(c.getresponse().read())["choices"][0]["text"]
        c.close()
    assert got == alone
    status, body = tight.call("GET", "/metrics")
    text = body.decode()
    assert status == 200
    assert metric(text, "cllm_kv_preemptions_total") > 0, text
    assert metric(text, 'cllm_kv_blocks{state="used"}') == 0
    assert metric(text, 'cllm_kv_blocks{state="free"}') == 8
    assert metric(text, "cllm_kv_pool_consistent") == 1


def test_prompt_longer_than_the_pool_is_503_and_the_server_goes_on(tight):
    status, body = tight.call("POST", "/v1/completions",
                              {"prompt": " ".join(["the little dog ran to the park"] * 30),
                               "max_tokens": 4})
    assert status == 503, body
    assert b"do not fit in the KV pool of 128 positions" in body
    assert tight.completion("Lily", 8) == tight.completion("Lily", 8)


def test_prefix_cache_reuses_a_prompt_and_answers_the_same(tight):
    prompt = ("Once upon a time, there was a little girl named Lily. She loved to play "
              "outside in the park with her friends.")
    before = metric(tight.call("GET", "/metrics")[1].decode(), "cllm_kv_prefix_hits_total")
    first = tight.completion(prompt, 16)
    again = tight.completion(prompt, 16)
    text = tight.call("GET", "/metrics")[1].decode()
    assert again == first
    assert metric(text, "cllm_kv_prefix_hits_total") >= before + 2, text
    assert metric(text, 'cllm_kv_blocks{state="used"}') == 0
    assert metric(text, "cllm_kv_pool_consistent") == 1
