/*
 * tokenizer_unicode.c: UTF-8 and code point classes for tokenizer_bpe.c (see
 * tokenizer_unicode.h). The class of a code point is a binary search over the
 * generated runs table.
 */
#include "llm/tokenizer_unicode.h"

#include "llm/tokenizer_unicode_table.h"

int unicode_decode(const uint8_t *s, size_t n, uint32_t *cp) {
    uint8_t b = s[0];
    int len;
    uint32_t v;
    if (b < 0x80) {
        *cp = b;
        return 1;
    } else if ((b & 0xE0) == 0xC0) {
        len = 2, v = b & 0x1F;
    } else if ((b & 0xF0) == 0xE0) {
        len = 3, v = b & 0x0F;
    } else if ((b & 0xF8) == 0xF0) {
        len = 4, v = b & 0x07;
    } else {
        *cp = UNICODE_REPLACEMENT;
        return 1;
    }
    if ((size_t)len > n) {
        *cp = UNICODE_REPLACEMENT;
        return 1;
    }
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *cp = UNICODE_REPLACEMENT;
            return 1;
        }
        v = v << 6 | (s[i] & 0x3F);
    }
    *cp = v;
    return len;
}

int unicode_encode(uint32_t cp, uint8_t *out) {
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | cp >> 6);
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | cp >> 12);
        out[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | cp >> 18);
    out[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

enum unicode_class unicode_class_of(uint32_t cp) {
    /* the last run whose first code point is <= cp */
    int lo = 0, hi = UNICODE_N_RUNS - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if ((unicode_runs[mid] >> 8) <= cp)
            lo = mid;
        else
            hi = mid - 1;
    }
    return (enum unicode_class)(unicode_runs[lo] & 0xFF);
}

bool unicode_is_space(uint32_t cp) {
    if (cp < 0x80)
        return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
           cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}
