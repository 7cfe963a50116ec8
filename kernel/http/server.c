/*
 * HTTP server glue: per-connection state between a byte transport and the hosted
 * app (struct http_app, server.h). Received bytes go through the incremental parser
 * (http_parse.c); each complete request goes to the app's handle op, which answers at
 * once or begins a response that it finishes later (a generation, written as the
 * scheduler produces it); output is queued and flushed as the transport accepts it.
 * Timeouts come from the caller's clock (now_ms), so the host tests drive them with a
 * fake one. Transport bindings: server_tcp.c (kernel) and the host harness.
 *
 * Re-entrancy: a transport may report closed() from inside send/close/abort; the
 * connection is then only marked dead and freed when the outermost glue call ends.
 *
 * Connection limit: at HTTP_MAX_CONNS, a new connection is admitted by marking one
 * that is not working on a response (one the server already closed, else the
 * longest idle, else the oldest unfinished request; never one younger than
 * HTTP_ACCEPT_GRACE_MS, so a burst of clients is not reset before it could send its
 * requests) for a reset on the next poll turn, so a flood of idle or half-sent
 * connections cannot lock clients out; with none to give way, 503 and Retry-After. The
 * reset waits for the poll turn because accepts arrive from inside the transport's
 * own callbacks.
 */
#include "http/conn.h"

static struct http_conn *http_conns;
static size_t http_n_conns;
static unsigned http_next_id;
static int http_depth;         /* glue calls in progress (reaping waits for 0) */
static size_t http_n_evicting; /* connections marked for a reset (evict) */
static uint64_t http_n_evicted;
static uint64_t http_sent_cycles; /* every connection's sent_cycles together */
static uint32_t http_request_timeout_ms = HTTP_REQUEST_TIMEOUT_MS;
static const struct http_app *http_app;

/* Connections whose transport is gone are kept here until reaped. */
static struct http_conn *http_dead;

size_t http_server_n_conns(void) {
    return http_n_conns;
}

uint64_t http_server_n_evicted(void) {
    return http_n_evicted;
}

uint64_t http_server_sent_cycles(void) {
    return http_sent_cycles;
}

void http_server_set_request_timeout(uint32_t ms) {
    http_request_timeout_ms = ms ? ms : HTTP_REQUEST_TIMEOUT_MS;
}

void http_server_host(const struct http_app *app) {
    http_app = app;
}

void http_conn_note_response(const struct http_conn *c, int status) {
    if (http_app && http_app->responded)
        http_app->responded(c ? c->route : NULL, status);
}

static void http_conn_free(struct http_conn *c) {
    if (http_app && http_app->conn_gone)
        http_app->conn_gone(c);
    if (c->parser) {
        http_parser_free(c->parser);
        port_free(c->parser);
    }
    hbuf_free(&c->out);
    hbuf_free(&c->pending);
    port_free(c);
}

static void http_reap(void) {
    while (http_dead) {
        struct http_conn *c = http_dead;
        http_dead = c->next;
        http_conn_free(c);
    }
}

static void http_enter(void) {
    http_depth++;
}

static void http_leave(void) {
    if (--http_depth == 0)
        http_reap();
}

void http_conn_write(struct http_conn *c, const void *data, size_t len) {
    hbuf_append(&c->out, data, len);
}

size_t http_conn_unsent(const struct http_conn *c) {
    return c->out.len - c->out_off;
}

static bool http_conn_alive(const struct http_conn *c) {
    return c->transport != NULL;
}

static void http_conn_flush(struct http_conn *c, uint64_t now_ms) {
    if (c->out.failed) {
        /* A response could not be built in memory: give up on the connection. */
        c->ops->abort(c->transport);
        return;
    }
    uint64_t c0 = port_cycles();
    while (http_conn_alive(c) && c->out_off < c->out.len) {
        size_t n = c->ops->send(c->transport, c->out.data + c->out_off, c->out.len - c->out_off);
        if (n == 0)
            break;
        c->out_off += n;
        c->last_ms = now_ms;
    }
    uint64_t spent = port_cycles() - c0;
    c->sent_cycles += spent; /* c is still valid: a closed transport only marks it dead */
    http_sent_cycles += spent;
    if (!http_conn_alive(c))
        return;
    if (c->out_off == c->out.len) {
        hbuf_reset(&c->out);
        c->out_off = 0;
    } else if (c->out_off >= 16384 && c->out_off * 2 >= c->out.len) {
        hbuf_consume(&c->out, c->out_off);
        c->out_off = 0;
    }
    if (c->close_after && !c->busy && c->out.len == 0 && !c->closing) {
        c->closing = true;
        c->ops->close(c->transport);
    }
}

