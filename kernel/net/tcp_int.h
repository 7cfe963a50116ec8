/*
 * tcp_int.h: the connection record and the helpers shared by tcp.c (pool, API,
 * timers), tcp_in.c (segment arrival) and tcp_out.c (segment output). Nothing
 * outside kernel/net/tcp*.c includes it.
 *
 * Sequence space of a passive connection: iss is our SYN; data byte k (k >= 0)
 * of the send stream has seq iss + 1 + k. The send buffer is a ring of
 * TCP_SND_BUF bytes holding [buf_seq, buf_seq + snd_len): sent-but-unacked bytes
 * first, then queued-unsent ones. Our FIN, when queued, takes the seq right
 * after the last data byte.
 */
#ifndef CLLM_NET_TCP_INT_H
#define CLLM_NET_TCP_INT_H

#include "net/prot/tcp.h"
#include "net/stack.h"
#include "net/tcp.h"

enum tcp_state {
    TCP_STATE_FREE, /* slot unused */
    TCP_STATE_SYN_RCVD,
    TCP_STATE_ESTABLISHED,
    TCP_STATE_FIN_WAIT_1,
    TCP_STATE_FIN_WAIT_2,
    TCP_STATE_CLOSE_WAIT,
    TCP_STATE_CLOSING,
    TCP_STATE_LAST_ACK,
    TCP_STATE_TIME_WAIT,
    TCP_STATE_CLOSED, /* finished; the slot is freed when no call is using it */
};

struct tcp_ooo {
    uint8_t *data; /* port_alloc'd copy, NULL = free slot */
    uint32_t seq;
    uint16_t len; /* bytes of data */
    bool fin;     /* the segment carried FIN after its data */
};

struct tcp_conn {
    enum tcp_state state;
    uint32_t local_ip, remote_ip; /* host order */
    uint16_t local_port, remote_port;
    const struct tcp_handler *h;
    void *ctx;
    bool attached; /* on_accept called, on_close not yet */
    uint8_t busy;  /* nesting of stack calls using the record */
    uint32_t created_ms;

    /* send side */
    uint32_t iss, snd_una, snd_nxt, snd_max;
    uint32_t snd_wnd, snd_wl1, snd_wl2; /* peer window (bytes), RFC 793 update guards */
    uint8_t *sndbuf;                    /* (TCP_SND_BUF) ring, port_alloc'd at accept */
    uint32_t buf_seq;                   /* seq of sndbuf's first byte */
    uint32_t snd_len;                   /* bytes in sndbuf */
    bool fin_queued;                    /* tcp_close called: FIN goes after the data */
    uint16_t mss;                       /* peer's MSS, bytes */
    uint32_t cwnd, ssthresh;            /* bytes */
    uint8_t dupacks;

    /* RTO (RFC 6298), all ms */
    uint32_t srtt, rttvar, rto;
    bool rtt_timing;
    uint32_t rtt_seq, rtt_start;
    bool rexmit_armed;
    uint32_t rexmit_at;
    uint8_t retries;
    bool persist_armed;
    uint32_t persist_at;
    uint32_t linger_at;  /* TIME_WAIT / FIN_WAIT_2 end */
    uint32_t last_rx_ms; /* last acceptable segment from the peer (keepalive) */
    uint8_t ka_probes;   /* keepalive probes sent since then */

    /* receive side */
    uint32_t irs, rcv_nxt;
    uint32_t rcv_adv;  /* right edge of the window last advertised */
    uint32_t rcv_held; /* bytes the application holds (tcp_recv_hold) */
    bool ack_now;
    struct tcp_ooo ooo[TCP_OOO_SEGS];
};

extern struct tcp_conn tcp_conns[TCP_MAX_CONNS];

/* Sequence comparisons modulo 2^32. */
static inline bool seq_lt(uint32_t a, uint32_t b) {
    return (int32_t)(a - b) < 0;
}
static inline bool seq_le(uint32_t a, uint32_t b) {
    return (int32_t)(a - b) <= 0;
}
static inline bool seq_gt(uint32_t a, uint32_t b) {
    return (int32_t)(a - b) > 0;
}
static inline bool seq_ge(uint32_t a, uint32_t b) {
    return (int32_t)(a - b) >= 0;
}

/* tcp.c */
struct tcp_conn *tcp_conn_find(uint32_t rip, uint16_t rport, uint32_t lip, uint16_t lport);
const struct tcp_handler *tcp_listener_find(uint16_t port);
struct tcp_conn *tcp_conn_alloc(void);
void tcp_conn_finish(struct tcp_conn *c); /* -> CLOSED, on_close if attached, free when idle */
void tcp_conn_enter_time_wait(struct tcp_conn *c);
void tcp_conn_put(struct tcp_conn *c); /* end of a busy section: free if CLOSED */
void tcp_rtt_sample(struct tcp_conn *c, uint32_t rtt_ms);
void tcp_rexmit_arm(struct tcp_conn *c);
/* SYN cookies: the ISS of every passive open is tcp_cookie_make(...) of its SYN, so
 * an ACK can rebuild a connection that has no record (tcp_in.c). irs = the peer's ISS;
 * mss = the peer's MSS option (0: none). tcp_cookie_check: true if `cookie` was made
 * for this 4-tuple and irs within the last one to two TCP_COOKIE_EPOCH_MS, with the
 * MSS it encodes (rounded down to a table value) in *mss. */
uint32_t tcp_cookie_make(uint32_t lip, uint32_t rip, uint16_t lport, uint16_t rport, uint32_t irs,
                         uint16_t mss);
bool tcp_cookie_check(uint32_t lip, uint32_t rip, uint16_t lport, uint16_t rport, uint32_t irs,
                      uint32_t cookie, uint16_t *mss);
/* The receive window to advertise now: TCP_RCV_WND less what the application holds,
 * but never pulling the right edge back behind rcv_adv. */
uint32_t tcp_rcv_window(const struct tcp_conn *c);

/* tcp_out.c */
void tcp_output(struct tcp_conn *c); /* send what window and buffer allow, and due ACKs */
void tcp_send_synack(struct tcp_conn *c);
void tcp_send_ack(struct tcp_conn *c);
void tcp_send_rst_conn(struct tcp_conn *c);
void tcp_send_rst(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, uint32_t seq,
                  uint32_t ack, uint8_t flags);
void tcp_send_data(struct tcp_conn *c, uint32_t seq, uint32_t len); /* one segment from sndbuf */
void tcp_send_keepalive(
    struct tcp_conn *c); /* seq = snd_nxt - 1: the peer must answer with an ACK */

#endif
