/*
 * The TCP echo service (net/echo.h). Received bytes go to tcp_send; what the
 * send buffer cannot take waits in a per-connection backlog and is pushed from
 * on_sent. A peer that outruns its own reading by more than ECHO_BUF_LEN is reset.
 * Closes when the peer closes. Portable: the host tests drive it too.
 */
#include "net/echo.h"
#include "net/tcp.h"
#include "port.h"

struct echo_conn {
    uint8_t buf[ECHO_BUF_LEN]; /* (len) bytes not yet accepted by tcp_send */
    size_t len;
    bool peer_done;
};

static size_t n_active;

static void echo_flush(struct tcp_conn *c, struct echo_conn *e) {
    size_t n = tcp_send(c, e->buf, e->len);
    memmove(e->buf, e->buf + n, e->len - n);
    e->len -= n;
    tcp_recv_hold(c, e->len); /* the peer may not send more than we can echo */
    if (e->len == 0 && e->peer_done)
        tcp_close(c);
}

static void echo_on_accept(struct tcp_conn *c, void **ctx) {
    struct echo_conn *e = n_active < ECHO_MAX_CONNS ? port_alloc(sizeof(*e)) : NULL;
    if (!e) {
        tcp_abort(c);
        return;
    }
    e->len = 0;
    e->peer_done = false;
    *ctx = e;
    n_active++;
}

static void echo_on_recv(struct tcp_conn *c, void *ctx, const uint8_t *data, size_t len) {
    struct echo_conn *e = ctx;
    if (!e)
        return;
    if (len > ECHO_BUF_LEN - e->len) {
        tcp_abort(c);
        return;
    }
    memcpy(e->buf + e->len, data, len);
    e->len += len;
    echo_flush(c, e);
}

static void echo_on_sent(struct tcp_conn *c, void *ctx) {
    if (ctx)
        echo_flush(c, ctx);
}

static void echo_on_peer_fin(struct tcp_conn *c, void *ctx) {
    struct echo_conn *e = ctx;
    if (!e)
        return;
    e->peer_done = true;
    echo_flush(c, e);
}

static void echo_on_close(struct tcp_conn *c, void *ctx) {
    if (ctx) {
        port_free(ctx);
        n_active--;
    }
}

static const struct tcp_handler echo_handler = {
    .on_accept = echo_on_accept,
    .on_recv = echo_on_recv,
    .on_sent = echo_on_sent,
    .on_close = echo_on_close,
    .on_peer_fin = echo_on_peer_fin,
};

int echo_start(uint16_t port) {
    n_active = 0;
    return tcp_listen(port, &echo_handler);
}

size_t echo_active(void) {
    return n_active;
}
