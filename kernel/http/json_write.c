/*
 * JSON writer (see json.h): appends to an hbuf, placing commas and colons itself.
 * Strings are escaped per RFC 8259 and any invalid UTF-8 (model output can end in
 * the middle of a character) is replaced by U+FFFD so responses are always valid
 * JSON. Numbers are formatted here because the kernel's printf has no %f.
 */
#include "http/json.h"

void json_write_init(struct json_writer *w, struct hbuf *out) {
    w->out = out;
    w->depth = 0;
    w->need_comma[0] = false;
}

/* Before a value: the comma that separates it from the previous one. */
static void json_write_sep(struct json_writer *w) {
    if (w->need_comma[w->depth])
        hbuf_append(w->out, ",", 1);
    w->need_comma[w->depth] = true;
}

static void json_write_open(struct json_writer *w, char c) {
    json_write_sep(w);
    hbuf_append(w->out, &c, 1);
    if (w->depth < JSON_MAX_DEPTH + 1)
        w->depth++;
    w->need_comma[w->depth] = false;
}

static void json_write_close(struct json_writer *w, char c) {
    hbuf_append(w->out, &c, 1);
    if (w->depth > 0)
        w->depth--;
}

void json_write_object_begin(struct json_writer *w) {
    json_write_open(w, '{');
}

void json_write_object_end(struct json_writer *w) {
    json_write_close(w, '}');
}

void json_write_array_begin(struct json_writer *w) {
    json_write_open(w, '[');
}

void json_write_array_end(struct json_writer *w) {
    json_write_close(w, ']');
}

void json_write_key(struct json_writer *w, const char *key) {
    json_write_sep(w);
    hbuf_append(w->out, "\"", 1);
    json_escape_append(w->out, key, strlen(key));
    hbuf_append(w->out, "\":", 2);
    /* The value that follows the key takes no comma. */
    w->need_comma[w->depth] = false;
}

void json_escape_append(struct hbuf *out, const char *str, size_t len) {
    const uint8_t *s = (const uint8_t *)str;
    size_t run = 0; /* start of the bytes not yet copied */
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        const char *esc = NULL;
        char ubuf[8];
        size_t skip = 1;
        if (c == '"')
            esc = "\\\"";
        else if (c == '\\')
            esc = "\\\\";
        else if (c == '\n')
            esc = "\\n";
        else if (c == '\r')
            esc = "\\r";
        else if (c == '\t')
            esc = "\\t";
        else if (c == '\b')
            esc = "\\b";
        else if (c == '\f')
            esc = "\\f";
        else if (c < 0x20 || c == 0x7f) {
            snprintf(ubuf, sizeof(ubuf), "\\u%04x", c);
            esc = ubuf;
        } else if (c >= 0x80) {
            skip = json_utf8_len(s + i, len - i);
            if (skip == 0) {
                esc = "\xef\xbf\xbd";
                skip = 1;
            }
        }
        if (esc) {
            hbuf_append(out, s + run, i - run);
            hbuf_puts(out, esc);
            i += skip;
            run = i;
        } else {
            i += skip;
        }
    }
    hbuf_append(out, s + run, len - run);
}

void json_write_stringn(struct json_writer *w, const char *s, size_t len) {
    json_write_sep(w);
    hbuf_append(w->out, "\"", 1);
    json_escape_append(w->out, s, len);
    hbuf_append(w->out, "\"", 1);
}

void json_write_string(struct json_writer *w, const char *s) {
    json_write_stringn(w, s ? s : "", s ? strlen(s) : 0);
}

void json_write_int(struct json_writer *w, int64_t v) {
    json_write_sep(w);
    hbuf_printf(w->out, "%lld", (long long)v);
}

void json_write_double(struct json_writer *w, double v) {
    json_write_sep(w);
    if (v != v || v > 1.7976931348623157e308 || v < -1.7976931348623157e308) {
        hbuf_puts(w->out, "null");
        return;
    }
    bool neg = v < 0;
    if (neg)
        v = -v;
    if (v >= 9.2e18) {
        /* Past int64: a mantissa of 12 digits and a decimal exponent, made by one
         * division by json_pow10, which the reader multiplies by: reading the text back
         * gives a number that writes as the same text. */
        int e = 0;
        for (double t = v; t >= 1e12; t /= 10)
            e++;
        int64_t m = (int64_t)(v / json_pow10(e) + 0.5);
        if (m >= 1000000000000LL) {
            e++;
            m = (int64_t)(v / json_pow10(e) + 0.5);
        }
        hbuf_printf(w->out, "%s%llde%d", neg ? "-" : "", (long long)m, e);
        return;
    }
    if (v >= 1e15) {
        /* No fraction left at this size: the integer is exact. */
        hbuf_printf(w->out, "%s%lld", neg ? "-" : "", (long long)v);
        return;
    }
    /* Signed 64-bit conversions only: x87 does them inline, without libgcc. */
    int64_t ip = (int64_t)v;
    /* At most 15 significant digits in all (what a double holds), so that writing a
     * parsed number and reading it back gives the same text again. */
    int n = JSON_DOUBLE_DECIMALS, int_digits = 0;
    for (int64_t t = ip; t > 0; t /= 10)
        int_digits++;
    if (int_digits + n > 15)
        n = 15 - int_digits;
    int64_t scale = 1;
    for (int i = 0; i < n; i++)
        scale *= 10;
    int64_t frac = (int64_t)((v - (double)ip) * (double)scale + 0.5);
    if (frac >= scale) {
        ip++;
        frac -= scale;
    }
    char digits[JSON_DOUBLE_DECIMALS + 2];
    snprintf(digits, sizeof(digits), "%0*u", n, (unsigned)frac);
    while (n > 0 && digits[n - 1] == '0')
        n--;
    digits[n] = 0;
    if (neg && (ip || n))
        hbuf_puts(w->out, "-");
    hbuf_printf(w->out, "%lld", (long long)ip);
    if (n)
        hbuf_printf(w->out, ".%s", digits);
}

void json_write_bool(struct json_writer *w, bool v) {
    json_write_sep(w);
    hbuf_puts(w->out, v ? "true" : "false");
}

void json_write_null(struct json_writer *w) {
    json_write_sep(w);
    hbuf_puts(w->out, "null");
}

void json_write_value(struct json_writer *w, const struct json_value *v) {
    switch (v->type) {
    case JSON_NULL:
        json_write_null(w);
        break;
    case JSON_BOOL:
        json_write_bool(w, v->boolean);
        break;
    case JSON_NUMBER:
        if (v->is_int && v->u.num > -9.2e18 && v->u.num < 9.2e18)
            json_write_int(w, (int64_t)v->u.num);
        else
            json_write_double(w, v->u.num);
        break;
    case JSON_STRING:
        json_write_stringn(w, v->u.str.s, v->u.str.len);
        break;
    case JSON_ARRAY:
        json_write_array_begin(w);
        for (const struct json_value *c = v->u.list.first; c; c = c->next)
            json_write_value(w, c);
        json_write_array_end(w);
        break;
    case JSON_OBJECT:
        json_write_object_begin(w);
        for (const struct json_value *c = v->u.list.first; c; c = c->next) {
            json_write_sep(w);
            hbuf_append(w->out, "\"", 1);
            json_escape_append(w->out, c->key, c->key_len);
            hbuf_append(w->out, "\":", 2);
            w->need_comma[w->depth] = false;
            json_write_value(w, c);
        }
        json_write_object_end(w);
        break;
    default:
        break;
    }
}
