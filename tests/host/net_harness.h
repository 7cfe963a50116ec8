/*
 * net_harness.h: the test bench of the network stack's host unit tests. A fake NIC
 * captures what the stack sends, forging helpers build frames from a fake peer
 * (10.0.0.2) to the stack (10.0.0.1), a recording application stands behind a TCP
 * listener on port 80, and the clock is whatever the test says (advance()).
 * net_harness.c implements it and holds main(); the cases live in net_test_ip.c
 * (Ethernet, ARP, IPv4, ICMP, DHCP, statistics) and net_test_tcp.c (TCP).
 */
#ifndef CLLM_TESTS_NET_HARNESS_H
#define CLLM_TESTS_NET_HARNESS_H

#include "net/echo.h"
#include "net/net.h"
#include "net/net_param.h"
#include "net/prot/arp.h"
#include "net/prot/dhcp.h"
#include "net/prot/icmp.h"
#include "net/prot/ip.h"
#include "net/prot/tcp.h"
#include "net/prot/udp.h"
#include "net/tcp.h"
#include "net/udp.h"
#include "port.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                        \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

#define OUR_IP NET_IP4(10, 0, 0, 1)
#define PEER_IP NET_IP4(10, 0, 0, 2)
#define MASK NET_IP4(255, 255, 255, 0)
#define PORT 80 /* the recording application's port */
#define PEER_PORT 40000
#define PEER_ISS 5000u

/* A segment the peer sends. */
struct seg {
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;
    uint16_t wnd;
    const void *data;
    size_t len;
    uint16_t mss; /* 0: no option */
};

/* A parsed TCP segment the stack sent. */
struct out {
    uint32_t seq, ack;
    uint8_t flags;
    uint16_t wnd, sport, dport, mss;
    uint8_t data[ETH_FRAME_MAX];
    size_t len;
};

/* What the recording application saw. */
struct test_app {
    int accepts, closes, peer_fins, sents;
    uint8_t rx[65536];
    size_t rx_len;
    struct tcp_conn *conn;
    bool close_on_recv, abort_on_recv;
    bool hold; /* keep every received byte "unprocessed" (tcp_recv_hold) */
    struct tcp_conn *live[TCP_MAX_CONNS]; /* accepted, not yet closed */
};

extern struct test_app app;
extern struct netdev fake_dev;
extern const uint8_t peer_mac[6];
extern const uint8_t bcast[6];
extern uint32_t now_ms;
extern bool tx_full_mode;

int fake_send(struct netdev *d, const void *frame, size_t len); /* the fake NIC's ops */
bool fake_link(struct netdev *d);

size_t tx_count(void);
const uint8_t *tx_pop(size_t *len); /* the oldest sent frame, NULL if none */
void tx_clear(void);
void advance(uint32_t ms);   /* move the clock, running the timers every 10 ms */
void setup(bool configured); /* fresh stack on the fake NIC; configured: 10.0.0.1/24 */
uint16_t csum(uint32_t sum, const void *p, size_t n);
uint32_t pseudo(uint32_t s, uint32_t d, uint8_t proto, size_t len);
size_t eth(uint8_t *f, const uint8_t *dst, uint16_t type);
size_t ipv4(uint8_t *f, uint32_t src, uint32_t dst, uint8_t proto, size_t plen, uint16_t frag);
void send_seg(const struct seg *s);
bool pop_tcp(struct out *o); /* answers ARP for the peer on the way */
void send_arp(uint16_t op, uint32_t tpa, const uint8_t *dst);
void learn_peer(void);
void tcp_setup(void); /* setup(true), the app listening on PORT, peer known */
uint32_t handshake(uint16_t pport, uint16_t wnd); /* our ISS */
void check_clean(void); /* connections, half-open, buffers, ARP queue all zero */

/* The cases. */
void test_netdev_register(void);
void test_arp_reply(void);
void test_arp_resolve(void);
void test_icmp_echo(void);
void test_ip_checks(void);
void test_stats_format(void);
void test_dhcp(void);
void test_tcp_handshake_data(void);
void test_tcp_window_full(void);
void test_tcp_recv_window(void);
void test_tcp_keepalive_time_wait_reuse(void);
void test_tcp_retransmit(void);
void test_tcp_fast_retransmit_ooo(void);
void test_tcp_active_close_time_wait(void);
void test_tcp_reset(void);
void test_tcp_syn_flood(void);
void test_tcp_syn_burst(void);
void test_tcp_fin_wait_2_recycled(void);
void test_tcp_echo_bulk(void);
void test_tcp_fuzz(void);

#endif
