/*
 * tokenizer_unicode: the little Unicode the byte-level BPE pre-tokenizers need: UTF-8
 * decoding as llama.cpp does it (an invalid sequence is one U+FFFD per bad lead byte),
 * UTF-8 encoding, the general-category class of a code point (letter, number,
 * punctuation, other) and llama.cpp's whitespace set. Used by tokenizer_bpe.c; the
 * class table is generated (tokenizer_unicode_table.h, tools/gen_unicode_classes.py).
 */
#ifndef CLLM_LLM_TOKENIZER_UNICODE_H
#define CLLM_LLM_TOKENIZER_UNICODE_H

#include "types.h"

#define UNICODE_REPLACEMENT 0xFFFDu

enum unicode_class {
    UNICODE_CLASS_OTHER = 0,  /* marks, symbols, separators, controls, unassigned */
    UNICODE_CLASS_LETTER = 1, /* \p{L} */
    UNICODE_CLASS_NUMBER = 2, /* \p{N} */
    UNICODE_CLASS_PUNCT = 3,  /* \p{P} */
};

/* Decode the code point at s[0] (n > 0 bytes left): stores it in *cp and returns the
 * bytes consumed (1..4). An invalid or truncated sequence gives U+FFFD and consumes 1;
 * overlong forms and surrogates are accepted, as llama.cpp accepts them. */
int unicode_decode(const uint8_t *s, size_t n, uint32_t *cp);

/* Encode cp (< 0x200000) into out[0..4); returns the byte count. */
int unicode_encode(uint32_t cp, uint8_t *out);

enum unicode_class unicode_class_of(uint32_t cp);

/* \s as llama.cpp defines it: TAB..CR, space, NEL, NBSP, U+1680, U+2000..U+200A,
 * U+2028, U+2029, U+202F, U+205F, U+3000. */
bool unicode_is_space(uint32_t cp);

#endif
