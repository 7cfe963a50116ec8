/*
 * Host unit tests of TCP: handshake, data both ways, send and receive windows,
 * keepalive, retransmission with the RFC 6298 RTO, fast retransmit, out-of-order
 * queue, the close paths and TIME_WAIT, resets, SYN flood and bursts (SYN cookies),
 * bulk echo under loss, and random segments. Each case ends with check_clean(). Harness:
 * net_harness.h.
 */
#include "net_harness.h"

void test_tcp_handshake_data(void) {
    tcp_setup();
    uint32_t iss = handshake(PEER_PORT, 65535);
    CHECK(app.accepts == 1 && app.conn);
    CHECK(net_stats.tcp_half_open == 0 && net_stats.tcp_conns == 1);
    CHECK(net_stats.tcp_conns == 1 && net_stats.tcp_half_open == 0 && net_stats.tcp_accepted == 1);
    CHECK(tcp_peer_ip(app.conn) == PEER_IP && tcp_peer_port(app.conn) == PEER_PORT);
    /* Data in: delivered, ACKed. */
    send_seg(&(struct seg){PEER_PORT, PORT, PEER_ISS + 1, iss + 1, TCP_ACK | TCP_PSH, 65535,
                           "hello", 5, 0});
    CHECK(app.rx_len == 5 && memcmp(app.rx, "hello", 5) == 0);
    struct out o;
    CHECK(pop_tcp(&o) && o.flags == TCP_ACK && o.ack == PEER_ISS + 6 && o.len == 0);
    CHECK(o.wnd > 0);
    /* A duplicate is not delivered twice, but ACKed. */
    send_seg(&(struct seg){PEER_PORT, PORT, PEER_ISS + 1, iss + 1, TCP_ACK | TCP_PSH, 65535,
                           "hello", 5, 0});
    CHECK(app.rx_len == 5);
    CHECK(pop_tcp(&o) && o.ack == PEER_ISS + 6);
    /* Data out: segmented by the peer MSS (1000), ACK frees the buffer. */
    static uint8_t big[3000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 31);
    size_t space = tcp_send_space(app.conn);
    CHECK(tcp_send(app.conn, big, sizeof(big)) == sizeof(big));
    CHECK(tcp_send_space(app.conn) == space - sizeof(big));
    uint8_t got[3000];
    size_t got_len = 0;
    while (pop_tcp(&o)) {
        CHECK(o.len <= 1000 && o.seq == iss + 1 + got_len);
        memcpy(got + got_len, o.data, o.len);
        got_len += o.len;
    }
    CHECK(got_len == sizeof(big) && memcmp(got, big, sizeof(big)) == 0);
    send_seg(
        &(struct seg){PEER_PORT, PORT, PEER_ISS + 6, iss + 1 + 3000, TCP_ACK, 65535, NULL, 0, 0});
    CHECK(tcp_send_space(app.conn) == space && app.sents == 1);
    CHECK(tx_count() == 0); /* nothing to ACK for a pure ACK */
    /* Peer closes: CLOSE_WAIT, app closes, LAST_ACK, final ACK frees everything. */
    send_seg(&(struct seg){PEER_PORT, PORT, PEER_ISS + 6, iss + 3001, TCP_ACK | TCP_FIN, 65535,
                           NULL, 0, 0});
    CHECK(app.peer_fins == 1);
    CHECK(pop_tcp(&o) && o.ack == PEER_ISS + 7);
    tcp_close(app.conn);
    CHECK(pop_tcp(&o) && (o.flags & TCP_FIN) && o.seq == iss + 3001);
    CHECK(app.closes == 0);
    send_seg(&(struct seg){PEER_PORT, PORT, PEER_ISS + 7, iss + 3002, TCP_ACK, 65535, NULL, 0, 0});
    CHECK(app.closes == 1);
    check_clean();
}

void test_tcp_window_full(void) {
    tcp_setup();
    uint32_t iss = handshake(PEER_PORT, 0);
    struct out o;
    tx_clear();
    CHECK(tcp_send(app.conn, "abcdef", 6) == 6);
    CHECK(tx_count() == 0); /* zero window: nothing goes out */
    /* The persist timer probes with one byte. */
    advance(TCP_RTO_INIT_MS + 50);
    CHECK(pop_tcp(&o) && o.len == 1 && o.data[0] == 'a' && o.seq == iss + 1);
    /* The window opens: the rest flows. */
    send_seg(&(struct seg){PEER_PORT, PORT, PEER_ISS + 1, iss + 2, TCP_ACK, 100, NULL, 0, 0});
    CHECK(pop_tcp(&o) && o.len == 5 && memcmp(o.data, "bcdef", 5) == 0 && o.seq == iss + 2);
    /* A window of 3 bytes limits the next send to 3. */
    send_seg(&(struct seg){PEER_PORT, PORT, PEER_ISS + 1, iss + 7, TCP_ACK, 3, NULL, 0, 0});
    tx_clear();
    CHECK(tcp_send(app.conn, "0123456789", 10) == 10);
    CHECK(pop_tcp(&o) && o.len == 3 && !pop_tcp(&o));
    /* Our send buffer is bounded. */
    static uint8_t fill[TCP_SND_BUF];
    CHECK(tcp_send(app.conn, fill, sizeof(fill)) == TCP_SND_BUF - 10);
    CHECK(tcp_send_space(app.conn) == 0 && tcp_send(app.conn, "x", 1) == 0);
    tcp_abort(app.conn);
    CHECK(pop_tcp(&o) && (o.flags & TCP_RST));
    CHECK(app.closes == 1);
    check_clean();
}