void http_conn_response_done(struct http_conn *c) {
    c->busy = false;
    c->chunked_out = false;
    c->head_only = false;
    if (!c->keep_alive)
        c->close_after = true;
    /* After the peer's FIN, the poll turn closes once the requests it pipelined
     * before the FIN are answered. */
}

static void http_conn_parse(struct http_conn *c, const uint8_t *data, size_t len, uint64_t now_ms);

static void http_conn_dispatch(struct http_conn *c) {
    struct http_parser *p = c->parser;
    c->keep_alive = p->req.keep_alive;
    c->version_minor = p->req.version_minor;
    c->route = NULL;
    c->head_only = strcmp(p->req.method, "HEAD") == 0;
    if (http_app)
        http_app->handle(c, &p->req);
    else
        http_respond_error(c, 503, "no application is served");
    /* The handler copied what it needs; the parser is free for the next request. */
    http_parser_reset(p);
    c->sent_continue = false;
}

static void http_conn_stash(struct http_conn *c, const uint8_t *data, size_t len) {
    if (c->close_after)
        return;
    if (c->pending.len + len > HTTP_MAX_PENDING_BYTES) {
        /* The client sends far ahead of the answers: finish this one, then close. */
        c->keep_alive = false;
        c->close_after = true;
        hbuf_reset(&c->pending);
        return;
    }
    hbuf_append(&c->pending, data, len);
}

