/*
 * TCP: the connection pool, the listener table, the public API of net/tcp.h and
 * the timers (retransmission with the RFC 6298 RTO, zero-window persist,
 * TIME_WAIT and FIN_WAIT_2 expiry). Segment arrival is in tcp_in.c, segment
 * output in tcp_out.c. Memory: each connection owns one send buffer (allocated at
 * SYN, freed when the connection leaves the data-carrying states) and the copies
 * of queued out-of-order segments; net_stats.tcp_buffers counts all of them.
 * SYN cookies (the ISS of every passive open) are made and checked here too.
 */
#include "tcp_int.h"

struct tcp_listener {
    uint16_t port; /* 0 = free */
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

static void tcp_cookie_rekey(void);

void tcp_reset(void) {
    tcp_cookie_rekey();
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

/* A free slot; when there is none the oldest half-open connection (its peer's ACK
 * still opens it through the SYN cookie), else the oldest TIME_WAIT, else the oldest
 * FIN_WAIT_2 (everything we sent, our FIN included, is acknowledged: only the peer's
 * FIN is missing, so it is reset rather than a new client turned away) is recycled.
 * NULL if every slot holds a live connection. */
struct tcp_conn *tcp_conn_alloc(void) {
    struct tcp_conn *oldest_syn = NULL, *oldest_tw = NULL, *oldest_fw2 = NULL, *slot = NULL;
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
        } else if (c->state == TCP_STATE_FIN_WAIT_2 && !c->busy) {
            if (!oldest_fw2 || seq_lt(c->linger_at, oldest_fw2->linger_at))
                oldest_fw2 = c;
        }
    }
    if (!slot && oldest_syn) {
        net_drop(NET_DROP_TCP_HALF_OPEN_EVICTED);
        net_stats.tcp_half_open--;
        tcp_conn_free(oldest_syn);
        slot = oldest_syn;
    } else if (!slot && oldest_tw) {
        tcp_conn_free(oldest_tw);
        slot = oldest_tw;
    } else if (!slot && oldest_fw2) {
        tcp_send_rst_conn(oldest_fw2);
        tcp_conn_finish(oldest_fw2); /* on_close, then freed: no call is using it */
        if (oldest_fw2->state == TCP_STATE_FREE)
            slot = oldest_fw2;
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
    if (c->state != TCP_STATE_ESTABLISHED && c->state != TCP_STATE_FIN_WAIT_1 &&
        c->state != TCP_STATE_FIN_WAIT_2)
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
    return (c->state == TCP_STATE_ESTABLISHED || c->state == TCP_STATE_CLOSE_WAIT) &&
           !c->fin_queued && c->sndbuf;
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
    if (c->state == TCP_STATE_FREE || c->state == TCP_STATE_CLOSED ||
        c->state == TCP_STATE_TIME_WAIT)
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

/* ---- SYN cookies ----
 * A SYN is remembered in a SYN_RCVD record while fewer than TCP_MAX_HALF_OPEN are
 * held and the pool has room; past that it is answered without a record. Either way
 * our ISS is a cookie, so the peer's ACK (ack = cookie + 1, seq = its ISS + 1) can
 * open the connection later, and a burst or a SYN flood never costs a client its
 * handshake. Layout of the 32-bit cookie:
 *   bits 31..8  SipHash-2-4 (key chosen at tcp_reset) of the 4-tuple, the peer's ISS
 *               and the epoch (now / TCP_COOKIE_EPOCH_MS), its top 24 bits
 *   bits  7..2  the epoch's low 6 bits: a check accepts this epoch and the one before
 *   bits  1..0  index into tcp_cookie_mss: the peer's MSS, rounded down
 */
static const uint16_t tcp_cookie_mss[4] = {TCP_MSS_DEFAULT, 1220, 1440, TCP_MSS_LOCAL};
static uint64_t tcp_cookie_key[2];

static inline uint64_t tcp_rotl64(uint64_t x, int b) {
    return x << b | x >> (64 - b);
}

static void tcp_sip_round(uint64_t v[4]) {
    v[0] += v[1];
    v[1] = tcp_rotl64(v[1], 13) ^ v[0];
    v[0] = tcp_rotl64(v[0], 32);
    v[2] += v[3];
    v[3] = tcp_rotl64(v[3], 16) ^ v[2];
    v[0] += v[3];
    v[3] = tcp_rotl64(v[3], 21) ^ v[0];
    v[2] += v[1];
    v[1] = tcp_rotl64(v[1], 17) ^ v[2];
    v[2] = tcp_rotl64(v[2], 32);
}

/* SipHash-2-4 of three 64-bit words (24 bytes) under tcp_cookie_key. */
static uint64_t tcp_siphash3(const uint64_t m[3]) {
    uint64_t v[4] = {
        tcp_cookie_key[0] ^ 0x736f6d6570736575ull,
        tcp_cookie_key[1] ^ 0x646f72616e646f6dull,
        tcp_cookie_key[0] ^ 0x6c7967656e657261ull,
        tcp_cookie_key[1] ^ 0x7465646279746573ull,
    };
    uint64_t last = (uint64_t)24 << 56;
    for (int i = 0; i <= 3; i++) {
        uint64_t w = i < 3 ? m[i] : last;
        v[3] ^= w;
        tcp_sip_round(v);
        tcp_sip_round(v);
        v[0] ^= w;
    }
    v[2] ^= 0xff;
    for (int i = 0; i < 4; i++)
        tcp_sip_round(v);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/* The key changes with each stack reset; its seed is the clock at that moment. */
static void tcp_cookie_rekey(void) {
    uint64_t t = port_time_us() ^ (port_unix_time() << 20);
    tcp_cookie_key[0] = t * 0x9e3779b97f4a7c15ull;
    tcp_cookie_key[1] = tcp_rotl64(t, 29) * 0xbf58476d1ce4e5b9ull ^ net_state.now_ms;
}

static uint32_t tcp_cookie_hash(uint32_t lip, uint32_t rip, uint16_t lport, uint16_t rport,
                                uint32_t irs, uint32_t epoch) {
    const uint64_t m[3] = {
        (uint64_t)lip << 32 | rip,
        (uint64_t)lport << 48 | (uint64_t)rport << 32 | irs,
        epoch,
    };
    return (uint32_t)(tcp_siphash3(m) >> 32) & 0xffffff00u;
}

uint32_t tcp_cookie_make(uint32_t lip, uint32_t rip, uint16_t lport, uint16_t rport, uint32_t irs,
                         uint16_t mss) {
    uint32_t epoch = net_state.now_ms / TCP_COOKIE_EPOCH_MS;
    uint32_t idx = 0;
    while (idx + 1 < ARRAY_SIZE(tcp_cookie_mss) && mss >= tcp_cookie_mss[idx + 1])
        idx++;
    return tcp_cookie_hash(lip, rip, lport, rport, irs, epoch) | (epoch & 0x3fu) << 2 | idx;
}

bool tcp_cookie_check(uint32_t lip, uint32_t rip, uint16_t lport, uint16_t rport, uint32_t irs,
                      uint32_t cookie, uint16_t *mss) {
    uint32_t now_epoch = net_state.now_ms / TCP_COOKIE_EPOCH_MS;
    for (uint32_t age = 0; age < 2; age++) {
        uint32_t epoch = now_epoch - age;
        if ((epoch & 0x3fu) != (cookie >> 2 & 0x3fu))
            continue;
        if (tcp_cookie_hash(lip, rip, lport, rport, irs, epoch) == (cookie & 0xffffff00u)) {
            *mss = tcp_cookie_mss[cookie & 3u];
            return true;
        }
    }
    return false;
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
    c->rtt_timing = false; /* Karn: never time a retransmitted segment */
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
        if ((c->state == TCP_STATE_ESTABLISHED || c->state == TCP_STATE_CLOSE_WAIT) &&
            !c->rexmit_armed &&
            net_time_after_eq(now, c->last_rx_ms + TCP_KEEPALIVE_IDLE_MS +
                                       c->ka_probes * TCP_KEEPALIVE_INTVL_MS)) {
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
