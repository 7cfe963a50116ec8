/*
 * hbuf: growable byte buffer (see hbuf.h). Used by every part of kernel/http that
 * builds output of unknown length; relies only on port.h for memory.
 */
#include "http/hbuf.h"
#include "http/http_param.h"

void hbuf_init(struct hbuf *b) {
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->failed = false;
}

void hbuf_free(struct hbuf *b) {
    port_free(b->data);
    hbuf_init(b);
}

void hbuf_reset(struct hbuf *b) {
    b->len = 0;
    b->failed = false;
    if (b->data)
        b->data[0] = 0;
}

static bool hbuf_reserve(struct hbuf *b, size_t extra) {
    if (b->failed)
        return false;
    if (extra > HTTP_MAX_BUF_BYTES || b->len + extra + 1 > HTTP_MAX_BUF_BYTES) {
        b->failed = true;
        return false;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    if (cap > HTTP_MAX_BUF_BYTES)
        cap = HTTP_MAX_BUF_BYTES;
    char *p = port_alloc(cap);
    if (!p) {
        b->failed = true;
        return false;
    }
    if (b->len)
        memcpy(p, b->data, b->len);
    port_free(b->data);
    b->data = p;
    b->cap = cap;
    return true;
}

bool hbuf_append(struct hbuf *b, const void *data, size_t len) {
    if (!hbuf_reserve(b, len))
        return false;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = 0;
    return true;
}

bool hbuf_puts(struct hbuf *b, const char *s) {
    return hbuf_append(b, s, strlen(s));
}

bool hbuf_printf(struct hbuf *b, const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        return false;
    if ((size_t)n < sizeof(tmp))
        return hbuf_append(b, tmp, (size_t)n);
    if (!hbuf_reserve(b, (size_t)n))
        return false;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return true;
}

void hbuf_consume(struct hbuf *b, size_t n) {
    if (n >= b->len) {
        hbuf_reset(b);
        return;
    }
    memmove(b->data + 0, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = 0;
}