/* Receive flow control: the window shrinks by what the application holds, its right
 * edge never moves back, data past it is cut off, and releasing reopens it at once. */
void test_tcp_recv_window(void) {
    tcp_setup();
    app.hold = true;
    uint32_t iss = handshake(PEER_PORT, 65535);
    struct out o;
    static uint8_t d[TCP_RCV_WND + 4000];
    for (size_t i = 0; i < sizeof(d); i++)
        d[i] = (uint8_t)(i * 5);
    uint32_t off = 0;
    tx_clear();
    for (int k = 0; k < 10; k++, off += 1000) {
        send_seg(&(struct seg){PEER_PORT, PORT, PEER_ISS + 1 + off, iss + 1, TCP_ACK, 65535,
                               d + off, 1000, 0});
        CHECK(pop_tcp(&o) && o.ack == PEER_ISS + 1 + off + 1000);
        CHECK(o.wnd == TCP_RCV_WND - (off + 1000));
    }
    /* 7000 more bytes: only what fits up to the advertised edge is taken. */
    for (int k = 0; k < 7; k++, off += 1000) {
        send_seg(&(struct seg){PEER_PORT, PORT, PEER_ISS + 1 + off, iss + 1, TCP_ACK, 65535,
                               d + off, 1000, 0});
        CHECK(pop_tcp(&o));
    }
    CHECK(app.rx_len == TCP_RCV_WND && memcmp(app.rx, d, TCP_RCV_WND) == 0);
    CHECK(o.ack == PEER_ISS + 1 + TCP_RCV_WND && o.wnd == 0);
    /* A zero-window probe is answered, not delivered. */
    send_seg(&(struct seg){PEER_PORT, PORT, PEER_ISS + 1 + TCP_RCV_WND, iss + 1, TCP_ACK, 65535,
                           "p", 1, 0});
    CHECK(app.rx_len == TCP_RCV_WND);
    CHECK(pop_tcp(&o) && o.ack == PEER_ISS + 1 + TCP_RCV_WND && o.wnd == 0);
    CHECK(net_stats.drops[NET_DROP_TCP_OUT_OF_WINDOW] == 1);
    /* A little processed: too small to announce (no silly window). */
    tcp_recv_hold(app.conn, TCP_RCV_WND - 100);
    CHECK(tx_count() == 0);
    /* All processed: a window update goes out by itself. */
    tcp_recv_hold(app.conn, 0);
    CHECK(pop_tcp(&o) && o.flags == TCP_ACK && o.wnd == TCP_RCV_WND);
    app.hold = false;
    tcp_abort(app.conn);
    check_clean();
}

/* A silent peer is probed, then reset; one that answers the probes stays. A new SYN
 * on the 4-tuple of a TIME_WAIT connection starts a new connection. */
void test_tcp_keepalive_time_wait_reuse(void) {
    tcp_setup();
    uint32_t iss = handshake(PEER_PORT, 65535);
    struct out o;
    tx_clear();
    advance(TCP_KEEPALIVE_IDLE_MS - 1000);
    CHECK(tx_count() == 0);
    advance(2000);
    CHECK(pop_tcp(&o) && o.seq == iss && o.len == 0 &&
          o.ack == PEER_ISS + 1); /* seq one below snd_nxt */
    send_seg(&(struct seg){PEER_PORT, PORT, PEER_ISS + 1, iss + 1, TCP_ACK, 65535, NULL, 0,
                           0}); /* answered */
    tx_clear();
    size_t probes = 0;
    bool rst = false;
    /* Silent from here on, but the peer's host still answers ARP (pop_tcp does). */
    for (uint32_t t = 0;
         t < TCP_KEEPALIVE_IDLE_MS + (TCP_KEEPALIVE_PROBES + 1) * TCP_KEEPALIVE_INTVL_MS;
         t += 1000) {
        CHECK(app.closes == 0 ||
              t >= TCP_KEEPALIVE_IDLE_MS + TCP_KEEPALIVE_PROBES * TCP_KEEPALIVE_INTVL_MS);
        advance(1000);
        while (pop_tcp(&o)) {
            probes += o.flags == TCP_ACK;
            rst = rst || (o.flags & TCP_RST);
        }
        CHECK(probes == 0 || t + 1000 >= TCP_KEEPALIVE_IDLE_MS);
    }
    CHECK(app.closes == 1);
    CHECK(probes == TCP_KEEPALIVE_PROBES && rst);
    check_clean();

    /* TIME_WAIT, then the same client port connects again with a higher sequence. */
    app.close_on_recv = true;
    iss = handshake(PEER_PORT, 65535);
    send_seg(&(struct seg){PEER_PORT, PORT, PEER_ISS + 1, iss + 1, TCP_ACK, 65535, "q", 1, 0});
    send_seg(&(struct seg){PEER_PORT, PORT, PEER_ISS + 2, iss + 2, TCP_ACK | TCP_FIN, 65535, NULL,
                           0, 0});
    CHECK(app.closes == 2 && net_stats.tcp_conns == 1); /* in TIME_WAIT */
    tx_clear();
    send_seg(&(struct seg){PEER_PORT, PORT, PEER_ISS + 100000, 0, TCP_SYN, 65535, NULL, 0, 0});
    CHECK(pop_tcp(&o) && o.flags == (TCP_SYN | TCP_ACK) && o.ack == PEER_ISS + 100001);
    send_seg(
        &(struct seg){PEER_PORT, PORT, PEER_ISS + 100001, o.seq + 1, TCP_ACK, 65535, NULL, 0, 0});
    CHECK(app.accepts == 3 && net_stats.tcp_conns == 1);
    tcp_abort(app.conn);
    check_clean();
}

