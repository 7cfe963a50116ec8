/*
 * TCP input: checksum and header checks, demultiplexing to a connection or a
 * listener (a SYN, or an ACK carrying one of our SYN cookies), and the state machine
 * of RFC 793 for a passive opener (SYN_RCVD through TIME_WAIT): acceptability
 * against the receive window, RST and SYN in synchronized states, ACK processing
 * (send buffer, RTT sample, congestion window, duplicate ACKs), in-order delivery
 * with a small out-of-order queue, and FIN.
 * Every dropped segment goes through the one `drop` label with its reason.
 */
#include "tcp_int.h"

struct tcp_seg {
    uint32_t seq, ack;
    uint8_t flags;
    uint16_t wnd;
    const uint8_t *data;
    uint32_t len; /* data bytes */
    uint16_t mss; /* from the option, 0 if absent */
};

static uint16_t tcp_parse_mss(const uint8_t *opt, size_t n) {
    for (size_t i = 0; i < n;) {
        if (opt[i] == TCP_OPT_END)
            break;
        if (opt[i] == TCP_OPT_NOP) {
            i++;
            continue;
        }
        if (i + 1 >= n || opt[i + 1] < 2 || i + opt[i + 1] > n)
            break;
        if (opt[i] == TCP_OPT_MSS && opt[i + 1] == TCP_OPT_MSS_LEN)
            return (uint16_t)(opt[i + 2] << 8 | opt[i + 3]);
        i += opt[i + 1];
    }
    return 0;
}

/* Fill a fresh record for a passive open in SYN_RCVD: the peer's ISS irs, our ISS (a
 * SYN cookie), the peer's window and MSS (0: none given). */
static void tcp_passive_init(struct tcp_conn *c, uint32_t src, uint32_t dst, uint16_t sport,
                             uint16_t dport, uint32_t irs, uint32_t iss, uint16_t wnd, uint16_t mss,
                             const struct tcp_handler *h) {
    c->state = TCP_STATE_SYN_RCVD;
    c->local_ip = dst;
    c->remote_ip = src;
    c->local_port = dport;
    c->remote_port = sport;
    c->h = h;
    c->iss = iss;
    c->snd_una = c->snd_nxt = c->snd_max = c->iss;
    c->buf_seq = c->iss + 1;
    c->irs = irs;
    c->rcv_nxt = irs + 1;
    c->rcv_adv = c->rcv_nxt + TCP_RCV_WND;
    c->snd_wnd = wnd;
    c->snd_wl1 = irs;
    c->snd_wl2 = c->iss;
    c->last_rx_ms = net_state.now_ms;
    c->mss = mss ? MIN(MAX(mss, (uint16_t)64), (uint16_t)TCP_MSS_LOCAL) : TCP_MSS_DEFAULT;
    c->cwnd = (uint32_t)TCP_INIT_CWND_SEGS * c->mss;
    c->ssthresh = 0xffffffffu;
    c->rto = TCP_RTO_INIT_MS;
}

/* A SYN on a listening port: a SYN_RCVD record while the half-open table and the pool
 * have room, else a SYN+ACK from a record on the stack that is not kept (the cookie
 * in its seq is all the state; tcp_accept_cookie rebuilds the connection). */
static void tcp_accept_syn(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
                           const struct tcp_seg *s, const struct tcp_handler *h) {
    uint32_t iss = tcp_cookie_make(dst, src, dport, sport, s->seq, s->mss);
    struct tcp_conn *c = net_stats.tcp_half_open < TCP_MAX_HALF_OPEN ? tcp_conn_alloc() : NULL;
    if (!c) {
        struct tcp_conn once;
        memset(&once, 0, sizeof(once));
        tcp_passive_init(&once, src, dst, sport, dport, s->seq, iss, s->wnd, s->mss, h);
        net_stats.tcp_syn_cookies_sent++;
        tcp_send_synack(&once);
        return;
    }
    tcp_passive_init(c, src, dst, sport, dport, s->seq, iss, s->wnd, s->mss, h);
    net_stats.tcp_half_open++;
    tcp_send_synack(c);
}

static void tcp_conn_input(struct tcp_conn *c, struct tcp_seg *s);

