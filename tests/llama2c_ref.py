"""Reference for llama2.c's tokenizer rules (run.c, karpathy/llama2.c), written in plain
Python from the format and algorithm description, for checking the kernel tokenizer and
for turning reference token ids into the text run.c prints.

tokenizer.bin: int32 max_token_length, then per token float32 score, int32 len, bytes.
Encoding: BOS (1) if asked, a " " dummy-prefix piece for non-empty text, one piece per
UTF-8 code point (bytes grouped while continuation bytes follow, at most 4), code points
absent from the vocabulary as byte tokens (byte + 3), then repeatedly merge the adjacent
pair whose concatenated text is in the vocabulary with the highest score (leftmost on
ties). Decoding: the piece's text; after BOS a leading space is dropped; "<0xXX>" is that
byte. run.c prints a single-byte piece only when it is printable or whitespace.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

BOS = 1
EOS = 2


@dataclass(frozen=True)
class Llama2cTokenizer:
    pieces: list[bytes]
    scores: list[float]
    max_token_length: int

    @property
    def index(self) -> dict[bytes, int]:
        idx: dict[bytes, int] = {}
        for i, p in enumerate(self.pieces):
            idx.setdefault(p, i)
        return idx


def load(path: Path | str, n_vocab: int) -> Llama2cTokenizer:
    data = Path(path).read_bytes()
    (max_len,) = struct.unpack_from("<i", data, 0)
    off = 4
    pieces: list[bytes] = []
    scores: list[float] = []
    for _ in range(n_vocab):
        score, n = struct.unpack_from("<fi", data, off)
        off += 8
        pieces.append(data[off:off + n])
        scores.append(score)
        off += n
    return Llama2cTokenizer(pieces, scores, max_len)


def _code_points(text: bytes) -> list[bytes]:
    out: list[bytes] = []
    buf = b""
    for i, c in enumerate(text):
        if c & 0xC0 != 0x80:
            buf = b""
        buf += bytes([c])
        nxt = text[i + 1] if i + 1 < len(text) else None
        if nxt is not None and nxt & 0xC0 == 0x80 and len(buf) < 4:
            continue
        out.append(buf)
        buf = b""
    return out


def encode(tok: Llama2cTokenizer, text: str | bytes, bos: bool = True) -> list[int]:
    raw = text.encode() if isinstance(text, str) else text
    idx = tok.index
    ids: list[int] = [BOS] if bos else []
    if raw:
        ids.append(idx[b" "])
    for cp in _code_points(raw):
        if cp in idx:
            ids.append(idx[cp])
        else:
            ids.extend(b + 3 for b in cp)
    while True:
        best, best_i, best_id = -1e10, -1, -1
        for i in range(len(ids) - 1):
            merged = tok.pieces[ids[i]] + tok.pieces[ids[i + 1]]
            j = idx.get(merged)
            if j is not None and tok.scores[j] > best:
                best, best_i, best_id = tok.scores[j], i, j
        if best_i < 0:
            return ids
        ids[best_i:best_i + 2] = [best_id]


def decode_piece(tok: Llama2cTokenizer, prev: int, token: int) -> bytes:
    piece = tok.pieces[token]
    if prev == BOS and piece.startswith(b" "):
        piece = piece[1:]
    if len(piece) == 6 and piece.startswith(b"<0x") and piece.endswith(b">"):
        try:
            return bytes([int(piece[3:5], 16)])
        except ValueError:
            pass
    return piece


def run_c_printable(piece: bytes) -> bool:
    """run.c's safe_printf: a one-byte piece is printed only if printable or whitespace."""
    if len(piece) != 1:
        return True
    c = piece[0]
    return 0x20 <= c < 0x7F or c in b" \t\n\v\f\r"


def decode(tok: Llama2cTokenizer, ids: list[int], prev: int = -1) -> bytes:
    """Concatenated pieces of ids, each decoded after its predecessor (prev before ids[0])."""
    out = b""
    for t in ids:
        out += decode_piece(tok, prev, t)
        prev = t
    return out
