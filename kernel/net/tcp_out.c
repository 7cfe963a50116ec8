/*
 * TCP output: build segments (header, MSS option on SYN+ACK, checksum over the
 * pseudo header) and decide what to send: new data within min(peer window,
 * congestion window), our FIN after the last byte, pure ACKs and resets.
 * Called by tcp_in.c after each arrival, by tcp.c from the API and timers.
 */
#include "tcp_int.h"

static void tcp_emit(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, uint32_t seq,
                     uint32_t ack, uint8_t flags, struct tcp_conn *c, uint32_t data_seq,
                     uint32_t len, bool mss_opt) {
    uint8_t frame[ETH_FRAME_MAX];
    struct tcp_hdr *t = (struct tcp_hdr *)(frame + NET_IP_PAYLOAD_OFF);
    size_t hlen = TCP_HLEN + (mss_opt ? TCP_OPT_MSS_LEN : 0);
    t->sport = net_htons(sport);
    t->dport = net_htons(dport);
    t->seq = net_htonl(seq);
    t->ack = net_htonl(ack);
    t->off = (uint8_t)(hlen / 4) << 4;
    t->flags = flags;
    uint32_t wnd = 0;
    if (c && !(flags & TCP_RST)) {
        wnd = tcp_rcv_window(c);
        c->rcv_adv = c->rcv_nxt + wnd;
    }
    t->wnd = net_htons((uint16_t)wnd);
    t->csum = 0;
    t->urg = 0;
    uint8_t *p = (uint8_t *)t + TCP_HLEN;
    if (mss_opt) {
        p[0] = TCP_OPT_MSS;
        p[1] = TCP_OPT_MSS_LEN;
        p[2] = TCP_MSS_LOCAL >> 8;
        p[3] = TCP_MSS_LOCAL & 0xff;
        p += TCP_OPT_MSS_LEN;
    }
    if (len) {
        uint32_t at = data_seq & (TCP_SND_BUF - 1); /* the ring holds seq s at s mod size */
        uint32_t first = MIN(len, TCP_SND_BUF - at);
        memcpy(p, c->sndbuf + at, first);
        memcpy(p + first, c->sndbuf, len - first);
    }
    uint16_t tlen = (uint16_t)(hlen + len);
    t->csum = net_csum_fold(net_csum_add(net_csum_pseudo(src, dst, IP_PROTO_TCP, tlen), t, tlen));
    ip_output(src, dst, IP_PROTO_TCP, frame, tlen);
}

void tcp_send_rst(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, uint32_t seq,
                  uint32_t ack, uint8_t flags) {
    net_stats.tcp_resets_sent++;
    tcp_emit(src, dst, sport, dport, seq, ack, flags, NULL, 0, 0, false);
}

void tcp_send_rst_conn(struct tcp_conn *c) {
    tcp_send_rst(c->local_ip, c->remote_ip, c->local_port, c->remote_port, c->snd_nxt, c->rcv_nxt,
                 TCP_RST | TCP_ACK);
}

void tcp_send_synack(struct tcp_conn *c) {
    tcp_emit(c->local_ip, c->remote_ip, c->local_port, c->remote_port, c->iss, c->rcv_nxt,
             TCP_SYN | TCP_ACK, c, 0, 0, true);
    c->snd_nxt = c->iss + 1;
    if (seq_gt(c->snd_nxt, c->snd_max))
        c->snd_max = c->snd_nxt;
    tcp_rexmit_arm(c);
}

void tcp_send_ack(struct tcp_conn *c) {
    c->ack_now = false;
    tcp_emit(c->local_ip, c->remote_ip, c->local_port, c->remote_port, c->snd_nxt, c->rcv_nxt,
             TCP_ACK, c, 0, 0, false);
}

void tcp_send_data(struct tcp_conn *c, uint32_t seq, uint32_t len) {
    c->ack_now = false;
    tcp_emit(c->local_ip, c->remote_ip, c->local_port, c->remote_port, seq, c->rcv_nxt,
             TCP_ACK | TCP_PSH, c, seq, len, false);
}

void tcp_send_keepalive(struct tcp_conn *c) {
    tcp_emit(c->local_ip, c->remote_ip, c->local_port, c->remote_port, c->snd_nxt - 1, c->rcv_nxt,
             TCP_ACK, c, 0, 0, false);
}

static void tcp_send_fin(struct tcp_conn *c) {
    c->ack_now = false;
    tcp_emit(c->local_ip, c->remote_ip, c->local_port, c->remote_port, c->snd_nxt, c->rcv_nxt,
             TCP_FIN | TCP_ACK, c, 0, 0, false);
}

void tcp_output(struct tcp_conn *c) {
    bool sending = c->state == TCP_STATE_ESTABLISHED || c->state == TCP_STATE_CLOSE_WAIT ||
                   c->state == TCP_STATE_FIN_WAIT_1 || c->state == TCP_STATE_CLOSING ||
                   c->state == TCP_STATE_LAST_ACK;
    if (sending && c->sndbuf) {
        uint32_t data_end = c->buf_seq + c->snd_len;
        uint32_t wnd = MIN(c->snd_wnd, c->cwnd);
        while (seq_lt(c->snd_nxt, data_end)) {
            uint32_t flight = c->snd_nxt - c->snd_una;
            if (flight >= wnd)
                break;
            uint32_t n = MIN(MIN((uint32_t)c->mss, data_end - c->snd_nxt), wnd - flight);
            if (seq_lt(c->snd_nxt, c->snd_max))
                c->rtt_timing = c->rtt_timing && seq_lt(c->snd_nxt, c->rtt_seq);
            else if (!c->rtt_timing) {
                c->rtt_timing = true;
                c->rtt_seq = c->snd_nxt + n;
                c->rtt_start = net_state.now_ms;
            }
            tcp_send_data(c, c->snd_nxt, n);
            c->snd_nxt += n;
            if (seq_gt(c->snd_nxt, c->snd_max))
                c->snd_max = c->snd_nxt;
            if (!c->rexmit_armed)
                tcp_rexmit_arm(c);
        }
        if (c->fin_queued && c->snd_nxt == data_end) {
            tcp_send_fin(c);
            c->snd_nxt++;
            if (seq_gt(c->snd_nxt, c->snd_max))
                c->snd_max = c->snd_nxt;
            if (!c->rexmit_armed)
                tcp_rexmit_arm(c);
        }
        /* Data waits behind a zero window with nothing in flight: probe later. */
        if (c->snd_wnd == 0 && seq_lt(c->snd_nxt, data_end) && c->snd_nxt == c->snd_una &&
            !c->persist_armed && !c->rexmit_armed) {
            c->persist_armed = true;
            c->persist_at = net_state.now_ms + MAX(c->rto, (uint32_t)TCP_PERSIST_MS);
        }
    }
    if (c->ack_now)
        tcp_send_ack(c);
}
