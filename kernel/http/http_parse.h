/*
 * Incremental HTTP/1.1 request parser (RFC 9112). The server glue (server.c) feeds
 * it whatever bytes arrived, in any split; it buffers the request line and header
 * block (up to HTTP_MAX_HEADER_BYTES), then reads a Content-Length or chunked body
 * (up to HTTP_MAX_BODY_BYTES) into a buffer it owns. A request split at any byte
 * boundary parses the same. On error it stops with the status to answer (400, 408,
 * 413, 431, 501, 505) and a message naming what was wrong.
 *
 * Memory: the parser owns head (inline) and body (port_alloc); http_parser_free
 * releases the body, http_parser_reset readies it for the next request.
 */
#ifndef CLLM_HTTP_PARSE_H
#define CLLM_HTTP_PARSE_H

#include "http/http_param.h"
#include "port.h"

enum http_parse_result {
    HTTP_PARSE_MORE = 0,  /* need more bytes */
    HTTP_PARSE_DONE = 1,  /* one complete request; later bytes are the next one */
    HTTP_PARSE_ERROR = 2, /* malformed or over a limit: see status and error */
};

enum http_parse_state {
    HTTP_PS_HEAD = 0,
    HTTP_PS_BODY,       /* Content-Length body */
    HTTP_PS_CHUNK_SIZE, /* reading a chunk-size line */
    HTTP_PS_CHUNK_DATA,
    HTTP_PS_CHUNK_CRLF, /* the CRLF after a chunk's data */
    HTTP_PS_TRAILER,    /* trailer lines after the last chunk */
    HTTP_PS_DONE,
    HTTP_PS_ERROR,
};

struct http_header {
    const char *name;  /* NUL-terminated, inside the parser's head buffer */
    const char *value; /* NUL-terminated, leading and trailing whitespace removed */
};

struct http_request {
    const char *method; /* "GET", "POST", ... */
    const char *target; /* request-target as sent, e.g. "/v1/models?x=1" */
    const char *path;   /* target without the query string (NUL-terminated copy) */
    int version_minor;  /* HTTP/1.<minor>: 0 or 1 */
    size_t n_headers;
    struct http_header headers[HTTP_MAX_HEADERS];
    bool keep_alive; /* from the version and Connection */
    bool chunked;    /* Transfer-Encoding: chunked */
    bool expect_continue;
    bool has_length;
    size_t content_length;
    const char *body; /* (body_len) bytes, NUL-terminated; "" when none */
    size_t body_len;
};

struct http_parser {
    enum http_parse_state state;
    int status;     /* HTTP status to answer when state == HTTP_PS_ERROR */
    char error[96]; /* what was wrong, for the error body */
    struct http_request req;
    bool started;       /* a byte of this request has arrived (the request timeout runs) */
    size_t blank_bytes; /* CR/LF bytes skipped before the request line */
    bool head_done;     /* the header block is complete (send 100-continue now) */
    bool method_done;   /* the request line's first space has arrived */
    size_t head_len;
    size_t line_start; /* offset in head of the line being read */
    char head[HTTP_MAX_HEADER_BYTES + 1];
    char path_buf[HTTP_MAX_HEADER_BYTES + 1];
    char *body; /* (body_cap) bytes, port_alloc */
    size_t body_len;
    size_t body_cap;
    size_t chunk_left; /* bytes left in the current chunk */
    char chunk_line[HTTP_MAX_CHUNK_LINE + 1];
    size_t chunk_line_len;
    size_t trailer_bytes;
    size_t trailer_line_len;
};

void http_parser_init(struct http_parser *p);
/* Ready for the next request on the same connection (keeps the body buffer). */
void http_parser_reset(struct http_parser *p);
void http_parser_free(struct http_parser *p);

/* Consume up to len bytes; *consumed says how many were used (the rest belong to
 * the next request when the result is DONE). */
enum http_parse_result http_parser_feed(struct http_parser *p, const uint8_t *data, size_t len,
                                        size_t *consumed);

/* Value of a header (name compared without case), or NULL. With duplicates, the first. */
const char *http_header_get(const struct http_request *r, const char *name);

/* ASCII case-insensitive compare of NUL-terminated strings: true when equal. */
bool http_str_ieq(const char *a, const char *b);

#endif
