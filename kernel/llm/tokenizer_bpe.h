/*
 * tokenizer_bpe: byte-level BPE vocabularies (GGUF tokenizer.ggml.model = "gpt2": GPT-2,
 * SmolLM2, Llama 3, Qwen2). tokenizer.c selects it from its vocabulary-type table and
 * calls these after it has read the token list; the generation loop and the API only
 * see tokenizer.h. Relies on gguf.h, port.h and tokenizer_unicode.h.
 *
 * Encoding a run of plain text, as llama.cpp does it:
 *   1. UTF-8 to code points (an invalid byte becomes U+FFFD);
 *   2. pre-tokenization: the steps of the pre-tokenizer named by tokenizer.ggml.pre
 *      split the code points into words, each step refining the words of the last;
 *   3. each word's UTF-8 bytes are written as GPT-2's printable stand-ins (bytes
 *      0x21..0x7E, 0xA1..0xAC, 0xAE..0xFF stand for themselves, the 68 others in order
 *      for U+0100..U+0143), the alphabet the vocabulary and the merges are written in;
 *   4. adjacent symbols merge, the pair listed first in tokenizer.ggml.merges ("left
 *      right", rank = index) first, the leftmost of equal ranks first; Llama 3's
 *      pre-tokenizer takes a word that is a token as it is, before merging;
 *   5. every symbol is a token; one that is not falls back to its characters' tokens.
 * Decoding maps the stand-ins back to bytes; CONTROL tokens give nothing.
 */
#ifndef CLLM_LLM_TOKENIZER_BPE_H
#define CLLM_LLM_TOKENIZER_BPE_H

#include "llm/tokenizer.h"

/* Most merges accepted (tokenizer.ggml.merges elements). */
#define TOKENIZER_BPE_MERGES_MAX (1 << 20)

/* Read tokenizer.ggml.merges and tokenizer.ggml.pre into t->bpe (t->tokens and the
 * hash are already built) and set t->add_bos to the pre-tokenizer's default. 0, or -1
 * with a message naming the key, index and value. */
int tokenizer_bpe_load(struct tokenizer *t, const struct gguf_file *g, char *err, size_t errlen);

void tokenizer_bpe_free(struct tokenizer *t);

/* Append the tokens of text[0..len) (no special tokens in it) to out[*n_out..max_out).
 * prefix: a space goes before the text. 0 or TOKENIZER_ERR_*. */
int tokenizer_bpe_encode_text(const struct tokenizer *t, const char *text, size_t len, bool prefix,
                              int *out, int *n_out, int max_out);

/* The bytes of `token` (cap >= TOKENIZER_PIECE_MAX suffices); count or TOKENIZER_ERR_*. */
int tokenizer_bpe_decode(const struct tokenizer *t, int token, char *out, size_t cap);

#endif
