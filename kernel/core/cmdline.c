/*
 * The kernel command line (cmdline.h): kernel/zig/cmdline.zig splits it into
 * cllm.<key>=<value> tokens; this file checks each against the registry in
 * kernel/core/options.c and keeps the accepted values, NUL-terminated, in a static
 * table. The command line is untrusted: an unknown key is warned about, a bad value
 * is rejected with a line naming key, value and what was wanted, and the boot goes
 * on either way. Values are kept whole (the store holds the whole line); nothing is
 * cut short. Called once by kernel_main; cmdline_get is then read-only.
 */
#include "cmdline.h"
#include "kernel.h"
#include "param.h"
#include "zig.h"

struct cmdline_value {
    const struct cmdline_option *opt;
    const char *value; /* into value_store */
};

static struct cmdline_value values[CMDLINE_MAX_OPTIONS];
static size_t n_values, n_rejected, n_unknown;
static char value_store[CMDLINE_MAX];
static size_t store_used;

/* The registry (options.c) first, then the tables subsystems added. */
struct cmdline_table {
    const struct cmdline_option *opts; /* (n) */
    size_t n;
};
static struct cmdline_table tables[1 + CMDLINE_MAX_TABLES];
static size_t n_tables;

void cmdline_add_options(const struct cmdline_option *opts, size_t n) {
    if (n_tables < CMDLINE_MAX_TABLES)
        tables[1 + n_tables++] = (struct cmdline_table){opts, n};
}

static const struct cmdline_option *cmdline_lookup(const char *key, size_t len) {
    tables[0].opts = cmdline_options;
    tables[0].n = cmdline_option_count;
    for (size_t t = 0; t <= n_tables; t++) {
        for (size_t i = 0; i < tables[t].n; i++) {
            const struct cmdline_option *o = &tables[t].opts[i];
            if (strlen(o->key) == len && memcmp(o->key, key, len) == 0)
                return o;
        }
    }
    return NULL;
}

static bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

/* Dotted quad: four decimal parts 0..255, no leading '+', nothing else. */
static bool parse_ipv4(const char *s, size_t len, uint32_t *out) {
    uint32_t addr = 0;
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        size_t start = i;
        while (i < len && is_digit(s[i]) && i - start < 3)
            i++;
        uint32_t v;
        if (i == start || !cmdline_parse_u32(s + start, i - start, &v) || v > 255)
            return false;
        addr = addr << 8 | v;
        if (part < 3) {
            if (i >= len || s[i] != '.')
                return false;
            i++;
        }
    }
    if (i != len)
        return false;
    *out = addr;
    return true;
}

/* Non-negative decimal with an optional fraction, at most `max` (whole units). */
static bool parse_decimal(const char *s, size_t len, uint32_t max) {
    size_t dot = 0;
    while (dot < len && s[dot] != '.')
        dot++;
    uint32_t whole;
    if (!cmdline_parse_u32(s, dot, &whole))
        return false;
    bool frac_nonzero = false;
    if (dot < len) {
        if (dot + 1 == len)
            return false;
        for (size_t i = dot + 1; i < len; i++) {
            if (!is_digit(s[i]))
                return false;
            frac_nonzero |= s[i] != '0';
        }
    }
    return whole < max || (whole == max && !frac_nonzero);
}

static bool in_choices(const char *choices, const char *s, size_t len) {
    for (const char *c = choices; *c;) {
        const char *bar = strchr(c, '|');
        size_t n = bar ? (size_t)(bar - c) : strlen(c);
        if (n == len && memcmp(c, s, len) == 0)
            return true;
        if (!bar)
            break;
        c = bar + 1;
    }
    return false;
}

