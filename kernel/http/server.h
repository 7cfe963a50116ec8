/*
 * The HTTP server: public entry points, the transport-neutral connection glue and the
 * app it hosts.
 *
 * The server speaks HTTP (parsing, framing, keep-alive, pipelining, timeouts,
 * connection limits) and hands every complete request to one app through struct
 * http_app; the app answers with the response writer (conn.h). The kernel's app is the
 * API (kernel/http/api.c); main.c registers it with http_server_start once the network
 * is up, and the poll loop calls http_poll() (subsys.h) every turn: it flushes output and
 * enforces the idle, slow-client and send timeouts. Generations run in their own scheduler
 * (kernel/llm/sched.h), not in the server's turn.
 *
 * The glue below is what server_tcp.c (and the host test harness, with a fake
 * transport) drives: open a connection, hand it received bytes, tell it when send
 * space opened or the peer left, and poll with the current time in ms.
 */
#ifndef CLLM_HTTP_SERVER_H
#define CLLM_HTTP_SERVER_H

#include "types.h"

struct http_conn;
struct http_request;

/* The app behind the server. Every op but handle may be NULL. There is no per-turn
 * op: work that outlives a request (a generation) runs in its own subsystem's turn of
 * the poll loop and writes to the connection from there. */
struct http_app {
    /* Answer one request: at once (http_respond...), or begin a response that ends
     * later (c->busy stays set until the app's last write calls
     * http_conn_response_done). The request and its body are only valid during the
     * call; what the app keeps for the connection goes in c->app_state. */
    void (*handle)(struct http_conn *c, const struct http_request *req);
    /* The connection is going away (peer gone, reset, timeout, shutdown): release
     * c->app_state. No response can be written any more. */
    void (*conn_gone)(struct http_conn *c);
    /* A response head was written: by the app, or by the server itself (malformed
     * request, timeout: route "invalid"; connection refused: NULL). For the app's
     * counters. */
    void (*responded)(const char *route, int status);
};

/* Serve `app` on TCP port cllm.port= (default 80), with cllm.request_timeout_ms=.
 * Safe to call once; main.c calls it once the network is up. The poll loop's turn of
 * the server, http_poll, is declared with the other poll hooks in subsys.h. */
void http_server_start(const struct http_app *app);

/* What the glue needs from a transport connection `t`. */
struct http_transport_ops {
    size_t (*send)(void *t, const void *data, size_t len); /* bytes accepted */
    void (*close)(void *t); /* orderly close after queued data; closed() follows */
    void (*abort)(void *t); /* reset; closed() follows (maybe before abort returns) */
};

/* The app requests go to (the host harness sets it directly; NULL: every request
 * gets 503). */
void http_server_host(const struct http_app *app);

/* A transport connection arrived. NULL when the connection table is full: the
 * caller then closes t (a 503 has already been sent through ops->send). */
struct http_conn *http_conn_open(void *t, const struct http_transport_ops *ops, uint64_t now_ms);
void http_conn_recv(struct http_conn *c, const uint8_t *data, size_t len, uint64_t now_ms);
void http_conn_writable(struct http_conn *c, uint64_t now_ms);
/* The peer sent FIN: no more input will come. */
void http_conn_peer_fin(struct http_conn *c, uint64_t now_ms);
/* The transport is gone; c is freed. */
void http_conn_closed(struct http_conn *c);

/* One turn at time now_ms; true if a request waiting behind a finished response was
 * taken up (its work continues next turn). */
bool http_server_poll_at(uint64_t now_ms);

/* How long a request may take to arrive, from its first byte, ms (0: keep the
 * default, HTTP_REQUEST_TIMEOUT_MS). */
void http_server_set_request_timeout(uint32_t ms);

/* Open connections (for /metrics and tests). */
size_t http_server_n_conns(void);
/* Connections reset so far to make room for newer ones (for /metrics). */
uint64_t http_server_n_evicted(void);
/* port_cycles() spent handing response bytes to the transports (TCP), all connections. */
uint64_t http_server_sent_cycles(void);

#endif
