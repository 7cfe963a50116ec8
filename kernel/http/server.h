/*
 * The HTTP server: public entry points and the transport-neutral connection glue.
 *
 * In the kernel, net_init calls http_server_start(port) once the interface is up
 * (server_tcp.c binds the glue to the TCP callbacks of net/tcp.h) and the poll loop
 * calls http_server_poll() every turn: it flushes output, enforces the idle,
 * slow-client and send timeouts, and advances each active generation by one token.
 *
 * The glue below is what server_tcp.c (and the host test harness, with a fake
 * transport) drives: open a connection, hand it received bytes, tell it when send
 * space opened or the peer left, and poll with the current time in ms.
 */
#ifndef CLLM_HTTP_SERVER_H
#define CLLM_HTTP_SERVER_H

#include "types.h"

struct http_conn;
struct api_backend;

/* Start listening on `port` (kernel: TCP). Safe to call once. */
void http_server_start(uint16_t port);
/* One turn of the server in the poll loop (uses the kernel clock). */
void http_server_poll(void);

/* What the glue needs from a transport connection `t`. */
struct http_transport_ops {
    size_t (*send)(void *t, const void *data, size_t len); /* bytes accepted */
    void (*close)(void *t);  /* orderly close after queued data; closed() follows */
    void (*abort)(void *t);  /* reset; closed() follows (maybe before abort returns) */
};

/* Model and API key; NULL api_key or "" disables authentication. */
void http_server_configure(const struct api_backend *backend, const char *api_key);

/* A transport connection arrived. NULL when the connection table is full: the
 * caller then closes t (a 503 has already been sent through ops->send). */
struct http_conn *http_conn_open(void *t, const struct http_transport_ops *ops, uint64_t now_ms);
void http_conn_recv(struct http_conn *c, const uint8_t *data, size_t len, uint64_t now_ms);
void http_conn_writable(struct http_conn *c, uint64_t now_ms);
/* The peer sent FIN: no more input will come. */
void http_conn_peer_fin(struct http_conn *c, uint64_t now_ms);
/* The transport is gone; c is freed. */
void http_conn_closed(struct http_conn *c);

/* One turn at time now_ms; true if a generation advanced (more work is waiting). */
bool http_server_poll_at(uint64_t now_ms);

/* How long a request may take to arrive, from its first byte, ms (0: keep the
 * default, HTTP_REQUEST_TIMEOUT_MS). */
void http_server_set_request_timeout(uint32_t ms);

/* Open connections and active generations (for /metrics, /slots and tests). */
size_t http_server_n_conns(void);
/* Connections reset so far to make room for newer ones (for /metrics). */
uint64_t http_server_n_evicted(void);

#endif
