/*
 * hbuf: a growable byte buffer for the HTTP server (response bytes, JSON output,
 * generated text). Grows with port_alloc up to HTTP_MAX_BUF_BYTES; once an append
 * fails the buffer is marked failed and later appends are ignored, so a writer can
 * append freely and check hbuf.failed once at the end. The owner calls hbuf_free.
 */
#ifndef CLLM_HTTP_HBUF_H
#define CLLM_HTTP_HBUF_H

#include "port.h"

struct hbuf {
    char *data; /* (cap) bytes, data[len] == 0 after every append */
    size_t len;
    size_t cap;
    bool failed; /* an append did not fit (allocation failed or past the limit) */
};

void hbuf_init(struct hbuf *b);
void hbuf_free(struct hbuf *b);
void hbuf_reset(struct hbuf *b); /* len = 0, keeps the memory */
bool hbuf_append(struct hbuf *b, const void *data, size_t len);
bool hbuf_puts(struct hbuf *b, const char *s);
bool hbuf_printf(struct hbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drop the first n bytes (sent data). */
void hbuf_consume(struct hbuf *b, size_t n);

#endif