/* An ACK with no record whose ack is one of our SYN cookies (its SYN was answered
 * without a record, or the record was recycled): open the connection now and let
 * the SYN_RCVD path take the segment (and any data in it). With the pool full the
 * segment is dropped without a reset: the peer sends it again and gets in once a
 * slot is free. */
static void tcp_accept_cookie(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
                              struct tcp_seg *s, const struct tcp_handler *h, uint16_t mss) {
    struct tcp_conn *c = tcp_conn_alloc();
    if (!c) {
        net_drop(NET_DROP_TCP_NO_CONN_SLOT);
        return;
    }
    tcp_passive_init(c, src, dst, sport, dport, s->seq - 1, s->ack - 1, s->wnd, mss, h);
    c->snd_nxt = c->snd_max = c->iss + 1; /* our SYN went out with the cookie */
    net_stats.tcp_half_open++;
    net_stats.tcp_syn_cookies_accepted++;
    c->busy++;
    tcp_conn_input(c, s);
    c->busy--;
    tcp_conn_put(c);
}

/* Remove acknowledged bytes; returns true if any data byte was newly acked. */
static bool tcp_ack_advance(struct tcp_conn *c, uint32_t ack) {
    uint32_t acked = ack - c->snd_una;
    uint32_t data_end = c->buf_seq + c->snd_len;
    bool data = false;
    if (seq_gt(ack, c->buf_seq) && c->snd_len) {
        uint32_t n = seq_lt(ack, data_end) ? ack - c->buf_seq : c->snd_len;
        c->buf_seq += n;
        c->snd_len -= n;
        data = n > 0;
    }
    c->snd_una = ack;
    if (seq_lt(c->snd_nxt, c->snd_una))
        c->snd_nxt = c->snd_una;
    if (c->rtt_timing && seq_ge(ack, c->rtt_seq)) {
        c->rtt_timing = false;
        tcp_rtt_sample(c, net_state.now_ms - c->rtt_start);
    }
    c->retries = 0;
    c->dupacks = 0;
    if (c->cwnd < c->ssthresh)
        c->cwnd += MIN(acked, (uint32_t)c->mss);
    else
        c->cwnd += MAX(1u, (uint32_t)c->mss * c->mss / c->cwnd);
    c->cwnd = MIN(c->cwnd, (uint32_t)TCP_SND_BUF * 4);
    c->rexmit_armed = false;
    if (c->snd_una != c->snd_max)
        tcp_rexmit_arm(c);
    return data;
}

/* Our FIN is acknowledged once snd_una passed the seq after the last data byte. */
static bool tcp_fin_acked(const struct tcp_conn *c) {
    return c->fin_queued && c->snd_len == 0 && c->snd_una == c->buf_seq + 1;
}

/* Move queued out-of-order segments that became in-order to the application. */
static bool tcp_deliver(struct tcp_conn *c, const uint8_t *data, uint32_t len) {
    if (len && c->attached &&
        (c->state == TCP_STATE_ESTABLISHED || c->state == TCP_STATE_FIN_WAIT_1 ||
         c->state == TCP_STATE_FIN_WAIT_2)) {
        c->rcv_nxt += len;
        c->h->on_recv(c, c->ctx, data, len);
    } else {
        c->rcv_nxt += len;
    }
    return c->state != TCP_STATE_CLOSED;
}

static void tcp_ooo_store(struct tcp_conn *c, const struct tcp_seg *s, bool fin) {
    struct tcp_ooo *slot = NULL;
    for (size_t i = 0; i < TCP_OOO_SEGS; i++) {
        if (c->ooo[i].data && c->ooo[i].seq == s->seq && c->ooo[i].len >= s->len)
            return; /* already have it */
        if (!c->ooo[i].data && !slot)
            slot = &c->ooo[i];
    }
    if (!slot) {
        net_drop(NET_DROP_TCP_OOO_FULL);
        return;
    }
    slot->data = port_alloc(s->len);
    if (!slot->data) {
        net_drop(NET_DROP_TCP_OOO_FULL);
        return;
    }
    net_stats.tcp_buffers++;
    net_stats.tcp_ooo_queued++;
    memcpy(slot->data, s->data, s->len);
    slot->seq = s->seq;
    slot->len = (uint16_t)s->len;
    slot->fin = fin;
}

static void tcp_ooo_free(struct tcp_conn *c, struct tcp_ooo *o) {
    port_free(o->data);
    o->data = NULL;
    net_stats.tcp_buffers--;
}