void test_tcp_retransmit(void) {
    tcp_setup();
    uint32_t iss = handshake(PEER_PORT, 65535);
    struct out o, again;
    tx_clear();
    CHECK(tcp_send(app.conn, "payload", 7) == 7);
    CHECK(pop_tcp(&o) && o.len == 7);
    advance(TCP_RTO_INIT_MS - 100);
    CHECK(tx_count() == 0); /* not yet */
    advance(200);
    CHECK(pop_tcp(&again) && again.seq == o.seq && again.len == 7 &&
          memcmp(again.data, "payload", 7) == 0);
    CHECK(net_stats.tcp_retransmits == 1);
    /* Backoff: the next retransmission waits twice as long. */
    advance(TCP_RTO_INIT_MS * 2 - 200);
    CHECK(tx_count() == 0);
    advance(300);
    CHECK(pop_tcp(&again) && again.seq == iss + 1);
    /* ACK stops it; an RTT sample brings the RTO down. */
    send_seg(&(struct seg){PEER_PORT, PORT, PEER_ISS + 1, iss + 8, TCP_ACK, 65535, NULL, 0, 0});
    CHECK(tcp_send(app.conn, "more", 4) == 4);
    CHECK(pop_tcp(&o));
    advance(30);
    send_seg(&(struct seg){PEER_PORT, PORT, PEER_ISS + 1, iss + 12, TCP_ACK, 65535, NULL, 0, 0});
    CHECK(tcp_send(app.conn, "last", 4) == 4);
    CHECK(pop_tcp(&o));
    advance(TCP_RTO_MIN_MS + 50); /* RTO is now near the minimum, not 1 s */
    CHECK(pop_tcp(&again) && again.seq == o.seq);
    /* Never acknowledged: after the retry limit the connection is reset. */
    bool rst = false;
    for (int s = 0; s < TCP_RTO_MAX_MS / 1000 * (TCP_MAX_RETRIES + 1) && app.closes == 0; s++) {
        advance(1000);
        while (pop_tcp(&o))
            rst = rst || (o.flags & TCP_RST);
    }
    CHECK(app.closes == 1);
    while (pop_tcp(&o))
        rst = rst || (o.flags & TCP_RST);
    CHECK(rst);
    check_clean();
}

void test_tcp_fast_retransmit_ooo(void) {
    tcp_setup();
    uint32_t iss = handshake(PEER_PORT, 65535);
    struct out o;
    /* Out-of-order in: "world" before "hello " is queued, delivered after the gap fills. */
    send_seg(&(struct seg){PEER_PORT, PORT, PEER_ISS + 7, iss + 1, TCP_ACK, 65535, "world", 5, 0});
    CHECK(app.rx_len == 0);
    CHECK(pop_tcp(&o) && o.ack == PEER_ISS + 1); /* duplicate ACK names the gap */
    send_seg(&(struct seg){PEER_PORT, PORT, PEER_ISS + 1, iss + 1, TCP_ACK, 65535, "hello ", 6, 0});
    CHECK(app.rx_len == 11 && memcmp(app.rx, "hello world", 11) == 0);
    CHECK(pop_tcp(&o) && o.ack == PEER_ISS + 12);
    CHECK(net_stats.tcp_buffers == 1); /* the queued copy is freed */
    /* Overlapping retransmission: only the new tail is delivered. */
    send_seg(
        &(struct seg){PEER_PORT, PORT, PEER_ISS + 7, iss + 1, TCP_ACK, 65535, "world!!", 7, 0});
    CHECK(app.rx_len == 13 && memcmp(app.rx, "hello world!!", 13) == 0);
    tx_clear();
    /* Three duplicate ACKs resend the first unacked segment before the RTO. */
    static uint8_t data[4000];
    memset(data, 'z', sizeof(data));
    CHECK(tcp_send(app.conn, data, sizeof(data)) == sizeof(data));
    size_t sent = 0;
    while (pop_tcp(&o))
        sent++;
    CHECK(sent == 4); /* MSS 1000 */
    for (int i = 0; i < 3; i++)
        send_seg(
            &(struct seg){PEER_PORT, PORT, PEER_ISS + 14, iss + 1001, TCP_ACK, 65535, NULL, 0, 0});
    /* The first ACK advanced (1000), so the three that follow... */
    send_seg(&(struct seg){PEER_PORT, PORT, PEER_ISS + 14, iss + 1001, TCP_ACK, 65535, NULL, 0, 0});
    bool resent = false;
    while (pop_tcp(&o))
        resent = resent || (o.seq == iss + 1001 && o.len > 0);
    CHECK(resent && net_stats.tcp_fast_retransmits == 1);
    tcp_abort(app.conn);
    check_clean();
}