static void http_conn_parse(struct http_conn *c, const uint8_t *data, size_t len, uint64_t now_ms) {
    struct http_parser *p = c->parser;
    size_t off = 0;
    while (off < len && !c->busy && !c->close_after && http_conn_alive(c)) {
        bool was_started = p->started;
        size_t used = 0;
        enum http_parse_result r = http_parser_feed(p, data + off, len - off, &used);
        off += used;
        if (!was_started && p->started)
            c->req_start_ms = now_ms;
        if (r == HTTP_PARSE_MORE) {
            if (p->head_done && p->req.expect_continue && !c->sent_continue &&
                p->req.version_minor >= 1) {
                http_conn_write(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
                c->sent_continue = true;
            }
        } else if (r == HTTP_PARSE_ERROR) {
            c->keep_alive = false;
            c->version_minor = 1;
            c->route = "invalid";
            http_respond_error(c, p->status, p->error);
            break;
        } else {
            http_conn_dispatch(c);
        }
    }
    if (off < len && http_conn_alive(c))
        http_conn_stash(c, data + off, len - off);
}

/* Parse what waited while the previous response was produced; true if there was some. */
static bool http_conn_drain_pending(struct http_conn *c, uint64_t now_ms) {
    if (c->busy || c->pending.len == 0 || c->close_after)
        return false;
    struct hbuf tmp = c->pending;
    hbuf_init(&c->pending);
    http_conn_parse(c, (const uint8_t *)tmp.data, tmp.len, now_ms);
    hbuf_free(&tmp);
    return true;
}

/* The connection to reset so a new one fits, or NULL: first one the server closed
 * whose peer lingers, then the longest idle, then the oldest unfinished request;
 * never one producing or delivering a response, nor one still in its accept grace. */
static struct http_conn *http_conn_victim(uint64_t now_ms) {
    struct http_conn *best = NULL;
    int best_rank = 0;
    uint64_t best_ms = 0;
    for (struct http_conn *c = http_conns; c; c = c->next) {
        int rank;
        uint64_t since = c->last_ms;
        if (!http_conn_alive(c) || c->evict)
            continue;
        if (c->closing) {
            if (now_ms - c->last_ms < HTTP_CLOSE_GRACE_MS)
                continue;
            rank = 0;
        } else if (c->busy || http_conn_unsent(c) || c->close_after) {
            continue;
        } else if (now_ms - c->opened_ms < HTTP_ACCEPT_GRACE_MS) {
            continue;
        } else if (!c->parser->started && c->pending.len == 0) {
            rank = 1;
        } else {
            rank = 2;
            if (c->parser->started)
                since = c->req_start_ms;
        }
        if (!best || rank < best_rank || (rank == best_rank && since < best_ms)) {
            best = c;
            best_rank = rank;
            best_ms = since;
        }
    }
    return best;
}

struct http_conn *http_conn_open(void *t, const struct http_transport_ops *ops, uint64_t now_ms) {
    struct http_conn *c = NULL;
    struct http_conn *victim = NULL;
    if (http_n_conns - http_n_evicting >= HTTP_MAX_CONNS)
        victim = http_conn_victim(now_ms);
    if (http_n_conns - http_n_evicting < HTTP_MAX_CONNS || victim)
        c = port_alloc(sizeof(*c));
    if (c) {
        memset(c, 0, sizeof(*c));
        c->parser = port_alloc(sizeof(*c->parser));
        if (!c->parser) {
            port_free(c);
            c = NULL;
        }
    }
    if (!c) {
        static const char body[] = "{\"error\":{\"code\":503,\"message\":\"too many connections\","
                                   "\"type\":\"unavailable_error\"}}";
        char msg[256];
        int n = snprintf(msg, sizeof(msg),
                         "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n"
                         "Retry-After: %d\r\nContent-Type: application/json\r\n"
                         "Content-Length: %u\r\n\r\n%s",
                         HTTP_RETRY_AFTER_S, (unsigned)(sizeof(body) - 1), body);
        ops->send(t, msg, (size_t)n);
        http_conn_note_response(NULL, 503);
        return NULL;
    }
    if (victim) {
        victim->evict = true;
        http_n_evicting++;
    }
    http_parser_init(c->parser);
    hbuf_init(&c->out);
    hbuf_init(&c->pending);
    c->transport = t;
    c->ops = ops;
    c->id = ++http_next_id;
    c->last_ms = c->opened_ms = now_ms;
    c->keep_alive = true;
    c->version_minor = 1;
    c->next = http_conns;
    http_conns = c;
    http_n_conns++;
    return c;
}

void http_conn_recv(struct http_conn *c, const uint8_t *data, size_t len, uint64_t now_ms) {
    if (!http_conn_alive(c) || c->closing || c->evict)
        return;
    http_enter();
    c->last_ms = now_ms;
    if (c->busy || c->pending.len)
        http_conn_stash(c, data, len);
    else
        http_conn_parse(c, data, len, now_ms);
    if (http_conn_alive(c))
        http_conn_flush(c, now_ms);
    http_leave();
}

void http_conn_writable(struct http_conn *c, uint64_t now_ms) {
    if (!http_conn_alive(c))
        return;
    http_enter();
    http_conn_flush(c, now_ms);
    http_leave();
}

void http_conn_peer_fin(struct http_conn *c, uint64_t now_ms) {
    if (!http_conn_alive(c))
        return;
    http_enter();
    c->peer_fin = true;
    if (!c->busy && c->pending.len == 0)
        c->close_after = true; /* nothing more will come; an incomplete request is dropped */
    http_conn_flush(c, now_ms);
    http_leave();
}

void http_conn_closed(struct http_conn *c) {
    struct http_conn **pp = &http_conns;
    while (*pp && *pp != c)
        pp = &(*pp)->next;
    if (*pp) {
        *pp = c->next;
        http_n_conns--;
        if (c->evict)
            http_n_evicting--;
    }
    c->transport = NULL;
    c->next = http_dead;
    http_dead = c;
    if (http_depth == 0)
        http_reap();
}

static void http_conn_timeouts(struct http_conn *c, uint64_t now_ms) {
    struct http_parser *p = c->parser;
    if (http_conn_unsent(c) && now_ms - c->last_ms > HTTP_SEND_TIMEOUT_MS) {
        c->ops->abort(c->transport);
        return;
    }
    if (c->busy || c->closing)
        return;
    if (p->started && now_ms - c->req_start_ms > http_request_timeout_ms && !c->close_after) {
        c->keep_alive = false;
        c->version_minor = 1;
        c->route = "invalid";
        http_respond_error(c, 408, "request not received in time");
        return;
    }
    if (!p->started && !c->pending.len && !http_conn_unsent(c) &&
        now_ms - c->last_ms > HTTP_IDLE_TIMEOUT_MS)
        c->close_after = true;
}

bool http_server_poll_at(uint64_t now_ms) {
    bool worked = false;
    http_enter();
    struct http_conn *next;
    for (struct http_conn *c = http_conns; c; c = next) {
        next = c->next; /* c may be closed (and moved to the dead list) below */
        if (!http_conn_alive(c))
            continue;
        if (c->evict) {
            http_n_evicted++;
            c->ops->abort(c->transport);
            continue;
        }
        http_conn_flush(c, now_ms);
        if (!http_conn_alive(c))
            continue;
        http_conn_timeouts(c, now_ms);
        if (!http_conn_alive(c))
            continue;
        if (http_conn_drain_pending(c, now_ms))
            worked = true;
        if (c->peer_fin && !c->busy && c->pending.len == 0)
            c->close_after = true;
        if (http_conn_alive(c))
            http_conn_flush(c, now_ms);
    }
    http_leave();
    return worked;
}