static void tcp_peer_fin(struct tcp_conn *c);

/* After in-order data: drain queued segments now reachable. Returns false if the
 * connection ended during a callback. */
static bool tcp_ooo_drain(struct tcp_conn *c) {
    bool progress = true;
    while (progress) {
        progress = false;
        for (size_t i = 0; i < TCP_OOO_SEGS; i++) {
            struct tcp_ooo *o = &c->ooo[i];
            if (!o->data)
                continue;
            uint32_t end = o->seq + o->len;
            if (seq_le(end, c->rcv_nxt) && !(o->fin && end == c->rcv_nxt)) {
                tcp_ooo_free(c, o); /* wholly old */
                continue;
            }
            if (seq_gt(o->seq, c->rcv_nxt))
                continue;
            uint32_t skip = c->rcv_nxt - o->seq;
            uint8_t *data = o->data;
            bool fin = o->fin;
            o->data = NULL; /* detach before the callback, free after */
            bool alive = tcp_deliver(c, data + skip, o->len - skip);
            port_free(data);
            net_stats.tcp_buffers--;
            if (!alive)
                return false;
            if (fin) {
                tcp_peer_fin(c);
                if (c->state == TCP_STATE_CLOSED)
                    return false;
            }
            progress = true;
        }
    }
    return true;
}

static void tcp_peer_fin(struct tcp_conn *c) {
    c->rcv_nxt++;
    c->ack_now = true;
    switch (c->state) {
    case TCP_STATE_ESTABLISHED:
        c->state = TCP_STATE_CLOSE_WAIT;
        if (c->attached && c->h->on_peer_fin)
            c->h->on_peer_fin(c, c->ctx);
        break;
    case TCP_STATE_FIN_WAIT_1:
        c->state = tcp_fin_acked(c) ? TCP_STATE_TIME_WAIT : TCP_STATE_CLOSING;
        if (c->state == TCP_STATE_TIME_WAIT) {
            tcp_send_ack(c);
            tcp_conn_enter_time_wait(c);
        }
        break;
    case TCP_STATE_FIN_WAIT_2:
        tcp_send_ack(c);
        tcp_conn_enter_time_wait(c);
        break;
    default:
        break;
    }
}