void test_tcp_active_close_time_wait(void) {
    tcp_setup();
    app.close_on_recv = true;
    uint32_t iss = handshake(PEER_PORT, 65535);
    struct out o;
    tx_clear();
    send_seg(&(struct seg){PEER_PORT, PORT, PEER_ISS + 1, iss + 1, TCP_ACK, 65535, "bye", 3, 0});
    /* One segment: ACK of the data and our FIN together. */
    CHECK(pop_tcp(&o) && (o.flags & TCP_FIN) && o.ack == PEER_ISS + 4 && o.seq == iss + 1);
    CHECK(!pop_tcp(&o));
    send_seg(&(struct seg){PEER_PORT, PORT, PEER_ISS + 4, iss + 2, TCP_ACK, 65535, NULL, 0,
                           0}); /* FIN_WAIT_2 */
    CHECK(app.closes == 0);
    send_seg(&(struct seg){PEER_PORT, PORT, PEER_ISS + 4, iss + 2, TCP_ACK | TCP_FIN, 65535, NULL,
                           0, 0});
    CHECK(pop_tcp(&o) && o.flags == TCP_ACK && o.ack == PEER_ISS + 5);
    CHECK(app.closes == 1); /* TIME_WAIT: the application is done */
    CHECK(net_stats.tcp_conns == 1 && net_stats.tcp_buffers == 0);
    /* A retransmitted FIN is ACKed again. */
    send_seg(&(struct seg){PEER_PORT, PORT, PEER_ISS + 4, iss + 2, TCP_ACK | TCP_FIN, 65535, NULL,
                           0, 0});
    CHECK(pop_tcp(&o) && o.ack == PEER_ISS + 5);
    advance(TCP_TIME_WAIT_MS + 50);
    check_clean();

    /* Simultaneous close: FIN crosses ours (CLOSING), then our FIN is ACKed. */
    app.close_on_recv = true;
    iss = handshake(PEER_PORT + 1, 65535);
    tx_clear();
    send_seg(&(struct seg){PEER_PORT + 1, PORT, PEER_ISS + 1, iss + 1, TCP_ACK, 65535, "x", 1, 0});
    CHECK(pop_tcp(&o) && (o.flags & TCP_FIN));
    send_seg(&(struct seg){PEER_PORT + 1, PORT, PEER_ISS + 2, iss + 1, TCP_ACK | TCP_FIN, 65535,
                           NULL, 0, 0});
    CHECK(pop_tcp(&o) && o.ack == PEER_ISS + 3);
    CHECK(app.closes == 1);
    send_seg(&(struct seg){PEER_PORT + 1, PORT, PEER_ISS + 3, iss + 2, TCP_ACK, 65535, NULL, 0, 0});
    CHECK(app.closes == 2);
    advance(TCP_TIME_WAIT_MS + 50);
    check_clean();
}

