/*
 * cmdline.h: the kernel command line as cllm.<key>=<value> options.
 * kernel/zig/cmdline.zig splits the line (spaces separate tokens, values may be
 * double-quoted); kernel/core/cmdline.c checks each key against the registry in
 * kernel/core/options.c and each value against the key's kind. Unknown keys are
 * warned about, bad values are rejected with a line naming key and value; neither
 * stops the boot. Words not starting with "cllm." (the kernel path GRUB passes) are
 * ignored.
 *
 * To add an option: one row in kernel/core/options.c. A subsystem with a table of its
 * own (the generation parameters, kernel/llm/gen_param.c) hands its options over with
 * cmdline_add_options before cmdline_init; their values are checked by their owner.
 */
#ifndef CLLM_CMDLINE_H
#define CLLM_CMDLINE_H

#include "types.h"

enum cmdline_kind {
    CMDLINE_KIND_STRING,  /* any text */
    CMDLINE_KIND_U32,     /* decimal, within [min, max] */
    CMDLINE_KIND_DECIMAL, /* non-negative decimal fraction such as 0.8 */
    CMDLINE_KIND_IPV4,    /* dotted quad */
    CMDLINE_KIND_CHOICE,  /* one of the '|'-separated words in choices */
    CMDLINE_KIND_LIST,    /* comma-separated words */
};

struct cmdline_option {
    const char *key; /* without the "cllm." prefix */
    enum cmdline_kind kind;
    uint32_t min, max;       /* CMDLINE_KIND_U32 bounds; CMDLINE_KIND_DECIMAL: max only */
    const char *choices;     /* CMDLINE_KIND_CHOICE only, e.g. "auto|e1000|virtio" */
    const char *description; /* one line, for documentation */
};

/* kernel/core/options.c: the registry of known keys. */
extern const struct cmdline_option cmdline_options[];
extern const size_t cmdline_option_count;

/* Options of a subsystem's own table, consulted after the registry (opts must
 * outlive the kernel; at most CMDLINE_MAX_TABLES tables). Call before cmdline_init. */
#define CMDLINE_MAX_TABLES 2
void cmdline_add_options(const struct cmdline_option *opts, size_t n);

/* Parse the command line; prints warnings and rejections. Called once at boot. */
void cmdline_init(const char *cmdline);

/* The value of cllm.<key> if given and valid, else NULL. */
const char *cmdline_get(const char *key);

/* cllm.<key> as a number; false (and *out untouched) if absent or invalid. */
bool cmdline_get_u32(const char *key, uint32_t *out);

/* cllm.<key> as a dotted quad in host order (10.0.2.15 -> 0x0A00020F). */
bool cmdline_get_ipv4(const char *key, uint32_t *out);

/* Check a value against an option's kind and limits; on failure `want` says what
 * would be accepted (for the warning line and the self-test). */
bool cmdline_check_value(const struct cmdline_option *opt, const char *s, size_t len, char *want,
                         size_t want_len);

/* Options given but rejected, and unknown keys seen (for self-tests). */
size_t cmdline_rejected_count(void);
size_t cmdline_unknown_count(void);

#endif
