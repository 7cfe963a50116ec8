/*
 * The HTTP server on the kernel's TCP stack: binds the transport-neutral glue in
 * server.c to the callbacks of net/tcp.h, listens on cllm.port= for the app main.c
 * hands it (http_server_start, once the network is up) and gives the poll loop
 * http_poll(). Relies on net/tcp.h, cmdline.h and port.h; knows nothing of the app.
 */
#include "cmdline.h"
#include "http/http_param.h"
#include "http/server.h"
#include "net/echo.h"
#include "net/net_param.h"
#include "net/tcp.h"
#include "port.h"
#include "subsys.h" /* http_poll */

#define HTTP_PORT_DEFAULT 80

/* A new SYN must find a TCP slot while the HTTP connections and the echo service are
 * at their limits, or the server could never see the accept that evicts an idle one. */
_Static_assert(HTTP_MAX_CONNS + ECHO_MAX_CONNS < TCP_MAX_CONNS,
               "HTTP_MAX_CONNS leaves no TCP connection slot for new clients");

static uint64_t http_now_ms(void) {
    return port_time_us() / 1000u;
}

static size_t http_tcp_send(void *t, const void *data, size_t len) {
    return tcp_send(t, data, len);
}

static void http_tcp_close(void *t) {
    tcp_close(t);
}

static void http_tcp_abort(void *t) {
    tcp_abort(t);
}

static const struct http_transport_ops http_tcp_ops = {
    .send = http_tcp_send,
    .close = http_tcp_close,
    .abort = http_tcp_abort,
};

static void http_on_accept(struct tcp_conn *tc, void **ctx) {
    struct http_conn *c = http_conn_open(tc, &http_tcp_ops, http_now_ms());
    *ctx = c;
    if (!c)
        tcp_close(tc);
}

static void http_on_recv(struct tcp_conn *tc, void *ctx, const uint8_t *data, size_t len) {
    if (ctx)
        http_conn_recv(ctx, data, len, http_now_ms());
}

static void http_on_sent(struct tcp_conn *tc, void *ctx) {
    if (ctx)
        http_conn_writable(ctx, http_now_ms());
}

static void http_on_close(struct tcp_conn *tc, void *ctx) {
    if (ctx)
        http_conn_closed(ctx);
}

static void http_on_peer_fin(struct tcp_conn *tc, void *ctx) {
    if (ctx)
        http_conn_peer_fin(ctx, http_now_ms());
}

static const struct tcp_handler http_tcp_handler = {
    .on_accept = http_on_accept,
    .on_recv = http_on_recv,
    .on_sent = http_on_sent,
    .on_close = http_on_close,
    .on_peer_fin = http_on_peer_fin,
};

static bool http_started;

void http_server_start(const struct http_app *app) {
    if (http_started)
        return;
    http_server_host(app);
    uint32_t port = HTTP_PORT_DEFAULT;
    cmdline_get_u32("port", &port);
    uint32_t timeout_ms;
    if (cmdline_get_u32("request_timeout_ms", &timeout_ms))
        http_server_set_request_timeout(timeout_ms);
    if (tcp_listen((uint16_t)port, &http_tcp_handler) != 0) {
        port_log("http: cannot listen on port %u", (unsigned)port);
        return;
    }
    http_started = true;
    port_log("http: listening on port %u", (unsigned)port);
}

bool http_poll(void) {
    return http_started && http_server_poll_at(http_now_ms());
}
