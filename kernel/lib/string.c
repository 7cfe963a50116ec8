/*
 * The string and memory functions the kernel (and the compiler, for struct copies)
 * needs, written for a freestanding build with no outside libc. memcpy, memmove and
 * memset move 32-bit words when source and destination share their alignment (packet
 * buffers, KV rows), bytes otherwise. Plain C, so tests/host/kernel_lib_test.c checks
 * the same code on the host.
 */
#include "kernel.h"

typedef uint32_t __attribute__((may_alias)) word_t; /* a word that may alias any object */
#define WORD sizeof(word_t)
#define WORD_MASK (WORD - 1)

void *memcpy(void *dst, const void *src, size_t n) {
    uint8_t *d = dst;
    const uint8_t *s = src;
    if ((((uintptr_t)d ^ (uintptr_t)s) & WORD_MASK) == 0) {
        for (; n && ((uintptr_t)d & WORD_MASK); n--)
            *d++ = *s++;
        for (; n >= WORD; n -= WORD, d += WORD, s += WORD)
            *(word_t *)d = *(const word_t *)s;
    }
    while (n--)
        *d++ = *s++;
    return dst;
}

void *memmove(void *dst, const void *src, size_t n) {
    uint8_t *d = dst;
    const uint8_t *s = src;
    if ((uintptr_t)d - (uintptr_t)s >= n) /* no overlap that a forward copy would clobber */
        return memcpy(dst, src, n);
    /* d is above s and overlaps it: copy from the end down. */
    d += n;
    s += n;
    if ((((uintptr_t)d ^ (uintptr_t)s) & WORD_MASK) == 0) {
        for (; n && ((uintptr_t)d & WORD_MASK); n--)
            *--d = *--s;
        for (; n >= WORD; n -= WORD) {
            d -= WORD;
            s -= WORD;
            *(word_t *)d = *(const word_t *)s;
        }
    }
    while (n--)
        *--d = *--s;
    return dst;
}

void *memset(void *dst, int c, size_t n) {
    uint8_t *d = dst;
    uint8_t b = (uint8_t)c;
    for (; n && ((uintptr_t)d & WORD_MASK); n--)
        *d++ = b;
    word_t w = b * 0x01010101u;
    for (; n >= WORD; n -= WORD, d += WORD)
        *(word_t *)d = w;
    while (n--)
        *d++ = b;
    return dst;
}

int memcmp(const void *a, const void *b, size_t n) {
    const uint8_t *x = a, *y = b;
    for (size_t i = 0; i < n; i++) {
        if (x[i] != y[i])
            return x[i] < y[i] ? -1 : 1;
    }
    return 0;
}

size_t strlen(const char *s) {
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

size_t strnlen(const char *s, size_t max) {
    size_t n = 0;
    while (n < max && s[n])
        n++;
    return n;
}

int strcmp(const char *a, const char *b) {
    while (*a && *a == *b) {
        a++;
        b++;
    }
    return (uint8_t)*a - (uint8_t)*b;
}

int strncmp(const char *a, const char *b, size_t n) {
    for (; n; n--, a++, b++) {
        if (*a != *b || !*a)
            return (uint8_t)*a - (uint8_t)*b;
    }
    return 0;
}

char *strchr(const char *s, int c) {
    for (;; s++) {
        if (*s == (char)c)
            return (char *)s;
        if (!*s)
            return NULL;
    }
}