void test_tcp_reset(void) {
    tcp_setup();
    uint32_t iss = handshake(PEER_PORT, 65535);
    struct out o;
    tx_clear();
    /* A reset outside the window is ignored; inexact inside gets a challenge ACK. */
    send_seg(&(struct seg){PEER_PORT, PORT, PEER_ISS + 100000, 0, TCP_RST, 0, NULL, 0, 0});
    CHECK(app.closes == 0);
    send_seg(&(struct seg){PEER_PORT, PORT, PEER_ISS + 10, 0, TCP_RST, 0, NULL, 0, 0});
    CHECK(app.closes == 0 && pop_tcp(&o) && o.flags == TCP_ACK && o.ack == PEER_ISS + 1);
    send_seg(&(struct seg){PEER_PORT, PORT, PEER_ISS + 1, 0, TCP_RST, 0, NULL, 0, 0});
    CHECK(app.closes == 1);
    check_clean();
    /* The application aborts from inside on_recv. */
    app.abort_on_recv = true;
    iss = handshake(PEER_PORT, 65535);
    tx_clear();
    send_seg(&(struct seg){PEER_PORT, PORT, PEER_ISS + 1, iss + 1, TCP_ACK, 65535, "x", 1, 0});
    CHECK(app.closes == 2 && pop_tcp(&o) && (o.flags & TCP_RST));
    check_clean();
    /* No listener: RST; a stray ACK gets a RST with its ack as seq. */
    tx_clear();
    send_seg(&(struct seg){PEER_PORT, 81, 77, 0, TCP_SYN, 65535, NULL, 0, 0});
    CHECK(pop_tcp(&o) && o.flags == (TCP_RST | TCP_ACK) && o.ack == 78);
    CHECK(net_stats.drops[NET_DROP_TCP_NO_LISTENER] == 1);
    send_seg(&(struct seg){PEER_PORT, PORT, 77, 4242, TCP_ACK, 65535, NULL, 0, 0});
    CHECK(pop_tcp(&o) && o.flags == TCP_RST && o.seq == 4242);
    /* Bad checksum: dropped and counted, no answer. */
    uint8_t f[ETH_FRAME_MAX] = {0};
    struct tcp_hdr *t = (struct tcp_hdr *)(f + ETH_HLEN + IP_HLEN);
    t->sport = net_htons(PEER_PORT);
    t->dport = net_htons(PORT);
    t->off = 5 << 4;
    t->flags = TCP_SYN;
    t->csum = 0x1234;
    net_input(f, ipv4(f, PEER_IP, OUR_IP, IP_PROTO_TCP, TCP_HLEN, 0));
    CHECK(net_stats.drops[NET_DROP_TCP_CHECKSUM] == 1 && tx_count() == 0);
    check_clean();
}

void test_tcp_syn_flood(void) {
    tcp_setup();
    struct out o;
    /* Many SYNs that never complete: half-open records stay bounded, every SYN past
     * them is answered with a cookie and nothing is kept. */
    for (uint16_t i = 0; i < 200; i++) {
        send_seg(
            &(struct seg){(uint16_t)(20000 + i), PORT, 1000u * i, 0, TCP_SYN, 65535, NULL, 0, 0});
        CHECK(net_stats.tcp_half_open <= TCP_MAX_HALF_OPEN);
        CHECK(pop_tcp(&o) && o.flags == (TCP_SYN | TCP_ACK) && o.ack == 1000u * i + 1);
    }
    CHECK(net_stats.tcp_syn_cookies_sent == 200 - TCP_MAX_HALF_OPEN);
    CHECK(net_stats.tcp_conns == TCP_MAX_HALF_OPEN &&
          net_stats.drops[NET_DROP_TCP_HALF_OPEN_EVICTED] == 0);
    /* A real client still gets through (its handshake goes through the cookie). */
    uint32_t iss = handshake(PEER_PORT, 65535);
    CHECK(app.accepts == 1 && net_stats.tcp_syn_cookies_accepted == 1);
    /* SYN+ACKs are retried, then the half-open ones die. */
    advance(TCP_RTO_MAX_MS);
    CHECK(net_stats.tcp_half_open == 0 && net_stats.tcp_conns == 1);
    tx_clear();
    /* Many established connections at once, up to the pool. */
    for (uint16_t i = 1; i < TCP_MAX_CONNS; i++)
        handshake((uint16_t)(PEER_PORT + i), 65535);
    CHECK(net_stats.tcp_conns == TCP_MAX_CONNS && app.accepts == TCP_MAX_CONNS);
    tx_clear();
    /* The pool is full: a SYN still gets its cookie, its ACK is dropped without a
     * reset (the peer will send it again), and nothing is kept. */
    send_seg(&(struct seg){30000, PORT, 1, 0, TCP_SYN, 65535, NULL, 0, 0});
    CHECK(pop_tcp(&o) && o.flags == (TCP_SYN | TCP_ACK) && o.ack == 2);
    send_seg(&(struct seg){30000, PORT, 2, o.seq + 1, TCP_ACK, 65535, NULL, 0, 0});
    CHECK(net_stats.drops[NET_DROP_TCP_NO_CONN_SLOT] == 1 && !pop_tcp(&o));
    CHECK(net_stats.tcp_conns == TCP_MAX_CONNS && app.accepts == TCP_MAX_CONNS);
    /* Close them all from our side and let TIME_WAIT expire. */
    (void)iss;
    for (size_t k = 0; k < TCP_MAX_CONNS; k++) {
        /* app.conn only names the last; abort through the peer instead. */
        send_seg(&(struct seg){(uint16_t)(PEER_PORT + k), PORT, PEER_ISS + 1, 0, TCP_RST, 0, NULL,
                               0, 0});
    }
    CHECK(app.closes == TCP_MAX_CONNS);
    check_clean();
}

/* A burst: more clients than half-open records and than the pool start at once, each
 * sending its request with the handshake's ACK. Nobody is reset: the pool fills, the
 * rest are dropped quietly and get in when they send again after slots free up. */
