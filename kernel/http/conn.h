/*
 * One HTTP connection as the server glue (server.c) and the hosted app (the API:
 * api.c, api_gen.c) share it, and the response writer (http_resp.c) the app answers
 * with. Internal to kernel/http.
 *
 * Output is queued in `out` (unsent bytes out.data[out_off..out.len)) and flushed to
 * the transport as it accepts; a streaming response pauses its generation while more
 * than HTTP_OUT_HIGH_WATER bytes are unsent. Input that arrives while a response is
 * still being produced waits in `pending`.
 */
#ifndef CLLM_HTTP_CONN_H
#define CLLM_HTTP_CONN_H

#include "http/hbuf.h"
#include "http/http_parse.h"
#include "http/server.h"

struct http_conn {
    void *transport;
    const struct http_transport_ops *ops;
    struct http_conn *next;
    unsigned id;                /* connection number, for logs */
    struct http_parser *parser; /* port_alloc, owned */
    struct hbuf out;            /* response bytes; out_off of them already sent */
    size_t out_off;
    struct hbuf pending;   /* received, not yet parsed */
    uint64_t last_ms;      /* last byte in or out */
    uint64_t opened_ms;    /* accepted */
    uint64_t req_start_ms; /* first byte of the request being read */
    uint64_t sent_cycles;  /* port_cycles() spent handing response bytes to the transport */
    bool busy;             /* a response is in progress (task or stream) */
    bool close_after;      /* close once out is flushed */
    bool closing;          /* ops->close called; waiting for closed() */
    bool peer_fin;
    bool sent_continue; /* 100 Continue sent for this request */
    bool evict;         /* reset at the next poll turn to admit a newer connection */
    /* The request being answered. */
    bool keep_alive;
    bool head_only;   /* a HEAD request: the response carries no body */
    bool chunked_out; /* the response uses chunked transfer coding */
    int version_minor;
    const char *route; /* metrics label of the request's route */
    void *app_state;   /* the app's, for a response in progress; the app frees
                        * it (at the latest in http_app.conn_gone) */
};

/* Queue raw bytes. */
void http_conn_write(struct http_conn *c, const void *data, size_t len);
size_t http_conn_unsent(const struct http_conn *c);

/* A complete response with Content-Length. extra_headers: "" or lines ending "\r\n". */
void http_respond(struct http_conn *c, int status, const char *content_type, const char *body,
                  size_t len, const char *extra_headers);
/* {"error":{"code":status,"message":msg,"type":...}} */
void http_respond_error(struct http_conn *c, int status, const char *msg);
/* The same OpenAI-shaped error with extra header lines (each ending in CRLF). */
void http_respond_error_headers(struct http_conn *c, int status, const char *msg,
                                const char *extra);
/* Server-Sent Events: head (chunked for HTTP/1.1, close framing for 1.0), events, end. */
void http_stream_begin(struct http_conn *c, int status, const char *content_type);
void http_stream_write(struct http_conn *c, const char *data, size_t len);
void http_stream_sse(struct http_conn *c, const char *json, size_t len); /* data: ...\n\n */
void http_stream_end(struct http_conn *c);

const char *http_status_text(int status);
const char *http_error_type(int status);

/* server.c: the response of the current request is complete (keep-alive or close). */
void http_conn_response_done(struct http_conn *c);
/* server.c: a response head with `status` was written on c (NULL: on a connection
 * refused before it had one); tells the app (http_app.responded). */
void http_conn_note_response(const struct http_conn *c, int status);

#endif