/* The segment for an existing connection (RFC 793 "SEGMENT ARRIVES", otherwise). */
static void tcp_conn_input(struct tcp_conn *c, struct tcp_seg *s) {
    enum net_drop why;
    uint32_t wnd_end = seq_gt(c->rcv_adv, c->rcv_nxt) ? c->rcv_adv : c->rcv_nxt;
    uint32_t seg_end = s->seq + s->len + ((s->flags & TCP_FIN) ? 1 : 0);

    if (c->state == TCP_STATE_TIME_WAIT) {
        if (s->flags & TCP_RST) {
            tcp_conn_finish(c);
            return;
        }
        if (s->flags & TCP_FIN) { /* our last ACK was lost: repeat it, restart 2MSL */
            tcp_send_ack(c);
            c->linger_at = net_state.now_ms + TCP_TIME_WAIT_MS;
            return;
        }
        why = NET_DROP_TCP_STATE;
        goto drop;
    }
    if (c->state == TCP_STATE_SYN_RCVD && (s->flags & TCP_SYN) && !(s->flags & TCP_ACK) &&
        s->seq == c->irs) {
        tcp_send_synack(c); /* the peer's SYN again: our SYN+ACK was lost */
        return;
    }
    /* Acceptability (RFC 793 p.69): some part of the segment inside the window. */
    bool ok = seq_ge(s->seq, c->rcv_nxt) ? seq_lt(s->seq, wnd_end) : seq_gt(seg_end, c->rcv_nxt);
    if (s->len == 0 && !(s->flags & (TCP_SYN | TCP_FIN)))
        ok = seq_ge(s->seq, c->rcv_nxt) && seq_le(s->seq, wnd_end);
    if (!ok) {
        if (!(s->flags & TCP_RST))
            tcp_send_ack(c);
        why = NET_DROP_TCP_OUT_OF_WINDOW;
        goto drop;
    }
    c->last_rx_ms = net_state.now_ms;
    c->ka_probes = 0;
    if (s->flags & TCP_RST) {
        if (s->seq != c->rcv_nxt) {
            tcp_send_ack(c); /* RFC 5961: a challenge ACK for an inexact reset */
            why = NET_DROP_TCP_OUT_OF_WINDOW;
            goto drop;
        }
        tcp_conn_finish(c);
        return;
    }
    if (s->flags & TCP_SYN) {
        tcp_send_ack(c); /* RFC 5961 challenge ACK for a SYN in a synchronized state */
        why = NET_DROP_TCP_STATE;
        goto drop;
    }
    if (!(s->flags & TCP_ACK)) {
        why = NET_DROP_TCP_BAD_ACK;
        goto drop;
    }

    /* ACK */
    if (c->state == TCP_STATE_SYN_RCVD) {
        if (s->ack != c->iss + 1) {
            tcp_send_rst(c->local_ip, c->remote_ip, c->local_port, c->remote_port, s->ack, 0,
                         TCP_RST);
            why = NET_DROP_TCP_BAD_ACK;
            goto drop;
        }
        c->state = TCP_STATE_ESTABLISHED;
        net_stats.tcp_half_open--;
        net_stats.tcp_accepted++;
        tcp_ack_advance(c, s->ack);
        c->snd_wnd = s->wnd;
        c->snd_wl1 = s->seq;
        c->snd_wl2 = s->ack;
        c->attached = true;
        c->h->on_accept(c, &c->ctx);
        if (c->state == TCP_STATE_CLOSED)
            return;
    } else if (seq_gt(s->ack, c->snd_max)) {
        tcp_send_ack(c);
        why = NET_DROP_TCP_BAD_ACK;
        goto drop;
    } else if (seq_gt(s->ack, c->snd_una)) {
        bool space = tcp_ack_advance(c, s->ack);
        if (space && c->attached && c->h->on_sent && !c->fin_queued) {
            c->h->on_sent(c, c->ctx);
            if (c->state == TCP_STATE_CLOSED)
                return;
        }
    } else if (s->ack == c->snd_una && s->len == 0 && !(s->flags & TCP_FIN) &&
               s->wnd == c->snd_wnd && c->snd_una != c->snd_max) {
        if (++c->dupacks == TCP_DUPACK_THRESH) {
            uint32_t flight = c->snd_max - c->snd_una;
            c->ssthresh = MAX(flight / 2, 2u * c->mss);
            c->cwnd = c->ssthresh;
            net_stats.tcp_fast_retransmits++;
            net_stats.tcp_retransmits++;
            uint32_t data_end = c->buf_seq + c->snd_len;
            if (seq_lt(c->snd_una, data_end)) {
                c->rtt_timing = false;
                tcp_send_data(c, c->snd_una, MIN((uint32_t)c->mss, data_end - c->snd_una));
            }
        }
    }
    /* Window update (RFC 793 p.72 guards against old segments). */
    if (seq_lt(c->snd_wl1, s->seq) || (c->snd_wl1 == s->seq && seq_le(c->snd_wl2, s->ack))) {
        if (s->wnd && c->snd_wnd == 0)
            c->persist_armed = false;
        c->snd_wnd = s->wnd;
        c->snd_wl1 = s->seq;
        c->snd_wl2 = s->ack;
    }
    if (tcp_fin_acked(c)) {
        if (c->state == TCP_STATE_FIN_WAIT_1) {
            c->state = TCP_STATE_FIN_WAIT_2;
            c->linger_at = net_state.now_ms + TCP_FIN_WAIT_2_MS;
        } else if (c->state == TCP_STATE_CLOSING) {
            tcp_conn_enter_time_wait(c);
            return;
        } else if (c->state == TCP_STATE_LAST_ACK) {
            tcp_conn_finish(c);
            return;
        }
    }

    /* Data and FIN */
    if (s->len == 0 && !(s->flags & TCP_FIN))
        goto out;
    if (c->state == TCP_STATE_CLOSE_WAIT || c->state == TCP_STATE_CLOSING ||
        c->state == TCP_STATE_LAST_ACK) {
        c->ack_now = true; /* the peer already sent FIN: nothing new can come */
        goto out;
    }
    bool fin = (s->flags & TCP_FIN) != 0;
    if (seq_lt(s->seq, c->rcv_nxt)) { /* trim what we already have */
        uint32_t skip = c->rcv_nxt - s->seq;
        if (skip >= s->len + (fin ? 1 : 0)) {
            c->ack_now = true;
            goto out;
        }
        skip = MIN(skip, s->len);
        s->data += skip;
        s->len -= skip;
        s->seq += skip;
    }
    if (seq_gt(s->seq + s->len, wnd_end)) { /* trim what does not fit the window */
        s->len = wnd_end - s->seq;
        fin = false;
    }
    c->ack_now = true;
    if (s->seq != c->rcv_nxt) {
        tcp_ooo_store(c, s, fin);
        goto out; /* the immediate duplicate ACK tells the peer what is missing */
    }
    if (!tcp_deliver(c, s->data, s->len))
        return;
    if (fin) {
        tcp_peer_fin(c);
        if (c->state == TCP_STATE_CLOSED || c->state == TCP_STATE_TIME_WAIT)
            return;
    } else if (!tcp_ooo_drain(c)) {
        return;
    }
out:
    if (c->state != TCP_STATE_CLOSED && c->state != TCP_STATE_TIME_WAIT)
        tcp_output(c);
    return;
drop:
    net_drop(why);
}

