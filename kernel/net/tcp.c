/*
 * TCP: the connection pool, the listener table, the public API of net/tcp.h and
 * the timers (retransmission with the RFC 6298 RTO, zero-window persist,
 * TIME_WAIT and FIN_WAIT_2 expiry). Segment arrival is in tcp_in.c, segment
 * output in tcp_out.c. Memory: each connection owns one send buffer (allocated at
 * SYN, freed when the connection leaves the data-carrying states) and the copies
 * of queued out-of-order segments; net_stats.tcp_buffers counts all of them.
 */
#include "tcp_int.h"

struct tcp_listener {
    uint16_t port;  /* 0 = free */
    const struct tcp_handler *h;
};

struct tcp_conn tcp_conns[TCP_MAX_CONNS];
static struct tcp_listener listeners[TCP_LISTENERS];

static void tcp_free_buffers(struct tcp_conn *c) {
    if (c->sndbuf) {
        port_free(c->sndbuf);
        c->sndbuf = NULL;
        net_stats.tcp_buffers--;
    }
    for (size_t i = 0; i < TCP_OOO_SEGS; i++) {
        if (c->ooo[i].data) {
            port_free(c->ooo[i].data);
            c->ooo[i].data = NULL;
            net_stats.tcp_buffers--;
        }
    }
    c->snd_len = 0;
}

static void tcp_conn_free(struct tcp_conn *c) {
    tcp_free_buffers(c);
    if (c->state != TCP_STATE_FREE)
        net_stats.tcp_conns--;
    c->state = TCP_STATE_FREE;
}

void tcp_reset(void) {
    for (size_t i = 0; i < TCP_MAX_CONNS; i++) {
        tcp_free_buffers(&tcp_conns[i]);
        memset(&tcp_conns[i], 0, sizeof(tcp_conns[i]));
    }
    memset(listeners, 0, sizeof(listeners));
}

int tcp_listen(uint16_t port, const struct tcp_handler *h) {
    struct tcp_listener *slot = NULL;
    if (port == 0 || !h || !h->on_accept || !h->on_recv || !h->on_close)
        return -1;
    for (size_t i = 0; i < TCP_LISTENERS; i++) {
        if (listeners[i].port == port)
            return -1;
        if (listeners[i].port == 0 && !slot)
            slot = &listeners[i];
    }
    if (!slot)
        return -1;
    slot->port = port;
    slot->h = h;
    return 0;
}

const struct tcp_handler *tcp_listener_find(uint16_t port) {
    for (size_t i = 0; i < TCP_LISTENERS; i++)
        if (listeners[i].port == port)
            return listeners[i].h;
    return NULL;
}

struct tcp_conn *tcp_conn_find(uint32_t rip, uint16_t rport, uint32_t lip, uint16_t lport) {
    for (size_t i = 0; i < TCP_MAX_CONNS; i++) {
        struct tcp_conn *c = &tcp_conns[i];
        if (c->state != TCP_STATE_FREE && c->state != TCP_STATE_CLOSED && c->remote_ip == rip &&
            c->remote_port == rport && c->local_ip == lip && c->local_port == lport)
            return c;
    }
    return NULL;
}

/* A free slot; under pressure the oldest half-open connection (SYN flood) or the
 * oldest TIME_WAIT is recycled. NULL if every slot holds a live connection. */
struct tcp_conn *tcp_conn_alloc(void) {
    struct tcp_conn *oldest_syn = NULL, *oldest_tw = NULL, *slot = NULL;
    for (size_t i = 0; i < TCP_MAX_CONNS; i++) {
        struct tcp_conn *c = &tcp_conns[i];
        if (c->state == TCP_STATE_FREE) {
            if (!slot)
                slot = c;
        } else if (c->state == TCP_STATE_SYN_RCVD && !c->busy) {
            if (!oldest_syn || seq_lt(c->created_ms, oldest_syn->created_ms))
                oldest_syn = c;
        } else if (c->state == TCP_STATE_TIME_WAIT && !c->busy) {
            if (!oldest_tw || seq_lt(c->linger_at, oldest_tw->linger_at))
                oldest_tw = c;
        }
    }
    if (oldest_syn && (net_stats.tcp_half_open >= TCP_MAX_HALF_OPEN || !slot)) {
        net_drop(NET_DROP_TCP_HALF_OPEN_EVICTED);
        net_stats.tcp_half_open--;
        tcp_conn_free(oldest_syn);
        slot = oldest_syn;
    } else if (!slot && oldest_tw) {
        tcp_conn_free(oldest_tw);
        slot = oldest_tw;
    }
    if (!slot)
        return NULL;
    memset(slot, 0, sizeof(*slot));
    slot->sndbuf = port_alloc(TCP_SND_BUF);
    if (!slot->sndbuf)
        return NULL;
    net_stats.tcp_buffers++;
    net_stats.tcp_conns++;
    slot->created_ms = net_state.now_ms;
    return slot;
}

