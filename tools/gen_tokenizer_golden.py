"""Golden token ids from llama.cpp for the real models' tokenizers, for
tests/test_tokenizer.py: a broad set of strings tokenized by llama.cpp (through
llama-cpp-python, the `peer` extra) with the model's vocabulary only, plain and with
special-token parsing of chat-formatted text. The llama-cpp-python version and the
model file's sha256 are recorded in the file.

    python tools/gen_tokenizer_golden.py NAME GGUF
    e.g. python tools/gen_tokenizer_golden.py smollm2-135m-instruct \
             "$(cllm pull smollm2-135m-instruct)"

writes tests/golden/tokens-NAME.json. Runs with any Python that has llama_cpp (the
toolchain itself is not needed).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

STRINGS = [
    "", " ", "  ", "   ", "\t", "\n", "\n\n", " \n \n", "\r\n", "Hello world", " Hello world",
    "Hello world ", "  leading and trailing  ", "Hello\tworld\ttabs", "line one\nline two\n",
    "multiple     spaces   here", "ASCII punctuation: !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
    "numbers 1234567890 3.14159 -42 1,000,000 007", "héllo wörld çà", "Ελληνικά κείμενο",
    "Русский текст", "日本語のテキスト", "中文分词测试", "한국어 텍스트", "emoji 😀🎉👍🏽 🇫🇷",
    "mixed: a😀b中c\u00e9d", "Once upon a time, there was a little girl named Lily.",
    "I'm sure you're right, they've said we'll go; it's John's and I'd",
    "DON'T SHOUT, I'M HERE. WE'LL SEE, THEY'RE OK", "def f(x):\n    return x * 2  # comment\n",
    "for (int i = 0; i < n; i++) {\n\tsum += a[i];\n}", "email@example.com https://example.org/a?b=c",
    "\u00a0nbsp\u3000ideographic", "Ünïcödé ÀÉÎÕÜ ß ﬁ", "שלום עולם", "مرحبا بالعالم", "हिन्दी पाठ",
    "x" * 300, "Tab\t\tand  \n\n\tmix ", "<s> and </s> are text here", "<|endoftext|> as text",
    "What is the capital of France?", "The quick brown fox jumps over the lazy dog.",
]
CHATS = [
    ("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
     "<|im_end|>\n<|im_start|>user\nWhat's 12+30?<|im_end|>\n<|im_start|>assistant\n"),
    "<|im_start|>user\nWrite a haiku about the sea.<|im_end|>\n<|im_start|>assistant\n",
    "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n",
    "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
]


def main(argv: list[str]) -> None:
    import llama_cpp

    if len(argv) != 2:
        sys.exit(__doc__)
    name, path = argv[0], Path(argv[1])
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    llm = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
    cases = []
    for text in STRINGS:
        for add_special in (False, True):
            ids = llm.tokenize(text.encode(), add_bos=add_special, special=False)
            cases.append({"text": text, "add_special": add_special, "parse_special": False,
                          "ids": ids})
    for text in CHATS:
        for parse_special in (False, True):
            ids = llm.tokenize(text.encode(), add_bos=True, special=parse_special)
            cases.append({"text": text, "add_special": True, "parse_special": parse_special,
                          "ids": ids})
    out = ROOT / "tests" / "golden" / f"tokens-{name}.json"
    out.write_text(json.dumps({"model": name, "sha256": sha,
                               "llama_cpp_python": llama_cpp.__version__, "cases": cases},
                              ensure_ascii=False, separators=(",", ":")) + "\n",
                   encoding="utf-8")
    print(f"{out}: {len(cases)} cases")


if __name__ == "__main__":
    main(sys.argv[1:])