void tcp_input(uint32_t src, uint32_t dst, const uint8_t *pkt, size_t len) {
    enum net_drop why;
    const struct tcp_hdr *t = (const struct tcp_hdr *)pkt;
    if (len < TCP_HLEN) {
        why = NET_DROP_TCP_SHORT;
        goto drop;
    }
    size_t hlen = (size_t)(t->off >> 4) * 4;
    if (hlen < TCP_HLEN || hlen > len) {
        why = NET_DROP_TCP_SHORT;
        goto drop;
    }
    if (net_csum_fold(
            net_csum_add(net_csum_pseudo(src, dst, IP_PROTO_TCP, (uint16_t)len), pkt, len)) != 0) {
        why = NET_DROP_TCP_CHECKSUM;
        goto drop;
    }
    struct tcp_seg s = {
        .seq = net_ntohl(t->seq),
        .ack = net_ntohl(t->ack),
        .flags = t->flags,
        .wnd = net_ntohs(t->wnd),
        .data = pkt + hlen,
        .len = (uint32_t)(len - hlen),
        .mss = tcp_parse_mss(pkt + TCP_HLEN, hlen - TCP_HLEN),
    };
    uint16_t sport = net_ntohs(t->sport), dport = net_ntohs(t->dport);
    struct tcp_conn *c = tcp_conn_find(src, sport, dst, dport);
    if (c && c->state == TCP_STATE_TIME_WAIT &&
        (s.flags & (TCP_SYN | TCP_ACK | TCP_RST)) == TCP_SYN && seq_gt(s.seq, c->rcv_nxt)) {
        tcp_conn_finish(c); /* a new incarnation of the same 4-tuple: TIME_WAIT may end early */
        c = NULL;
    }
    if (c) {
        c->busy++;
        tcp_conn_input(c, &s);
        c->busy--;
        tcp_conn_put(c);
        return;
    }
    const struct tcp_handler *h = tcp_listener_find(dport);
    if (h && (s.flags & (TCP_SYN | TCP_ACK | TCP_RST)) == TCP_SYN) {
        tcp_accept_syn(src, dst, sport, dport, &s, h);
        return;
    }
    uint16_t mss;
    if (h && (s.flags & (TCP_SYN | TCP_ACK | TCP_RST)) == TCP_ACK &&
        tcp_cookie_check(dst, src, dport, sport, s.seq - 1, s.ack - 1, &mss)) {
        tcp_accept_cookie(src, dst, sport, dport, &s, h, mss);
        return;
    }
    /* No connection: answer with a reset (RFC 793 p.36), never to a reset. */
    if (!(s.flags & TCP_RST)) {
        if (s.flags & TCP_ACK)
            tcp_send_rst(dst, src, dport, sport, s.ack, 0, TCP_RST);
        else
            tcp_send_rst(dst, src, dport, sport, 0,
                         s.seq + s.len + ((s.flags & (TCP_SYN | TCP_FIN)) ? 1 : 0),
                         TCP_RST | TCP_ACK);
    }
    why = h ? NET_DROP_TCP_STATE : NET_DROP_TCP_NO_LISTENER;
drop:
    net_drop(why);
}