static void tcp_detach(struct tcp_conn *c) {
    if (c->attached) {
        c->attached = false;
        c->h->on_close(c, c->ctx);
    }
}

void tcp_conn_finish(struct tcp_conn *c) {
    if (c->state == TCP_STATE_SYN_RCVD)
        net_stats.tcp_half_open--;
    c->state = TCP_STATE_CLOSED;
    c->rexmit_armed = c->persist_armed = false;
    c->busy++;
    tcp_detach(c);
    c->busy--;
    tcp_conn_put(c);
}

void tcp_conn_put(struct tcp_conn *c) {
    if (c->state == TCP_STATE_CLOSED && c->busy == 0)
        tcp_conn_free(c);
}

void tcp_conn_enter_time_wait(struct tcp_conn *c) {
    c->state = TCP_STATE_TIME_WAIT;
    c->rexmit_armed = c->persist_armed = false;
    c->linger_at = net_state.now_ms + TCP_TIME_WAIT_MS;
    tcp_free_buffers(c);
    c->busy++;
    tcp_detach(c);
    c->busy--;
}

void tcp_rtt_sample(struct tcp_conn *c, uint32_t r) {
    if (c->srtt == 0) {
        c->srtt = r ? r : 1;
        c->rttvar = r / 2;
    } else {
        uint32_t diff = c->srtt > r ? c->srtt - r : r - c->srtt;
        c->rttvar = (3 * c->rttvar + diff) / 4;
        c->srtt = (7 * c->srtt + r) / 8;
    }
    uint32_t rto = c->srtt + MAX(1u, 4 * c->rttvar);
    c->rto = MIN(MAX(rto, (uint32_t)TCP_RTO_MIN_MS), (uint32_t)TCP_RTO_MAX_MS);
}

uint32_t tcp_rcv_window(const struct tcp_conn *c) {
    uint32_t w = c->rcv_held < TCP_RCV_WND ? TCP_RCV_WND - c->rcv_held : 0;
    if (seq_lt(c->rcv_nxt + w, c->rcv_adv))
        w = c->rcv_adv - c->rcv_nxt;
    return MIN(w, 0xffffu);
}

void tcp_recv_hold(struct tcp_conn *c, size_t held) {
    c->rcv_held = (uint32_t)MIN(held, (size_t)TCP_RCV_WND);
    if (c->state != TCP_STATE_ESTABLISHED && c->state != TCP_STATE_FIN_WAIT_1 && c->state != TCP_STATE_FIN_WAIT_2)
        return;
    /* Window update once it grew by a useful amount (receiver-side SWS avoidance). */
    uint32_t advertised = seq_gt(c->rcv_adv, c->rcv_nxt) ? c->rcv_adv - c->rcv_nxt : 0;
    if (tcp_rcv_window(c) >= advertised + MIN((uint32_t)TCP_MSS_LOCAL, TCP_RCV_WND / 2u)) {
        if (c->busy)
            c->ack_now = true;
        else
            tcp_send_ack(c);
    }
}

void tcp_rexmit_arm(struct tcp_conn *c) {
    c->rexmit_armed = true;
    c->rexmit_at = net_state.now_ms + c->rto;
}

/* ---- public API (net/tcp.h) ---- */

static bool tcp_can_send(const struct tcp_conn *c) {
    return (c->state == TCP_STATE_ESTABLISHED || c->state == TCP_STATE_CLOSE_WAIT) && !c->fin_queued &&
           c->sndbuf;
}

size_t tcp_send_space(const struct tcp_conn *c) {
    return tcp_can_send(c) ? TCP_SND_BUF - c->snd_len : 0;
}

