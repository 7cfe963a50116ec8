/*
 * zig.h: the C-ABI functions exported by the Zig modules in kernel/zig/. Each module
 * is built with `zig build-obj -O ReleaseSafe`, so a bounds or overflow bug in it
 * traps into the kernel panic (zig_panic in kernel/core/panic.c) instead of
 * corrupting memory.
 */
#ifndef CLLM_ZIG_H
#define CLLM_ZIG_H

#include "types.h"

/* kernel/zig/cmdline.zig: one cllm.<key>=<value> token, offsets into the line. */
struct cmdline_token {
    uint32_t key_off, key_len; /* the key, after "cllm." */
    uint32_t val_off, val_len; /* the value, quotes stripped; val_len 0 if "=" missing */
    uint32_t has_value;        /* 1 if the token had '=' */
};

/* Split line[0..len) into cllm.* tokens. Returns the number of tokens written
 * (at most max), or a negative value -(offset + 1) of an unterminated quote. Tokens
 * beyond max are counted in *dropped. */
int32_t cmdline_split(const char *line, size_t len, struct cmdline_token *out, size_t max,
                      size_t *dropped);

/* Decimal digits s[0..len) to *out: false if empty, not all digits, or > 2^32 - 1. */
bool cmdline_parse_u32(const char *s, size_t len, uint32_t *out);

/* table[i] of a 4-entry table, bounds-checked: i >= 4 panics (the fault_zig self-test). */
uint8_t zig_checked_index(size_t i);

/* Called by the Zig panic handler (kernel/core/panic.c). */
void zig_panic(const char *msg, size_t len) NORETURN;

#endif