void test_tcp_syn_burst(void) {
    enum { N = TCP_MAX_CONNS * 2 };
    static uint32_t cookie[N];
    tcp_setup();
    struct out o;
    for (uint16_t i = 0; i < N; i++) {
        send_seg(&(struct seg){(uint16_t)(30000 + i), PORT, 7000u * i, 0, TCP_SYN, 65535, NULL, 0,
                               1460});
        CHECK(pop_tcp(&o) && o.flags == (TCP_SYN | TCP_ACK) && o.ack == 7000u * i + 1);
        cookie[i] = o.seq;
    }
    CHECK(net_stats.tcp_half_open == TCP_MAX_HALF_OPEN);
    CHECK(net_stats.tcp_syn_cookies_sent == N - TCP_MAX_HALF_OPEN);
    /* Every ACK carries the request; the first TCP_MAX_CONNS fill the pool. */
    for (uint16_t i = 0; i < N; i++)
        send_seg(&(struct seg){(uint16_t)(30000 + i), PORT, 7000u * i + 1, cookie[i] + 1,
                               TCP_ACK | TCP_PSH, 65535, "GET", 3, 0});
    CHECK(app.accepts == TCP_MAX_CONNS && net_stats.tcp_conns == TCP_MAX_CONNS);
    CHECK(net_stats.tcp_half_open == 0 && net_stats.tcp_resets_sent == 0);
    CHECK(net_stats.drops[NET_DROP_TCP_NO_CONN_SLOT] == N - TCP_MAX_CONNS);
    CHECK(app.rx_len == 3u * TCP_MAX_CONNS);
    /* The served clients leave (reset), freeing the pool; the others send again. */
    for (uint16_t i = 0; i < TCP_MAX_CONNS; i++)
        send_seg(
            &(struct seg){(uint16_t)(30000 + i), PORT, 7000u * i + 4, 0, TCP_RST, 0, NULL, 0, 0});
    CHECK(app.closes == TCP_MAX_CONNS && net_stats.tcp_conns == 0);
    advance(3000);
    for (uint16_t i = TCP_MAX_CONNS; i < N; i++)
        send_seg(&(struct seg){(uint16_t)(30000 + i), PORT, 7000u * i + 1, cookie[i] + 1,
                               TCP_ACK | TCP_PSH, 65535, "GET", 3, 0});
    CHECK(app.accepts == N && app.rx_len == 3u * N && net_stats.tcp_resets_sent == 0);
    /* The last one was opened from its cookie: data flows both ways and is ACKed. */
    tx_clear();
    send_seg(&(struct seg){(uint16_t)(30000 + N - 1), PORT, 7000u * (N - 1) + 4, cookie[N - 1] + 1,
                           TCP_ACK | TCP_PSH, 65535, "more", 4, 0});
    CHECK(net_stats.drops[NET_DROP_TCP_BAD_ACK] == 0 && app.rx_len == 3u * N + 4);
    CHECK(pop_tcp(&o) && o.flags == TCP_ACK && o.ack == 7000u * (N - 1) + 8 &&
          o.seq == cookie[N - 1] + 1);
    CHECK(tcp_send(app.conn, "200 OK", 6) == 6);
    CHECK(pop_tcp(&o) && o.len == 6 && o.seq == cookie[N - 1] + 1);
    send_seg(&(struct seg){(uint16_t)(30000 + N - 1), PORT, 7000u * (N - 1) + 8, cookie[N - 1] + 7,
                           TCP_ACK, 65535, NULL, 0, 0});
    CHECK(net_stats.drops[NET_DROP_TCP_BAD_ACK] == 0 && tcp_send_space(app.conn) == TCP_SND_BUF);
    CHECK(net_stats.tcp_syn_cookies_accepted == N - TCP_MAX_HALF_OPEN);
    for (size_t k = 0; k < TCP_MAX_CONNS; k++) {
        if (app.live[k])
            tcp_abort(app.live[k]);
    }
    CHECK(net_stats.tcp_conns == 0);
    /* A cookie from two epochs ago, or for another peer ISS, opens nothing: reset. */
    advance(2 * TCP_COOKIE_EPOCH_MS + 1000);
    learn_peer(); /* the ARP entry expired meanwhile */
    for (uint16_t i = 0; i < TCP_MAX_HALF_OPEN;
         i++) /* records full: the next SYN gets a cookie only */
        send_seg(&(struct seg){(uint16_t)(41000 + i), PORT, 1, 0, TCP_SYN, 65535, NULL, 0, 0});
    tx_clear();
    send_seg(&(struct seg){40001, PORT, 1, 0, TCP_SYN, 65535, NULL, 0, 0});
    CHECK(pop_tcp(&o) && o.flags == (TCP_SYN | TCP_ACK));
    CHECK(net_stats.tcp_half_open == TCP_MAX_HALF_OPEN);
    uint32_t fresh = o.seq;
    send_seg(&(struct seg){40001, PORT, 2 + 1, fresh + 1, TCP_ACK, 65535, NULL, 0, 0});
    CHECK(pop_tcp(&o) && o.flags == TCP_RST);
    send_seg(&(struct seg){30000, PORT, 1, cookie[0] + 1, TCP_ACK, 65535, NULL, 0, 0});
    CHECK(pop_tcp(&o) && o.flags == TCP_RST);
    send_seg(&(struct seg){40001, PORT, 2, fresh + 1, TCP_ACK, 65535, NULL, 0, 0});
    CHECK(app.accepts == N + 1);
    for (size_t k = 0; k < TCP_MAX_CONNS; k++) {
        if (app.live[k])
            tcp_abort(app.live[k]);
    }
    advance(TCP_RTO_MAX_MS); /* the half-open records give up */
    check_clean();
}

