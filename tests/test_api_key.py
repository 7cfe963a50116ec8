"""A long API key is kept whole or refused, never cut short (kernel/http/api.c).

The API holds keys of up to 255 bytes. A 200-byte key must be matched in full (its
first 127 bytes, where an older 128-byte buffer cut it, are refused); a key longer
than the limit is refused at boot with a line naming the problem, and the API then
answers every request with 503 instead of serving without a key. Host harness first,
then the same in QEMU through the kernel command line."""

from __future__ import annotations

import json
import string

import pytest
from http_support import exchange, request
from test_api_qemu import Guest, _boot

API_KEY_MAX = 255
KEY_200 = ((string.ascii_letters + string.digits) * 4)[:200]  # no spaces
KEY_300 = KEY_200 + KEY_200[:100]


def _models(key: str, given: str | None):
    headers = {"Authorization": f"Bearer {given}"} if given is not None else None
    [resp] = exchange(request("GET", "/v1/models", headers=headers), prelude=[f"key {key}"])
    return resp


def test_host_a_200_byte_key_is_matched_in_full():
    assert len(KEY_200) == 200
    assert _models(KEY_200, KEY_200).status == 200
    assert _models(KEY_200, KEY_200[:127]).status == 401
    assert _models(KEY_200, KEY_200[:-1]).status == 401
    assert _models(KEY_200, KEY_200 + "x").status == 401


@pytest.mark.parametrize("n", [API_KEY_MAX, API_KEY_MAX + 1])
def test_host_the_limit_is_exact(n):
    key = (KEY_300 * 2)[:n]
    resp = _models(key, key)
    assert resp.status == (200 if n <= API_KEY_MAX else 503), resp.body


def test_host_a_key_too_long_closes_the_api():
    prelude = [f"key {KEY_300}"]
    resps = exchange(request("GET", "/health"),
                     request("GET", "/v1/models", headers={"Authorization": f"Bearer {KEY_300}"}),
                     request("POST", "/v1/completions", {"prompt": "x"}),
                     request("GET", "/v1/models",
                             headers={"Authorization": f"Bearer {KEY_300[:API_KEY_MAX]}"}),
                     prelude=prelude)
    for resp in resps:
        assert resp.status == 503, resp.body
        assert "longer than 255 bytes" in resp.json()["error"]["message"]
    # A key that fits, configured afterwards, opens it again.
    resps = exchange(request("GET", "/v1/models", headers={"Authorization": "Bearer ok"}),
                     prelude=[*prelude, "key ok"])
    assert resps[0].status == 200


@pytest.mark.qemu
def test_qemu_a_200_byte_key_is_matched_in_full(kernel_elf, models_dir):
    vm, port = _boot(kernel_elf, models_dir, cmdline=f"cllm.api_key={KEY_200}")
    try:
        g = Guest(vm, port)
        assert g.call("GET", "/health")[0] == 200
        auth = {"Authorization": f"Bearer {KEY_200}"}
        assert g.call("GET", "/v1/models", headers=auth)[0] == 200
        assert g.call("GET", "/v1/models", headers={"Authorization": f"Bearer {KEY_200[:127]}"})[0] == 401
        assert g.call("GET", "/v1/models", headers={"X-Api-Key": KEY_200[:-1]})[0] == 401
    finally:
        vm.close()


@pytest.mark.qemu
def test_qemu_a_key_too_long_is_refused_at_boot(kernel_elf, models_dir):
    vm, port = _boot(kernel_elf, models_dir, cmdline=f"cllm.api_key={KEY_300}")
    try:
        want = (f"cllm: api: error: cllm.api_key is 300 bytes, longer than the {API_KEY_MAX} "
                "accepted: every request is refused (503) until it is shortened")
        assert want in vm.lines, vm.log_text()
        g = Guest(vm, port)
        for method, path, headers in [
                ("GET", "/health", {}),
                ("GET", "/v1/models", {"Authorization": f"Bearer {KEY_300}"}),
                ("GET", "/v1/models", {"Authorization": f"Bearer {KEY_300[:API_KEY_MAX]}"}),
                ("POST", "/v1/completions", {})]:
            status, body = g.call(method, path, {"prompt": "x"} if method == "POST" else None, headers)
            assert status == 503, (path, body)
            assert "cllm.api_key" in json.loads(body)["error"]["message"]
    finally:
        vm.close()
