/*
 * tcp.h: the callback TCP API of the network stack (kernel/net/tcp*.c).
 * The HTTP server (kernel/http) is the main user: it listens on a port and is
 * called back from net_poll() when a connection arrives, data arrives, send space
 * opens or the connection ends. Nothing blocks; every call returns at once.
 *
 * Lifetime: a struct tcp_conn belongs to the stack. It is valid from on_accept until
 * on_close returns; after on_close the pointer must not be used again. on_close is
 * called exactly once per accepted connection, whatever the way it ends (orderly
 * close by either side, reset, retransmission timeout, tcp_abort). A peer that stays
 * silent for TCP_KEEPALIVE_IDLE_MS (net/net_param.h) is probed; after
 * TCP_KEEPALIVE_PROBES unanswered probes the connection is reset and closed.
 *
 * Re-entrancy: the handler may call tcp_send/tcp_close/tcp_abort on the connection
 * it was called for from inside any callback except on_close.
 */
#ifndef CLLM_NET_TCP_H
#define CLLM_NET_TCP_H

#include "types.h"

struct tcp_conn;

struct tcp_handler {
    /* A new connection completed the handshake. Set *ctx to per-connection state;
     * it is passed back to every later callback. */
    void (*on_accept)(struct tcp_conn *c, void **ctx);
    /* In-order bytes from the peer (len > 0). The data is only valid during the call. */
    void (*on_recv)(struct tcp_conn *c, void *ctx, const uint8_t *data, size_t len);
    /* Send space opened (the peer acknowledged data): tcp_send_space() grew. */
    void (*on_sent)(struct tcp_conn *c, void *ctx);
    /* The connection is gone (closed, reset or timed out). After this, c is gone. */
    void (*on_close)(struct tcp_conn *c, void *ctx);
    /* Optional (may be NULL): the peer sent FIN; no more on_recv will come.
     * The handler may still send, then tcp_close. */
    void (*on_peer_fin)(struct tcp_conn *c, void *ctx);
};

/* Listen on `port` (host order). h must stay valid forever. 0 on success,
 * -1 if the port is taken or the listener table is full. */
int tcp_listen(uint16_t port, const struct tcp_handler *h);

/* Queue up to len bytes for sending; returns the bytes accepted (0 when the send
 * buffer is full or the connection no longer accepts data, e.g. after tcp_close).
 * The data is copied. */
size_t tcp_send(struct tcp_conn *c, const void *data, size_t len);

/* Bytes tcp_send would accept now. */
size_t tcp_send_space(const struct tcp_conn *c);

/* Optional receive flow control: the handler says how many received bytes it still
 * holds unprocessed; the window advertised to the peer shrinks by that much (never
 * moving its right edge back) and reopens, with a window update, as `held` falls.
 * A handler that never calls it gets the full window always. */
void tcp_recv_hold(struct tcp_conn *c, size_t held);

/* Orderly close: FIN after all queued data. on_close follows later. */
void tcp_close(struct tcp_conn *c);

/* Abort: send RST, drop queued data. on_close is called before this returns. */
void tcp_abort(struct tcp_conn *c);

/* Peer address of the connection (IPv4 in host order, port in host order). */
uint32_t tcp_peer_ip(const struct tcp_conn *c);
uint16_t tcp_peer_port(const struct tcp_conn *c);

#endif