/* A full pool of connections we closed whose peers ACKed our FIN but never close
 * (FIN_WAIT_2): a new client gets in, the oldest of them is reset to make room. */
void test_tcp_fin_wait_2_recycled(void) {
    tcp_setup();
    struct out o;
    uint32_t iss[TCP_MAX_CONNS];
    for (uint16_t i = 0; i < TCP_MAX_CONNS; i++) {
        advance(10);
        iss[i] = handshake((uint16_t)(PEER_PORT + i), 65535);
        tcp_close(app.conn);
        CHECK(pop_tcp(&o) && (o.flags & TCP_FIN));
        send_seg(&(struct seg){(uint16_t)(PEER_PORT + i), PORT, PEER_ISS + 1, iss[i] + 2, TCP_ACK,
                               65535, NULL, 0, 0});
    }
    CHECK(net_stats.tcp_conns == TCP_MAX_CONNS && app.closes == 0);
    uint64_t resets = net_stats.tcp_resets_sent;
    tx_clear();
    uint16_t port = PEER_PORT + TCP_MAX_CONNS;
    send_seg(&(struct seg){port, PORT, PEER_ISS, 0, TCP_SYN, 65535, NULL, 0, 1000});
    CHECK(pop_tcp(&o) && (o.flags & TCP_RST) && o.dport == PEER_PORT && o.seq == iss[0] + 2);
    CHECK(pop_tcp(&o) && o.flags == (TCP_SYN | TCP_ACK) && o.dport == port);
    send_seg(&(struct seg){port, PORT, PEER_ISS + 1, o.seq + 1, TCP_ACK, 65535, NULL, 0, 0});
    CHECK(app.accepts == TCP_MAX_CONNS + 1 && app.closes == 1 &&
          net_stats.tcp_resets_sent == resets + 1);
    CHECK(net_stats.tcp_conns == TCP_MAX_CONNS);
    tcp_abort(app.conn);
    advance(TCP_FIN_WAIT_2_MS + 100);
    check_clean();
}

void test_tcp_echo_bulk(void) {
    setup(true);
    learn_peer();
    CHECK(echo_start(ECHO_PORT) == 0);
    struct out o;
    send_seg(&(struct seg){PEER_PORT, ECHO_PORT, PEER_ISS, 0, TCP_SYN, 65535, NULL, 0, 1460});
    CHECK(pop_tcp(&o));
    uint32_t iss = o.seq;
    send_seg(
        &(struct seg){PEER_PORT, ECHO_PORT, PEER_ISS + 1, iss + 1, TCP_ACK, 65535, NULL, 0, 0});
    CHECK(echo_active() == 1);
    /* The echo service takes ECHO_MAX_CONNS at once; one more is reset. */
    for (uint16_t k = 1; k <= ECHO_MAX_CONNS; k++) {
        send_seg(
            &(struct seg){(uint16_t)(PEER_PORT + k), ECHO_PORT, 1, 0, TCP_SYN, 65535, NULL, 0, 0});
        CHECK(pop_tcp(&o));
        send_seg(&(struct seg){(uint16_t)(PEER_PORT + k), ECHO_PORT, 2, o.seq + 1, TCP_ACK, 65535,
                               NULL, 0, 0});
        bool rst = pop_tcp(&o) && (o.flags & TCP_RST);
        CHECK(rst == (k == ECHO_MAX_CONNS));
    }
    CHECK(echo_active() == ECHO_MAX_CONNS);
    for (uint16_t k = 1; k < ECHO_MAX_CONNS; k++)
        send_seg(&(struct seg){(uint16_t)(PEER_PORT + k), ECHO_PORT, 2, 0, TCP_RST, 0, NULL, 0, 0});
    CHECK(echo_active() == 1 && net_stats.tcp_conns == 1);
    /* 100 KB through, with every 7th incoming segment lost and our data ACKed as it comes. */
    static uint8_t src[100000], back[100000];
    for (size_t i = 0; i < sizeof(src); i++)
        src[i] = (uint8_t)(i * 13 + (i >> 8));
    size_t sent = 0, acked_in = 0, got = 0;
    uint32_t my_seq = PEER_ISS + 1;
    int n = 0;
    while (got < sizeof(src)) {
        if (sent < sizeof(src)) {
            size_t len = MIN((size_t)1000, sizeof(src) - sent);
            if (++n % 7 != 0) {
                send_seg(&(struct seg){PEER_PORT, ECHO_PORT, my_seq + (uint32_t)sent,
                                       iss + 1 + (uint32_t)got, TCP_ACK, 65535, src + sent, len,
                                       0});
            }
            sent += len;
        }
        while (pop_tcp(&o)) {
            if (o.ack - PEER_ISS - 1 > acked_in)
                acked_in = o.ack - PEER_ISS - 1;
            if (o.len && o.seq == iss + 1 + got) {
                memcpy(back + got, o.data, o.len);
                got += o.len;
            }
        }
        if (sent >= sizeof(src) || n % 50 == 0) {
            /* Go back to what the stack has acknowledged (what a peer's RTO would do). */
            sent = acked_in;
        }
        send_seg(&(struct seg){PEER_PORT, ECHO_PORT, my_seq + (uint32_t)sent,
                               iss + 1 + (uint32_t)got, TCP_ACK, 65535, NULL, 0, 0});
        CHECK(n < 100000);
    }
    CHECK(memcmp(src, back, sizeof(src)) == 0);
    CHECK(net_stats.tcp_ooo_queued > 0);
    /* Orderly close from the peer: echo closes back. */
    send_seg(&(struct seg){PEER_PORT, ECHO_PORT, my_seq + 100000, iss + 1 + 100000,
                           TCP_ACK | TCP_FIN, 65535, NULL, 0, 0});
    bool fin = false;
    while (pop_tcp(&o))
        fin = fin || (o.flags & TCP_FIN);
    CHECK(fin);
    send_seg(&(struct seg){PEER_PORT, ECHO_PORT, my_seq + 100001, iss + 2 + 100000, TCP_ACK, 65535,
                           NULL, 0, 0});
    check_clean();
}