size_t tcp_send(struct tcp_conn *c, const void *data, size_t len) {
    size_t n = MIN(len, tcp_send_space(c));
    if (n == 0)
        return 0;
    const uint8_t *src = data;
    uint32_t at = (c->buf_seq + c->snd_len) & (TCP_SND_BUF - 1);
    size_t first = MIN(n, (size_t)(TCP_SND_BUF - at));
    memcpy(c->sndbuf + at, src, first);
    memcpy(c->sndbuf, src + first, n - first);
    c->snd_len += (uint32_t)n;
    if (!c->busy)
        tcp_output(c);
    return n;
}

void tcp_close(struct tcp_conn *c) {
    if (c->fin_queued)
        return;
    if (c->state == TCP_STATE_ESTABLISHED)
        c->state = TCP_STATE_FIN_WAIT_1;
    else if (c->state == TCP_STATE_CLOSE_WAIT)
        c->state = TCP_STATE_LAST_ACK;
    else
        return;
    c->fin_queued = true;
    if (!c->busy)
        tcp_output(c);
}

void tcp_abort(struct tcp_conn *c) {
    if (c->state == TCP_STATE_FREE || c->state == TCP_STATE_CLOSED || c->state == TCP_STATE_TIME_WAIT)
        return;
    tcp_send_rst_conn(c);
    tcp_conn_finish(c);
}

uint32_t tcp_peer_ip(const struct tcp_conn *c) {
    return c->remote_ip;
}

uint16_t tcp_peer_port(const struct tcp_conn *c) {
    return c->remote_port;
}

/* ---- timers ---- */

static void tcp_retransmit(struct tcp_conn *c) {
    uint32_t limit = c->state == TCP_STATE_SYN_RCVD ? TCP_SYN_RETRIES : TCP_MAX_RETRIES;
    if (c->retries >= limit) {
        if (c->state != TCP_STATE_SYN_RCVD)
            tcp_send_rst_conn(c);
        tcp_conn_finish(c);
        return;
    }
    c->retries++;
    net_stats.tcp_retransmits++;
    c->rto = MIN(c->rto * 2, (uint32_t)TCP_RTO_MAX_MS);
    c->rtt_timing = false;  /* Karn: never time a retransmitted segment */
    uint32_t flight = c->snd_max - c->snd_una;
    c->ssthresh = MAX(flight / 2, 2u * c->mss);
    c->cwnd = c->mss;
    c->dupacks = 0;
    c->rexmit_armed = false;
    if (c->state == TCP_STATE_SYN_RCVD) {
        tcp_send_synack(c);
        return;
    }
    c->snd_nxt = c->snd_una;
    /* A zero window keeps the probe byte going: send one segment regardless. */
    if (c->snd_wnd == 0 && c->snd_len) {
        tcp_send_data(c, c->snd_nxt, 1);
        c->snd_nxt++;
        tcp_rexmit_arm(c);
        return;
    }
    tcp_output(c);
}

void tcp_timers(void) {
    uint32_t now = net_state.now_ms;
    for (size_t i = 0; i < TCP_MAX_CONNS; i++) {
        struct tcp_conn *c = &tcp_conns[i];
        if (c->state == TCP_STATE_FREE || c->state == TCP_STATE_CLOSED || c->busy)
            continue;
        if (c->state == TCP_STATE_TIME_WAIT || c->state == TCP_STATE_FIN_WAIT_2) {
            if (net_time_after_eq(now, c->linger_at))
                tcp_conn_finish(c);
            continue;
        }
        if (c->rexmit_armed && net_time_after_eq(now, c->rexmit_at)) {
            tcp_retransmit(c);
            continue;
        }
        if ((c->state == TCP_STATE_ESTABLISHED || c->state == TCP_STATE_CLOSE_WAIT) && !c->rexmit_armed &&
            net_time_after_eq(now, c->last_rx_ms + TCP_KEEPALIVE_IDLE_MS + c->ka_probes * TCP_KEEPALIVE_INTVL_MS)) {
            if (c->ka_probes >= TCP_KEEPALIVE_PROBES) {
                tcp_send_rst_conn(c);
                tcp_conn_finish(c);
                continue;
            }
            c->ka_probes++;
            tcp_send_keepalive(c);
        }
        if (c->persist_armed && net_time_after_eq(now, c->persist_at)) {
            c->persist_armed = false;
            if (c->snd_wnd == 0 && c->snd_len && c->snd_nxt == c->snd_una) {
                tcp_send_data(c, c->snd_nxt, 1);
                c->snd_nxt++;
                if (seq_gt(c->snd_nxt, c->snd_max))
                    c->snd_max = c->snd_nxt;
                tcp_rexmit_arm(c);
            }
        }
    }
}