bool cmdline_check_value(const struct cmdline_option *opt, const char *s, size_t len, char *want,
                         size_t want_len) {
    uint32_t v;
    switch (opt->kind) {
    case CMDLINE_KIND_STRING:
        if (len > 0)
            return true;
        snprintf(want, want_len, "a non-empty string");
        return false;
    case CMDLINE_KIND_U32:
        if (cmdline_parse_u32(s, len, &v) && v >= opt->min && v <= opt->max)
            return true;
        snprintf(want, want_len, "a whole number in %u..%u", opt->min, opt->max);
        return false;
    case CMDLINE_KIND_DECIMAL:
        if (parse_decimal(s, len, opt->max))
            return true;
        snprintf(want, want_len, "a decimal number in 0..%u", opt->max);
        return false;
    case CMDLINE_KIND_IPV4:
        if (parse_ipv4(s, len, &v))
            return true;
        snprintf(want, want_len, "an IPv4 address a.b.c.d");
        return false;
    case CMDLINE_KIND_CHOICE:
        if (in_choices(opt->choices, s, len))
            return true;
        snprintf(want, want_len, "one of %s", opt->choices);
        return false;
    case CMDLINE_KIND_LIST:
        if (len > 0 && s[0] != ',' && s[len - 1] != ',')
            return true;
        snprintf(want, want_len, "a comma-separated list of names");
        return false;
    }
    snprintf(want, want_len, "a known option kind");
    return false;
}

static void cmdline_keep(const struct cmdline_option *opt, const char *s, size_t len) {
    if (store_used + len + 1 > sizeof(value_store))
        return; /* cannot happen: values are substrings of a line no longer than the store */
    char *v = value_store + store_used;
    memcpy(v, s, len);
    v[len] = '\0';
    store_used += len + 1;
    for (size_t i = 0; i < n_values; i++) {
        if (values[i].opt == opt) {
            values[i].value = v; /* the last occurrence wins */
            return;
        }
    }
    if (n_values < CMDLINE_MAX_OPTIONS)
        values[n_values++] = (struct cmdline_value){opt, v};
}

void cmdline_init(const char *line) {
    struct cmdline_token toks[CMDLINE_MAX_OPTIONS];
    size_t dropped = 0;
    size_t len = strnlen(line, CMDLINE_MAX - 1);
    int32_t n = cmdline_split(line, len, toks, CMDLINE_MAX_OPTIONS, &dropped);
    if (n < 0) {
        printk("cllm: warning: command line ignored: quote at offset %d is never closed\n",
               (int)(-n - 1));
        n_rejected++;
        return;
    }
    if (dropped)
        printk("cllm: warning: %u options past the first %d ignored\n", (unsigned)dropped,
               CMDLINE_MAX_OPTIONS);
    for (int32_t i = 0; i < n; i++) {
        const char *key = line + toks[i].key_off, *val = line + toks[i].val_off;
        /* Warnings quote at most this much of a key or value, marking the rest "...". */
        int klen = (int)MIN(toks[i].key_len, 64u), vlen = (int)MIN(toks[i].val_len, 128u);
        const char *kmore = toks[i].key_len > 64u ? "..." : "";
        const char *vmore = toks[i].val_len > 128u ? "..." : "";
        const struct cmdline_option *opt = cmdline_lookup(key, toks[i].key_len);
        if (!opt) {
            printk("cllm: warning: unknown option cllm.%.*s%s\n", klen, key, kmore);
            n_unknown++;
            continue;
        }
        char want[96];
        if (!toks[i].has_value) {
            printk("cllm: warning: rejected cllm.%s: no value (write cllm.%s=<value>)\n", opt->key,
                   opt->key);
            n_rejected++;
        } else if (!cmdline_check_value(opt, val, toks[i].val_len, want, sizeof(want))) {
            printk("cllm: warning: rejected cllm.%s=\"%.*s%s\": want %s\n", opt->key, vlen, val,
                   vmore, want);
            n_rejected++;
        } else {
            cmdline_keep(opt, val, toks[i].val_len);
        }
    }
    printk("cllm: cmdline: %u options, %u rejected, %u unknown\n", (unsigned)n_values,
           (unsigned)n_rejected, (unsigned)n_unknown);
}

const char *cmdline_get(const char *key) {
    for (size_t i = 0; i < n_values; i++) {
        if (strcmp(values[i].opt->key, key) == 0)
            return values[i].value;
    }
    return NULL;
}

bool cmdline_get_u32(const char *key, uint32_t *out) {
    const char *v = cmdline_get(key);
    return v && cmdline_parse_u32(v, strlen(v), out);
}

bool cmdline_get_ipv4(const char *key, uint32_t *out) {
    const char *v = cmdline_get(key);
    return v && parse_ipv4(v, strlen(v), out);
}

size_t cmdline_rejected_count(void) {
    return n_rejected;
}

size_t cmdline_unknown_count(void) {
    return n_unknown;
}
