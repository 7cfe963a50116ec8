"""Chat templates (kernel/llm/chat.c) through tests/host/tok_chat.c: detection from
tokenizer.chat_template markers with chatml as the fallback, each template's exact text,
and snprintf-style truncation."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hostcc import host_binary

MSGS = [("system", "You are terse."), ("user", "Hi there"), ("assistant", "Hello."),
        ("user", "  Tell me a story.  ")]

EXPECTED = {
    "chatml": "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n"
              "<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\n  Tell me a story.  "
              "<|im_end|>\n<|im_start|>assistant\n",
    "llama2": "[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\nHi there [/INST]Hello.</s>"
              "<s>[INST]   Tell me a story.   [/INST]",
    "zephyr": "<|system|>\nYou are terse.</s>\n<|user|>\nHi there</s>\n<|assistant|>\nHello.</s>\n"
              "<|user|>\n  Tell me a story.  </s>\n<|assistant|>\n",
    "llama3": "<|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>"
              "<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>"
              "<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>"
              "<|start_header_id|>user<|end_header_id|>\n\nTell me a story.<|eot_id|>"
              "<|start_header_id|>assistant<|end_header_id|>\n\n",
}


@pytest.fixture(scope="module")
def exe() -> Path:
    return host_binary("tok_chat", ["kernel/llm/chat.c", "tests/host/tok_chat.c"])


def apply(exe: Path, name: str, msgs, add: bool = True, cap: int = 4096) -> tuple[int, str]:
    args = [str(exe), "apply", name, "1" if add else "0", str(cap)]
    for role, content in msgs:
        args += [role, content]
    proc = subprocess.run(args, capture_output=True, text=True, check=False, timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    n, _, text = proc.stdout.partition("\n")
    return int(n), text


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_template_exact_output(exe, name):
    n, text = apply(exe, name, MSGS)
    assert text == EXPECTED[name]
    assert n == len(text.encode())


def test_without_assistant_header(exe):
    _, text = apply(exe, "chatml", MSGS[:2], add=False)
    assert text.endswith("Hi there<|im_end|>\n")
    _, text = apply(exe, "llama3", MSGS[:2], add=False)
    assert text.endswith("Hi there<|eot_id|>")


def test_truncation_reports_full_length(exe):
    n, text = apply(exe, "chatml", MSGS, cap=20)
    assert n == len(EXPECTED["chatml"])
    assert text == EXPECTED["chatml"][:19]


JINJA = {
    "chatml": "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
              "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}",
    "llama3": "{% set loop_messages = messages %}{% for message in loop_messages %}"
              "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
              " + message['content'] | trim + '<|eot_id|>' %}{{ content }}{% endfor %}",
    "llama2": "{% if messages[0]['role'] == 'system' %}{{ bos_token + '[INST] <<SYS>>\\n' }}"
              "{% endif %}{{ '[INST] ' + message['content'] + ' [/INST]' }}",
    "zephyr": "{% for message in messages %}{% if message['role'] == 'user' %}"
              "{{ '<|user|>\\n' + message['content'] + eos_token }}{% endif %}{% endfor %}",
    "unknown": "{{ messages }} something else entirely",
}


@pytest.mark.parametrize("kind", sorted(JINJA))
def test_detect(exe, kind):
    proc = subprocess.run([str(exe), "detect"], input=JINJA[kind], capture_output=True,
                          text=True, check=False, timeout=30)
    assert proc.stdout.strip() == ("chatml" if kind == "unknown" else kind)


def test_detect_without_template_falls_back_to_chatml(exe):
    proc = subprocess.run([str(exe), "detect"], input="", capture_output=True, text=True,
                          check=False, timeout=30)
    assert proc.stdout.strip() == "chatml"