/* Random segments against a listener and live connections: nothing crashes (the
 * sanitizers watch), every accepted connection is closed exactly once, and once
 * the application aborts what is left and the timers run out, nothing remains. */
void test_tcp_fuzz(void) {
    tcp_setup();
    uint32_t x = 2463534242u;
#define RND() (x ^= x << 13, x ^= x >> 17, x ^= x << 5, x)
    uint32_t iss[4];
    for (int k = 0; k < 4; k++)
        iss[k] = handshake((uint16_t)(PEER_PORT + k), 65535);
    static uint8_t junk[1400];
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (uint8_t)RND();
    for (int i = 0; i < 30000; i++) {
        int k = (int)(RND() % 6);
        uint16_t port = (uint16_t)(PEER_PORT + k);
        uint32_t near_seq = PEER_ISS + 1 + (RND() % 40000) - 2000;
        uint32_t near_ack = (k < 4 ? iss[k] : 0) + (RND() % 3000) - 100;
        uint8_t flags = (uint8_t)(RND() & 0x3f);
        if (RND() % 4)
            flags = (uint8_t)((flags & ~(TCP_RST | TCP_SYN)) | TCP_ACK);
        size_t len = RND() % 3 ? 0 : RND() % sizeof(junk);
        uint32_t seq = RND() % 8 ? near_seq : RND();
        uint32_t ack = RND() % 8 ? near_ack : RND();
        send_seg(&(struct seg){port, PORT, seq, ack, flags, (uint16_t)RND(), junk, len,
                               RND() % 4 ? 0 : (uint16_t)RND()});
        if (i % 50 == 0) {
            for (size_t c = 0; c < TCP_MAX_CONNS; c++)
                if (app.live[c] && RND() % 3 == 0)
                    tcp_send(app.live[c], junk, RND() % sizeof(junk));
            advance(RND() % 300);
        }
        if (i % 5000 == 0) {
            /* Fresh connections keep the established paths busy. */
            for (int k2 = 0; k2 < 4; k2++) {
                struct out o;
                uint16_t p = (uint16_t)(PEER_PORT + k2);
                tx_clear();
                send_seg(&(struct seg){p, PORT, PEER_ISS, 0, TCP_SYN, 65535, NULL, 0, 0});
                if (pop_tcp(&o) && o.flags == (TCP_SYN | TCP_ACK)) {
                    iss[k2] = o.seq;
                    send_seg(&(struct seg){p, PORT, PEER_ISS + 1, o.seq + 1, TCP_ACK, 65535, NULL,
                                           0, 0});
                }
            }
        }
        tx_clear();
    }
#undef RND
    for (size_t c = 0; c < TCP_MAX_CONNS; c++)
        if (app.live[c])
            tcp_abort(app.live[c]);
    CHECK(app.accepts == app.closes);
    advance(TCP_RTO_MAX_MS * (TCP_MAX_RETRIES + 1));
    tx_clear();
    check_clean();
}
