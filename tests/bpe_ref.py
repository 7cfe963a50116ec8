"""A reference byte-level BPE for the tests of kernel/llm/tokenizer_bpe.c: llama.cpp's
pre-tokenizer regular expressions run by Python's `re` (\\p{L}, \\p{N}, \\p{P} become
character classes built from unicodedata, \\s llama.cpp's whitespace set), the GPT-2
byte stand-ins, and merging one pair at a time, the lowest rank and then the leftmost
first. An independent check of the kernel's hand-written matchers and merge loop."""

from __future__ import annotations

import re
import sys
import unicodedata
from functools import cache

WS = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


@cache
def _ranges(major: str) -> str:
    out, start, prev = [], None, None
    for cp in range(sys.maxunicode + 1):
        if unicodedata.category(chr(cp))[0] == major:
            if start is None:
                start = cp
            prev = cp
        elif start is not None:
            out.append(re.escape(chr(start)) + ("-" + re.escape(chr(prev)) if prev != start else ""))
            start = None
    return "".join(out)


def _expand(rx: str) -> str:
    """\\p{X} inside or outside a class, and \\s / \\S, as `re` classes."""
    L, N, P = _ranges("L"), _ranges("N"), _ranges("P")
    rx = rx.replace("[^\\s\\p{L}\\p{N}]", f"[^{WS}{L}{N}]")
    rx = rx.replace("[^\\r\\n\\p{L}\\p{N}]", f"[^\\r\\n{L}{N}]")
    rx = rx.replace("[\\p{P}", f"[{P}")
    rx = rx.replace("\\p{L}", f"[{L}]").replace("\\p{N}", f"[{N}]")
    rx = rx.replace("(?!\\S)", f"(?![^{WS}])").replace("\\s", f"[{WS}]")
    return rx


GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"
LLAMA3 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
          r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
PRE = {  # tokenizer.ggml.pre -> (regexes applied in turn, ignore_merges)
    "gpt-2": ([GPT2], False),
    "smollm": ([r"\p{N}", GPT2], False),
    "llama-bpe": ([LLAMA3], True),
    "qwen2": ([LLAMA3.replace(r"\p{N}{1,3}", r"\p{N}")], False),
    "default": ([r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", r"[0-9][0-9][0-9]"], False),
}


def split(text: str, pre: str) -> list[str]:
    words = [text] if text else []
    for rx in PRE[pre][0]:
        pat = re.compile(_expand(rx))
        nxt = []
        for w in words:
            pos = 0
            for m in pat.finditer(w):
                if m.start() > pos:
                    nxt.append(w[pos:m.start()])
                if m.end() > m.start():
                    nxt.append(m.group())
                pos = m.end()
            if pos < len(w):
                nxt.append(w[pos:])
        words = nxt
    return words


def _stand_ins() -> dict[int, str]:
    printable = [*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    others = [b for b in range(256) if b not in printable]
    table = {b: chr(b) for b in printable}
    table.update({b: chr(0x100 + i) for i, b in enumerate(others)})
    return table


STAND_IN = _stand_ins()


class Bpe:
    def __init__(self, tokens: list[str], merges: list[str], pre: str) -> None:
        self.ids = {}
        for i, t in enumerate(tokens):
            self.ids.setdefault(t, i)
        self.ranks = {}
        for i, m in enumerate(merges):
            sep = m.index(" ", 1)  # the first space after the first character
            self.ranks.setdefault((m[:sep], m[sep + 1:]), i)
        self.pre = pre

    def encode(self, text: str) -> list[int]:
        out = []
        for word in split(text, self.pre):
            mapped = "".join(STAND_IN[b] for b in word.encode())
            if PRE[self.pre][1] and mapped in self.ids:
                out.append(self.ids[mapped])
                continue
            syms = list(mapped)
            while len(syms) > 1:
                best = min(range(len(syms) - 1),
                           key=lambda i: (self.ranks.get((syms[i], syms[i + 1]), 1 << 30), i))
                if (syms[best], syms[best + 1]) not in self.ranks:
                    break
                syms[best:best + 2] = [syms[best] + syms[best + 1]]
            for s in syms:
                if s in self.ids:
                    out.append(self.ids[s])
                else:
                    out += [self.ids[c] for c in s if c in self.ids]
        return out
