/*
 * libFuzzer target: the incremental HTTP request parser (kernel/http/http_parse.c).
 * The input is fed twice, whole and one byte at a time; both must end in the same
 * state with the same request (method, path, body) or the same error status, since
 * a request split at any byte boundary must parse the same. Built by
 * tests/fuzzing.py with ASan and UBSan.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_parse.h"

struct outcome {
    enum http_parse_result r;
    size_t used;
    int status;
    char method[16];
    char path[64];
    size_t body_len;
    unsigned body_sum;
};

static void record(struct outcome *o, const struct http_parser *p, enum http_parse_result r,
                   size_t used) {
    memset(o, 0, sizeof(*o));
    o->r = r;
    o->used = used;
    if (r == HTTP_PARSE_ERROR)
        o->status = p->status;
    if (r != HTTP_PARSE_DONE)
        return;
    snprintf(o->method, sizeof(o->method), "%s", p->req.method);
    snprintf(o->path, sizeof(o->path), "%s", p->req.path);
    o->body_len = p->req.body_len;
    for (size_t i = 0; i < p->req.body_len; i++)
        o->body_sum = o->body_sum * 31u + (uint8_t)p->req.body[i];
    if (p->req.body[p->req.body_len] != 0)
        abort(); /* the body is promised NUL-terminated */
}

static struct http_parser parser;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct outcome whole, split;
    size_t used = 0;

    http_parser_init(&parser);
    enum http_parse_result r = http_parser_feed(&parser, data, size, &used);
    if (used > size)
        abort();
    record(&whole, &parser, r, used);
    http_parser_free(&parser);

    http_parser_init(&parser);
    size_t off = 0;
    r = HTTP_PARSE_MORE;
    while (off < size && r == HTTP_PARSE_MORE) {
        size_t n = 0;
        r = http_parser_feed(&parser, data + off, 1, &n);
        off += n;
        if (n == 0 && r == HTTP_PARSE_MORE)
            abort(); /* no progress on input it still wants */
    }
    record(&split, &parser, r, off);
    http_parser_free(&parser);

    if (memcmp(&whole, &split, sizeof(whole)) != 0) {
        fprintf(stderr, "whole: r=%d used=%zu status=%d / split: r=%d used=%zu status=%d\n",
                whole.r, whole.used, whole.status, split.r, split.used, split.status);
        abort();
    }
    return 0;
}
