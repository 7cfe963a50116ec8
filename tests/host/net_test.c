/*
 * Host unit tests of the network stack (kernel/net): a fake NIC captures what the
 * stack sends, a fake peer forges frames (ARP, ICMP, UDP/DHCP, TCP) and the clock
 * is whatever the test says. Run as `net_test <case>`; prints "ok <case>" and
 * exits 0, or names the failed check and exits 1. tests/test_net_host.py runs
 * every case under ASan/UBSan. Every TCP case ends by checking that connections,
 * half-open slots, buffers and pending ARP frames are back to zero.
 */
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

#define CHECK(cond)                                                               \
    do {                                                                          \
        if (!(cond)) {                                                            \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);       \
            exit(1);                                                              \
        }                                                                         \
    } while (0)

/* ---- fake NIC ---- */

#define TX_MAX 256
static uint8_t tx_frames[TX_MAX][ETH_FRAME_MAX];
static size_t tx_lens[TX_MAX];
static size_t tx_head, tx_tail;
static bool tx_full_mode;  /* the device refuses frames */

static int fake_send(struct netdev *d, const void *frame, size_t len) {
    if (tx_full_mode || tx_tail - tx_head == TX_MAX)
        return -1;
    CHECK(len <= ETH_FRAME_MAX && len >= ETH_FRAME_MIN);
    memcpy(tx_frames[tx_tail % TX_MAX], frame, len);
    tx_lens[tx_tail % TX_MAX] = len;
    tx_tail++;
    return 0;
}
static int fake_poll(struct netdev *d, netdev_rx_fn rx, int budget) { return 0; }
static bool fake_link(struct netdev *d) { return true; }
static const struct netdev_ops fake_ops = {fake_send, fake_poll, fake_link};
static struct netdev fake_dev = {"fake", {0x02, 0, 0, 0, 0, 0x01}, &fake_ops, NULL};

static const uint8_t peer_mac[6] = {0x02, 0, 0, 0, 0, 0x02};
#define OUR_IP NET_IP4(10, 0, 0, 1)
#define PEER_IP NET_IP4(10, 0, 0, 2)
#define MASK NET_IP4(255, 255, 255, 0)

static uint32_t now_ms = 1000;

static size_t tx_count(void) { return tx_tail - tx_head; }

/* Pop the oldest sent frame; NULL if none. */
static const uint8_t *tx_pop(size_t *len) {
    if (tx_head == tx_tail)
        return NULL;
    *len = tx_lens[tx_head % TX_MAX];
    return tx_frames[tx_head++ % TX_MAX];
}

static void tx_clear(void) { tx_head = tx_tail; }

static void advance(uint32_t ms) {
    /* Step in small increments like the poll loop. */
    for (uint32_t t = 0; t < ms; t += 10) {
        now_ms += MIN(10u, ms - t);
        net_stack_poll(now_ms);
    }
}

static void setup(bool configured) {
    netdev_reset();
    CHECK(netdev_register(&fake_dev) == 0);
    tx_head = tx_tail = 0;
    tx_full_mode = false;
    net_stack_init(&fake_dev, now_ms);
    if (configured)
        net_stack_configure(OUR_IP, MASK, NET_IP4(10, 0, 0, 254));
}

/* ---- frame forging ---- */

static uint16_t csum(uint32_t sum, const void *p, size_t n) {
    const uint8_t *b = p;
    for (size_t i = 0; i + 1 < n; i += 2)
        sum += (uint32_t)b[i] << 8 | b[i + 1];
    if (n & 1)
        sum += (uint32_t)b[n - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return net_htons((uint16_t)~sum);
}

static uint32_t pseudo(uint32_t s, uint32_t d, uint8_t proto, size_t len) {
    return (s >> 16) + (s & 0xffff) + (d >> 16) + (d & 0xffff) + proto + (uint32_t)len;
}

static size_t eth(uint8_t *f, const uint8_t *dst, uint16_t type) {
    struct eth_hdr *e = (struct eth_hdr *)f;
    memcpy(e->dst, dst, 6);
    memcpy(e->src, peer_mac, 6);
    e->type = net_htons(type);
    return ETH_HLEN;
}

/* IPv4 header at f + ETH_HLEN around a payload already at f + 34. */
static size_t ipv4(uint8_t *f, uint32_t src, uint32_t dst, uint8_t proto, size_t plen, uint16_t frag) {
    eth(f, fake_dev.mac, ETH_TYPE_IPV4);
    struct ip_hdr *ip = (struct ip_hdr *)(f + ETH_HLEN);
    ip->ver_ihl = 0x45;
    ip->tos = 0;
    ip->len = net_htons((uint16_t)(IP_HLEN + plen));
    ip->id = net_htons(77);
    ip->frag_off = net_htons(frag);
    ip->ttl = 64;
    ip->proto = proto;
    ip->csum = 0;
    ip->src = net_htonl(src);
    ip->dst = net_htonl(dst);
    ip->csum = csum(0, ip, IP_HLEN);
    return ETH_HLEN + IP_HLEN + plen;
}

struct seg {
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;
    uint16_t wnd;
    const void *data;
    size_t len;
    uint16_t mss;  /* 0: no option */
};

static void send_seg(const struct seg *s) {
    uint8_t f[ETH_FRAME_MAX];
    memset(f, 0, sizeof(f));
    struct tcp_hdr *t = (struct tcp_hdr *)(f + ETH_HLEN + IP_HLEN);
    size_t hlen = TCP_HLEN + (s->mss ? 4 : 0);
    t->sport = net_htons(s->sport);
    t->dport = net_htons(s->dport);
    t->seq = net_htonl(s->seq);
    t->ack = net_htonl(s->ack);
    t->off = (uint8_t)(hlen / 4) << 4;
    t->flags = s->flags;
    t->wnd = net_htons(s->wnd);
    if (s->mss) {
        uint8_t *o = (uint8_t *)t + TCP_HLEN;
        o[0] = TCP_OPT_MSS;
        o[1] = 4;
        o[2] = (uint8_t)(s->mss >> 8);
        o[3] = (uint8_t)s->mss;
    }
    if (s->len)
        memcpy((uint8_t *)t + hlen, s->data, s->len);
    t->csum = csum(pseudo(PEER_IP, OUR_IP, IP_PROTO_TCP, hlen + s->len), t, hlen + s->len);
    net_input(f, ipv4(f, PEER_IP, OUR_IP, IP_PROTO_TCP, hlen + s->len, 0));
}

/* A parsed TCP segment the stack sent. */
struct out {
    uint32_t seq, ack;
    uint8_t flags;
    uint16_t wnd, sport, dport, mss;
    uint8_t data[ETH_FRAME_MAX];
    size_t len;
};

static void send_arp(uint16_t op, uint32_t tpa, const uint8_t *dst);

/* Pop the next frame, check it is a valid TCP segment to the peer, parse it.
 * ARP requests for the peer (its cache entry expired) are answered on the way. */
static bool pop_tcp(struct out *o) {
    size_t len;
    const uint8_t *f = tx_pop(&len);
    if (!f)
        return false;
    const struct eth_hdr *e = (const struct eth_hdr *)f;
    if (net_ntohs(e->type) == ETH_TYPE_ARP) {
        const struct arp_pkt *a = (const struct arp_pkt *)(f + ETH_HLEN);
        CHECK(net_ntohs(a->op) == ARP_OP_REQUEST && net_ntohl(a->tpa) == PEER_IP);
        send_arp(ARP_OP_REPLY, OUR_IP, fake_dev.mac);
        return pop_tcp(o);
    }
    CHECK(net_ntohs(e->type) == ETH_TYPE_IPV4);
    CHECK(memcmp(e->dst, peer_mac, 6) == 0);
    const struct ip_hdr *ip = (const struct ip_hdr *)(f + ETH_HLEN);
    CHECK(csum(0, ip, IP_HLEN) == 0);
    CHECK(ip->proto == IP_PROTO_TCP);
    CHECK(net_ntohl(ip->dst) == PEER_IP && net_ntohl(ip->src) == OUR_IP);
    size_t tlen = net_ntohs(ip->len) - IP_HLEN;
    const struct tcp_hdr *t = (const struct tcp_hdr *)(f + ETH_HLEN + IP_HLEN);
    CHECK(csum(pseudo(OUR_IP, PEER_IP, IP_PROTO_TCP, tlen), t, tlen) == 0);
    size_t hlen = (size_t)(t->off >> 4) * 4;
    o->seq = net_ntohl(t->seq);
    o->ack = net_ntohl(t->ack);
    o->flags = t->flags;
    o->wnd = net_ntohs(t->wnd);
    o->sport = net_ntohs(t->sport);
    o->dport = net_ntohs(t->dport);
    o->mss = 0;
    if (hlen >= 24 && ((const uint8_t *)t)[20] == TCP_OPT_MSS)
        o->mss = (uint16_t)(((const uint8_t *)t)[22] << 8 | ((const uint8_t *)t)[23]);
    o->len = tlen - hlen;
    memcpy(o->data, (const uint8_t *)t + hlen, o->len);
    return true;
}

/* ---- a recording application ---- */

static struct {
    int accepts, closes, peer_fins, sents;
    uint8_t rx[65536];
    size_t rx_len;
    struct tcp_conn *conn;
    bool close_on_recv, abort_on_recv;
    bool hold;  /* keep every received byte "unprocessed" (tcp_recv_hold) */
    struct tcp_conn *live[TCP_MAX_CONNS];  /* accepted, not yet closed */
} app;

static int app_ctx_token;

static void app_accept(struct tcp_conn *c, void **ctx) {
    app.accepts++;
    app.conn = c;
    *ctx = &app_ctx_token;
    for (size_t i = 0; i < TCP_MAX_CONNS; i++) {
        if (!app.live[i]) {
            app.live[i] = c;
            break;
        }
    }
}
static void app_recv(struct tcp_conn *c, void *ctx, const uint8_t *d, size_t n) {
    CHECK(ctx == &app_ctx_token && n > 0);
    CHECK(app.rx_len + n <= sizeof(app.rx));
    memcpy(app.rx + app.rx_len, d, n);
    app.rx_len += n;
    if (app.hold)
        tcp_recv_hold(c, app.rx_len);
    if (app.abort_on_recv)
        tcp_abort(c);
    else if (app.close_on_recv)
        tcp_close(c);
}
static void app_sent(struct tcp_conn *c, void *ctx) { app.sents++; }
static void app_close(struct tcp_conn *c, void *ctx) {
    CHECK(ctx == &app_ctx_token);
    app.closes++;
    app.conn = NULL;
    size_t found = 0;
    for (size_t i = 0; i < TCP_MAX_CONNS; i++) {
        if (app.live[i] == c) {
            app.live[i] = NULL;
            found++;
        }
    }
    CHECK(found == 1);  /* on_close exactly once, only for accepted connections */
}
static void app_peer_fin(struct tcp_conn *c, void *ctx) { app.peer_fins++; }
static const struct tcp_handler app_handler = {app_accept, app_recv, app_sent, app_close, app_peer_fin};

#define PORT 80
#define PEER_PORT 40000
#define PEER_ISS 5000u

/* Handshake from PEER_PORT with window `wnd`; returns our ISS. */
static uint32_t handshake(uint16_t pport, uint16_t wnd) {
    struct out o;
    tx_clear();
    send_seg(&(struct seg){pport, PORT, PEER_ISS, 0, TCP_SYN, wnd, NULL, 0, 1000});
    CHECK(pop_tcp(&o));
    CHECK(o.flags == (TCP_SYN | TCP_ACK));
    CHECK(o.ack == PEER_ISS + 1);
    CHECK(o.mss == TCP_MSS_LOCAL);
    CHECK(o.sport == PORT && o.dport == pport);
    send_seg(&(struct seg){pport, PORT, PEER_ISS + 1, o.seq + 1, TCP_ACK, wnd, NULL, 0, 0});
    return o.seq;
}

static void check_clean(void) {
    CHECK(net_stats.tcp_conns == 0);
    CHECK(net_stats.tcp_half_open == 0);
    CHECK(net_stats.tcp_buffers == 0);
    CHECK(net_stats.arp_pending == 0);
    CHECK(echo_active() == 0);
}

static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static void send_arp(uint16_t op, uint32_t tpa, const uint8_t *dst) {
    uint8_t f[ETH_FRAME_MIN] = {0};
    eth(f, dst, ETH_TYPE_ARP);
    struct arp_pkt *a = (struct arp_pkt *)(f + ETH_HLEN);
    a->htype = net_htons(ARP_HTYPE_ETHER);
    a->ptype = net_htons(ETH_TYPE_IPV4);
    a->hlen = 6;
    a->plen = 4;
    a->op = net_htons(op);
    memcpy(a->sha, peer_mac, 6);
    a->spa = net_htonl(PEER_IP);
    a->tpa = net_htonl(tpa);
    net_input(f, sizeof(f));
}

/* Make the peer known so TCP output goes out at once. */
static void learn_peer(void) {
    send_arp(ARP_OP_REQUEST, OUR_IP, bcast);
    tx_clear();
}

static void tcp_setup(void) {
    setup(true);
    memset(&app, 0, sizeof(app));
    CHECK(tcp_listen(PORT, &app_handler) == 0);
    CHECK(tcp_listen(PORT, &app_handler) == -1);  /* taken */
    learn_peer();
}

/* ---- cases ---- */

static void test_netdev_register(void) {
    netdev_reset();
    static const struct netdev_ops no_rx = {fake_send, NULL, fake_link};
    struct netdev bad = {"bad", {0}, &no_rx, NULL};
    CHECK(netdev_register(&bad) == -1);
    struct netdev none = {"none", {0}, NULL, NULL};
    CHECK(netdev_register(&none) == -1);
    CHECK(netdev_count() == 0);
    CHECK(netdev_register(&fake_dev) == 0);
    CHECK(netdev_count() == 1 && netdev_get(0) == &fake_dev && netdev_get(1) == NULL);
}

static void test_arp_reply(void) {
    setup(true);
    send_arp(ARP_OP_REQUEST, OUR_IP, bcast);
    size_t len;
    const uint8_t *f = tx_pop(&len);
    CHECK(f && len == ETH_FRAME_MIN);
    const struct eth_hdr *e = (const struct eth_hdr *)f;
    CHECK(memcmp(e->dst, peer_mac, 6) == 0 && memcmp(e->src, fake_dev.mac, 6) == 0);
    CHECK(net_ntohs(e->type) == ETH_TYPE_ARP);
    const struct arp_pkt *a = (const struct arp_pkt *)(f + ETH_HLEN);
    CHECK(net_ntohs(a->op) == ARP_OP_REPLY);
    CHECK(memcmp(a->sha, fake_dev.mac, 6) == 0 && net_ntohl(a->spa) == OUR_IP);
    CHECK(memcmp(a->tha, peer_mac, 6) == 0 && net_ntohl(a->tpa) == PEER_IP);
    /* For someone else: no reply, counted. */
    send_arp(ARP_OP_REQUEST, NET_IP4(10, 0, 0, 9), bcast);
    CHECK(tx_count() == 0 && net_stats.drops[NET_DROP_ARP_NOT_US] == 1);
    /* Truncated: counted. */
    uint8_t f2[ETH_HLEN + 10] = {0};
    eth(f2, bcast, ETH_TYPE_ARP);
    net_input(f2, sizeof(f2));
    CHECK(net_stats.drops[NET_DROP_ARP_SHORT] == 1);
}

static void test_arp_resolve(void) {
    setup(true);
    /* UDP to an unknown neighbour waits for ARP; the request is broadcast. */
    CHECK(udp_send(0, 1234, PEER_IP, 9, "hi", 2) == 0);
    CHECK(net_stats.arp_pending == 1);
    size_t len;
    const uint8_t *f = tx_pop(&len);
    const struct arp_pkt *a = (const struct arp_pkt *)(f + ETH_HLEN);
    CHECK(net_ntohs(a->op) == ARP_OP_REQUEST && net_ntohl(a->tpa) == PEER_IP);
    CHECK(memcmp(((const struct eth_hdr *)f)->dst, bcast, 6) == 0);
    send_arp(ARP_OP_REPLY, OUR_IP, fake_dev.mac);
    CHECK(net_stats.arp_pending == 0);
    f = tx_pop(&len);
    CHECK(f && net_ntohs(((const struct eth_hdr *)f)->type) == ETH_TYPE_IPV4);
    CHECK(memcmp(((const struct eth_hdr *)f)->dst, peer_mac, 6) == 0);
    /* Unanswered: retried, then dropped with a counter. */
    CHECK(udp_send(0, 1234, NET_IP4(10, 0, 0, 77), 9, "x", 1) == 0);
    advance(ARP_RETRY_MS * (ARP_RETRIES + 1));
    CHECK(net_stats.drops[NET_DROP_ARP_UNRESOLVED] == 1);
    CHECK(net_stats.arp_requests_sent == 1 + ARP_RETRIES);
    CHECK(net_stats.arp_pending == 0);
    /* Off-link goes to the gateway's MAC: asks for the gateway. */
    tx_clear();
    CHECK(udp_send(0, 1234, NET_IP4(8, 8, 8, 8), 9, "x", 1) == 0);
    f = tx_pop(&len);
    a = (const struct arp_pkt *)(f + ETH_HLEN);
    CHECK(net_ntohl(a->tpa) == NET_IP4(10, 0, 0, 254));
    advance(ARP_RETRY_MS * (ARP_RETRIES + 1));
    CHECK(net_stats.arp_pending == 0);
    /* Entries expire. */
    advance(ARP_ENTRY_TTL_MS + 100);
    tx_clear();
    CHECK(udp_send(0, 1234, PEER_IP, 9, "hi", 2) == 0);
    CHECK(net_stats.arp_pending == 1);
    advance(ARP_RETRY_MS * (ARP_RETRIES + 1));
}

static size_t icmp_echo(uint8_t *f, uint16_t seq, size_t dlen, bool bad_csum) {
    memset(f, 0, ETH_FRAME_MAX);
    struct icmp_echo *e = (struct icmp_echo *)(f + ETH_HLEN + IP_HLEN);
    e->type = ICMP_ECHO_REQUEST;
    e->id = net_htons(0x1234);
    e->seq = net_htons(seq);
    for (size_t i = 0; i < dlen; i++)
        ((uint8_t *)(e + 1))[i] = (uint8_t)(i * 7);
    e->csum = csum(0, e, ICMP_HLEN + dlen);
    if (bad_csum)
        e->csum ^= 1;
    return ipv4(f, PEER_IP, OUR_IP, IP_PROTO_ICMP, ICMP_HLEN + dlen, 0);
}

static void test_icmp_echo(void) {
    setup(true);
    learn_peer();
    uint8_t f[ETH_FRAME_MAX];
    size_t n = icmp_echo(f, 9, 56, false);
    net_input(f, n);
    size_t len;
    const uint8_t *r = tx_pop(&len);
    CHECK(r);
    const struct ip_hdr *ip = (const struct ip_hdr *)(r + ETH_HLEN);
    CHECK(csum(0, ip, IP_HLEN) == 0 && ip->proto == IP_PROTO_ICMP && net_ntohl(ip->dst) == PEER_IP);
    const struct icmp_echo *e = (const struct icmp_echo *)(r + ETH_HLEN + IP_HLEN);
    CHECK(e->type == ICMP_ECHO_REPLY && net_ntohs(e->seq) == 9 && net_ntohs(e->id) == 0x1234);
    CHECK(csum(0, e, ICMP_HLEN + 56) == 0);
    CHECK(memcmp(e + 1, f + ETH_HLEN + IP_HLEN + ICMP_HLEN, 56) == 0);
    CHECK(net_stats.icmp_echo_replies == 1);
    /* Bad ICMP checksum: no reply, counted. */
    n = icmp_echo(f, 10, 56, true);
    net_input(f, n);
    CHECK(tx_count() == 0 && net_stats.drops[NET_DROP_ICMP_CHECKSUM] == 1);
    /* Bad IP header checksum: counted at the IP layer. */
    n = icmp_echo(f, 11, 8, false);
    f[ETH_HLEN + 10] ^= 0x40;
    net_input(f, n);
    CHECK(tx_count() == 0 && net_stats.drops[NET_DROP_IP_CHECKSUM] == 1);
    /* Not for us. */
    n = icmp_echo(f, 12, 8, false);
    ipv4(f, PEER_IP, NET_IP4(10, 0, 0, 50), IP_PROTO_ICMP, ICMP_HLEN + 8, 0);
    net_input(f, n);
    CHECK(tx_count() == 0 && net_stats.drops[NET_DROP_IP_NOT_US] == 1);
}

static void test_ip_checks(void) {
    setup(true);
    learn_peer();
    uint8_t f[ETH_FRAME_MAX];
    size_t n = icmp_echo(f, 1, 16, false);
    ipv4(f, PEER_IP, OUR_IP, IP_PROTO_ICMP, ICMP_HLEN + 16, IP_FLAG_MF);
    net_input(f, n);
    n = icmp_echo(f, 1, 16, false);
    ipv4(f, PEER_IP, OUR_IP, IP_PROTO_ICMP, ICMP_HLEN + 16, 100);
    net_input(f, n);
    CHECK(net_stats.drops[NET_DROP_IP_FRAGMENT] == 2);
    /* Total length past the frame. */
    n = icmp_echo(f, 1, 16, false);
    net_input(f, n - 4);
    CHECK(net_stats.drops[NET_DROP_IP_LEN] == 1);
    /* Version 6. */
    n = icmp_echo(f, 1, 16, false);
    f[ETH_HLEN] = 0x65;
    net_input(f, n);
    CHECK(net_stats.drops[NET_DROP_IP_VERSION] == 1);
    /* Unknown protocol. */
    n = icmp_echo(f, 1, 16, false);
    ipv4(f, PEER_IP, OUR_IP, 99, ICMP_HLEN + 16, 0);
    net_input(f, n);
    CHECK(net_stats.drops[NET_DROP_IP_PROTO] == 1);
    /* Frames too short, foreign MAC, unknown EtherType. */
    net_input(f, 10);
    CHECK(net_stats.drops[NET_DROP_ETH_SHORT] == 1);
    n = icmp_echo(f, 1, 16, false);
    f[0] = 0x04;
    net_input(f, n);
    CHECK(net_stats.drops[NET_DROP_ETH_NOT_US] == 1);
    n = icmp_echo(f, 1, 16, false);
    f[12] = 0x86;
    f[13] = 0xdd;
    net_input(f, n);
    CHECK(net_stats.drops[NET_DROP_ETH_TYPE] == 1);
    CHECK(tx_count() == 0);
    /* Random garbage never crashes (the sanitizers watch). */
    uint32_t x = 12345;
    for (int i = 0; i < 20000; i++) {
        n = icmp_echo(f, 1, 40, false);
        size_t cut = 14 + (x % 80);
        for (int k = 0; k < 6; k++) {
            x = x * 1103515245u + 12345u;
            f[14 + (x >> 8) % 70] = (uint8_t)(x >> 16);
        }
        if (i & 1)
            f[ETH_HLEN + 9] = (uint8_t)(i & 2 ? IP_PROTO_TCP : IP_PROTO_UDP);
        net_input(f, MIN(n, cut));
    }
}

static void test_stats_format(void) {
    setup(true);
    uint8_t f[ETH_FRAME_MAX];
    size_t n = icmp_echo(f, 1, 16, true);
    net_input(f, n);
    char buf[8192];
    size_t len = net_stats_format(buf, sizeof(buf));
    CHECK(len < sizeof(buf) && strlen(buf) == len);
    CHECK(len < 4096);  /* /metrics gives the network block 4 KiB */
    CHECK(strstr(buf, "cllm_net_drops_total{reason=\"icmp_checksum\"} 1\n"));
    CHECK(strstr(buf, "cllm_net_drops_total{reason=\"ip_fragment\"} 0\n"));
    CHECK(strstr(buf, "cllm_net_rx_frames_total 1\n"));
    /* Truncation reports the full length like snprintf and stays terminated. */
    char small[64];
    CHECK(net_stats_format(small, sizeof(small)) == len && strlen(small) == sizeof(small) - 1);
    uint32_t ip;
    CHECK(net_parse_ip("10.0.2.15", &ip) == 0 && ip == NET_IP4(10, 0, 2, 15));
    CHECK(net_parse_ip("10.0.2", &ip) == -1 && net_parse_ip("256.1.1.1", &ip) == -1);
    CHECK(net_parse_ip("1.2.3.4x", &ip) == -1 && net_parse_ip("", &ip) == -1);
}

static void test_tcp_handshake_data(void) {
    tcp_setup();
    uint32_t iss = handshake(PEER_PORT, 65535);
    CHECK(app.accepts == 1 && app.conn);
    CHECK(net_stats.tcp_half_open == 0 && net_stats.tcp_conns == 1);
    CHECK(net_stats.tcp_conns == 1 && net_stats.tcp_half_open == 0 && net_stats.tcp_accepted == 1);
    CHECK(tcp_peer_ip(app.conn) == PEER_IP && tcp_peer_port(app.conn) == PEER_PORT);
    /* Data in: delivered, ACKed. */
    send_seg(&(struct seg){PEER_PORT, PORT, PEER_ISS + 1, iss + 1, TCP_ACK | TCP_PSH, 65535, "hello", 5, 0});
    CHECK(app.rx_len == 5 && memcmp(app.rx, "hello", 5) == 0);
    struct out o;
    CHECK(pop_tcp(&o) && o.flags == TCP_ACK && o.ack == PEER_ISS + 6 && o.len == 0);
    CHECK(o.wnd > 0);
    /* A duplicate is not delivered twice, but ACKed. */
    send_seg(&(struct seg){PEER_PORT, PORT, PEER_ISS + 1, iss + 1, TCP_ACK | TCP_PSH, 65535, "hello", 5, 0});
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
    send_seg(&(struct seg){PEER_PORT, PORT, PEER_ISS + 6, iss + 1 + 3000, TCP_ACK, 65535, NULL, 0, 0});
    CHECK(tcp_send_space(app.conn) == space && app.sents == 1);
    CHECK(tx_count() == 0);  /* nothing to ACK for a pure ACK */
    /* Peer closes: CLOSE_WAIT, app closes, LAST_ACK, final ACK frees everything. */
    send_seg(&(struct seg){PEER_PORT, PORT, PEER_ISS + 6, iss + 3001, TCP_ACK | TCP_FIN, 65535, NULL, 0, 0});
    CHECK(app.peer_fins == 1);
    CHECK(pop_tcp(&o) && o.ack == PEER_ISS + 7);
    tcp_close(app.conn);
    CHECK(pop_tcp(&o) && (o.flags & TCP_FIN) && o.seq == iss + 3001);
    CHECK(app.closes == 0);
    send_seg(&(struct seg){PEER_PORT, PORT, PEER_ISS + 7, iss + 3002, TCP_ACK, 65535, NULL, 0, 0});
    CHECK(app.closes == 1);
    check_clean();
}

static void test_tcp_window_full(void) {
    tcp_setup();
    uint32_t iss = handshake(PEER_PORT, 0);
    struct out o;
    tx_clear();
    CHECK(tcp_send(app.conn, "abcdef", 6) == 6);
    CHECK(tx_count() == 0);  /* zero window: nothing goes out */
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
static void test_tcp_recv_window(void) {
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
        send_seg(&(struct seg){PEER_PORT, PORT, PEER_ISS + 1 + off, iss + 1, TCP_ACK, 65535, d + off, 1000, 0});
        CHECK(pop_tcp(&o) && o.ack == PEER_ISS + 1 + off + 1000);
        CHECK(o.wnd == TCP_RCV_WND - (off + 1000));
    }
    /* 7000 more bytes: only what fits up to the advertised edge is taken. */
    for (int k = 0; k < 7; k++, off += 1000) {
        send_seg(&(struct seg){PEER_PORT, PORT, PEER_ISS + 1 + off, iss + 1, TCP_ACK, 65535, d + off, 1000, 0});
        CHECK(pop_tcp(&o));
    }
    CHECK(app.rx_len == TCP_RCV_WND && memcmp(app.rx, d, TCP_RCV_WND) == 0);
    CHECK(o.ack == PEER_ISS + 1 + TCP_RCV_WND && o.wnd == 0);
    /* A zero-window probe is answered, not delivered. */
    send_seg(&(struct seg){PEER_PORT, PORT, PEER_ISS + 1 + TCP_RCV_WND, iss + 1, TCP_ACK, 65535, "p", 1, 0});
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
static void test_tcp_keepalive_time_wait_reuse(void) {
    tcp_setup();
    uint32_t iss = handshake(PEER_PORT, 65535);
    struct out o;
    tx_clear();
    advance(TCP_KEEPALIVE_IDLE_MS - 1000);
    CHECK(tx_count() == 0);
    advance(2000);
    CHECK(pop_tcp(&o) && o.seq == iss && o.len == 0 && o.ack == PEER_ISS + 1);  /* seq one below snd_nxt */
    send_seg(&(struct seg){PEER_PORT, PORT, PEER_ISS + 1, iss + 1, TCP_ACK, 65535, NULL, 0, 0});  /* answered */
    tx_clear();
    size_t probes = 0;
    bool rst = false;
    /* Silent from here on, but the peer's host still answers ARP (pop_tcp does). */
    for (uint32_t t = 0; t < TCP_KEEPALIVE_IDLE_MS + (TCP_KEEPALIVE_PROBES + 1) * TCP_KEEPALIVE_INTVL_MS;
         t += 1000) {
        CHECK(app.closes == 0 || t >= TCP_KEEPALIVE_IDLE_MS + TCP_KEEPALIVE_PROBES * TCP_KEEPALIVE_INTVL_MS);
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
    send_seg(&(struct seg){PEER_PORT, PORT, PEER_ISS + 2, iss + 2, TCP_ACK | TCP_FIN, 65535, NULL, 0, 0});
    CHECK(app.closes == 2 && net_stats.tcp_conns == 1);  /* in TIME_WAIT */
    tx_clear();
    send_seg(&(struct seg){PEER_PORT, PORT, PEER_ISS + 100000, 0, TCP_SYN, 65535, NULL, 0, 0});
    CHECK(pop_tcp(&o) && o.flags == (TCP_SYN | TCP_ACK) && o.ack == PEER_ISS + 100001);
    send_seg(&(struct seg){PEER_PORT, PORT, PEER_ISS + 100001, o.seq + 1, TCP_ACK, 65535, NULL, 0, 0});
    CHECK(app.accepts == 3 && net_stats.tcp_conns == 1);
    tcp_abort(app.conn);
    check_clean();
}

static void test_tcp_retransmit(void) {
    tcp_setup();
    uint32_t iss = handshake(PEER_PORT, 65535);
    struct out o, again;
    tx_clear();
    CHECK(tcp_send(app.conn, "payload", 7) == 7);
    CHECK(pop_tcp(&o) && o.len == 7);
    advance(TCP_RTO_INIT_MS - 100);
    CHECK(tx_count() == 0);  /* not yet */
    advance(200);
    CHECK(pop_tcp(&again) && again.seq == o.seq && again.len == 7 && memcmp(again.data, "payload", 7) == 0);
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
    advance(TCP_RTO_MIN_MS + 50);  /* RTO is now near the minimum, not 1 s */
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

static void test_tcp_fast_retransmit_ooo(void) {
    tcp_setup();
    uint32_t iss = handshake(PEER_PORT, 65535);
    struct out o;
    /* Out-of-order in: "world" before "hello " is queued, delivered after the gap fills. */
    send_seg(&(struct seg){PEER_PORT, PORT, PEER_ISS + 7, iss + 1, TCP_ACK, 65535, "world", 5, 0});
    CHECK(app.rx_len == 0);
    CHECK(pop_tcp(&o) && o.ack == PEER_ISS + 1);  /* duplicate ACK names the gap */
    send_seg(&(struct seg){PEER_PORT, PORT, PEER_ISS + 1, iss + 1, TCP_ACK, 65535, "hello ", 6, 0});
    CHECK(app.rx_len == 11 && memcmp(app.rx, "hello world", 11) == 0);
    CHECK(pop_tcp(&o) && o.ack == PEER_ISS + 12);
    CHECK(net_stats.tcp_buffers == 1);  /* the queued copy is freed */
    /* Overlapping retransmission: only the new tail is delivered. */
    send_seg(&(struct seg){PEER_PORT, PORT, PEER_ISS + 7, iss + 1, TCP_ACK, 65535, "world!!", 7, 0});
    CHECK(app.rx_len == 13 && memcmp(app.rx, "hello world!!", 13) == 0);
    tx_clear();
    /* Three duplicate ACKs resend the first unacked segment before the RTO. */
    static uint8_t data[4000];
    memset(data, 'z', sizeof(data));
    CHECK(tcp_send(app.conn, data, sizeof(data)) == sizeof(data));
    size_t sent = 0;
    while (pop_tcp(&o))
        sent++;
    CHECK(sent == 4);  /* MSS 1000 */
    for (int i = 0; i < 3; i++)
        send_seg(&(struct seg){PEER_PORT, PORT, PEER_ISS + 14, iss + 1001, TCP_ACK, 65535, NULL, 0, 0});
    /* The first ACK advanced (1000), so the three that follow... */
    send_seg(&(struct seg){PEER_PORT, PORT, PEER_ISS + 14, iss + 1001, TCP_ACK, 65535, NULL, 0, 0});
    bool resent = false;
    while (pop_tcp(&o))
        resent = resent || (o.seq == iss + 1001 && o.len > 0);
    CHECK(resent && net_stats.tcp_fast_retransmits == 1);
    tcp_abort(app.conn);
    check_clean();
}

static void test_tcp_active_close_time_wait(void) {
    tcp_setup();
    app.close_on_recv = true;
    uint32_t iss = handshake(PEER_PORT, 65535);
    struct out o;
    tx_clear();
    send_seg(&(struct seg){PEER_PORT, PORT, PEER_ISS + 1, iss + 1, TCP_ACK, 65535, "bye", 3, 0});
    /* One segment: ACK of the data and our FIN together. */
    CHECK(pop_tcp(&o) && (o.flags & TCP_FIN) && o.ack == PEER_ISS + 4 && o.seq == iss + 1);
    CHECK(!pop_tcp(&o));
    send_seg(&(struct seg){PEER_PORT, PORT, PEER_ISS + 4, iss + 2, TCP_ACK, 65535, NULL, 0, 0});  /* FIN_WAIT_2 */
    CHECK(app.closes == 0);
    send_seg(&(struct seg){PEER_PORT, PORT, PEER_ISS + 4, iss + 2, TCP_ACK | TCP_FIN, 65535, NULL, 0, 0});
    CHECK(pop_tcp(&o) && o.flags == TCP_ACK && o.ack == PEER_ISS + 5);
    CHECK(app.closes == 1);  /* TIME_WAIT: the application is done */
    CHECK(net_stats.tcp_conns == 1 && net_stats.tcp_buffers == 0);
    /* A retransmitted FIN is ACKed again. */
    send_seg(&(struct seg){PEER_PORT, PORT, PEER_ISS + 4, iss + 2, TCP_ACK | TCP_FIN, 65535, NULL, 0, 0});
    CHECK(pop_tcp(&o) && o.ack == PEER_ISS + 5);
    advance(TCP_TIME_WAIT_MS + 50);
    check_clean();

    /* Simultaneous close: FIN crosses ours (CLOSING), then our FIN is ACKed. */
    app.close_on_recv = true;
    iss = handshake(PEER_PORT + 1, 65535);
    tx_clear();
    send_seg(&(struct seg){PEER_PORT + 1, PORT, PEER_ISS + 1, iss + 1, TCP_ACK, 65535, "x", 1, 0});
    CHECK(pop_tcp(&o) && (o.flags & TCP_FIN));
    send_seg(&(struct seg){PEER_PORT + 1, PORT, PEER_ISS + 2, iss + 1, TCP_ACK | TCP_FIN, 65535, NULL, 0, 0});
    CHECK(pop_tcp(&o) && o.ack == PEER_ISS + 3);
    CHECK(app.closes == 1);
    send_seg(&(struct seg){PEER_PORT + 1, PORT, PEER_ISS + 3, iss + 2, TCP_ACK, 65535, NULL, 0, 0});
    CHECK(app.closes == 2);
    advance(TCP_TIME_WAIT_MS + 50);
    check_clean();
}

static void test_tcp_reset(void) {
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

static void test_tcp_syn_flood(void) {
    tcp_setup();
    struct out o;
    /* Many SYNs that never complete: half-open stays bounded. */
    for (uint16_t i = 0; i < 200; i++) {
        send_seg(&(struct seg){(uint16_t)(20000 + i), PORT, 1000u * i, 0, TCP_SYN, 65535, NULL, 0, 0});
        CHECK(net_stats.tcp_half_open <= TCP_MAX_HALF_OPEN);
    }
    CHECK(net_stats.drops[NET_DROP_TCP_HALF_OPEN_EVICTED] == 200 - TCP_MAX_HALF_OPEN);
    /* A real client still gets through. */
    uint32_t iss = handshake(PEER_PORT, 65535);
    CHECK(app.accepts == 1);
    /* SYN+ACKs are retried, then the half-open ones die. */
    advance(TCP_RTO_MAX_MS);
    CHECK(net_stats.tcp_half_open == 0 && net_stats.tcp_conns == 1);
    tx_clear();
    /* Many established connections at once, up to the pool. */
    for (uint16_t i = 1; i < TCP_MAX_CONNS; i++)
        handshake((uint16_t)(PEER_PORT + i), 65535);
    CHECK(net_stats.tcp_conns == TCP_MAX_CONNS && app.accepts == TCP_MAX_CONNS);
    tx_clear();
    send_seg(&(struct seg){30000, PORT, 1, 0, TCP_SYN, 65535, NULL, 0, 0});
    CHECK(net_stats.drops[NET_DROP_TCP_NO_CONN_SLOT] == 1 && !pop_tcp(&o));
    /* Close them all from our side and let TIME_WAIT expire. */
    (void)iss;
    for (size_t k = 0; k < TCP_MAX_CONNS; k++) {
        /* app.conn only names the last; abort through the peer instead. */
        send_seg(&(struct seg){(uint16_t)(PEER_PORT + k), PORT, PEER_ISS + 1, 0, TCP_RST, 0, NULL, 0, 0});
    }
    CHECK(app.closes == TCP_MAX_CONNS);
    check_clean();
}

static void test_tcp_echo_bulk(void) {
    setup(true);
    learn_peer();
    CHECK(echo_start(ECHO_PORT) == 0);
    struct out o;
    send_seg(&(struct seg){PEER_PORT, ECHO_PORT, PEER_ISS, 0, TCP_SYN, 65535, NULL, 0, 1460});
    CHECK(pop_tcp(&o));
    uint32_t iss = o.seq;
    send_seg(&(struct seg){PEER_PORT, ECHO_PORT, PEER_ISS + 1, iss + 1, TCP_ACK, 65535, NULL, 0, 0});
    CHECK(echo_active() == 1);
    /* The echo service takes ECHO_MAX_CONNS at once; one more is reset. */
    for (uint16_t k = 1; k <= ECHO_MAX_CONNS; k++) {
        send_seg(&(struct seg){(uint16_t)(PEER_PORT + k), ECHO_PORT, 1, 0, TCP_SYN, 65535, NULL, 0, 0});
        CHECK(pop_tcp(&o));
        send_seg(&(struct seg){(uint16_t)(PEER_PORT + k), ECHO_PORT, 2, o.seq + 1, TCP_ACK, 65535, NULL, 0, 0});
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
                send_seg(&(struct seg){PEER_PORT, ECHO_PORT, my_seq + (uint32_t)sent, iss + 1 + (uint32_t)got, TCP_ACK,
                                       65535, src + sent, len, 0});
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
        send_seg(&(struct seg){PEER_PORT, ECHO_PORT, my_seq + (uint32_t)sent, iss + 1 + (uint32_t)got, TCP_ACK,
                               65535, NULL, 0, 0});
        CHECK(n < 100000);
    }
    CHECK(memcmp(src, back, sizeof(src)) == 0);
    CHECK(net_stats.tcp_ooo_queued > 0);
    /* Orderly close from the peer: echo closes back. */
    send_seg(&(struct seg){PEER_PORT, ECHO_PORT, my_seq + 100000, iss + 1 + 100000, TCP_ACK | TCP_FIN, 65535, NULL,
                           0, 0});
    bool fin = false;
    while (pop_tcp(&o))
        fin = fin || (o.flags & TCP_FIN);
    CHECK(fin);
    send_seg(&(struct seg){PEER_PORT, ECHO_PORT, my_seq + 100001, iss + 2 + 100000, TCP_ACK, 65535, NULL, 0, 0});
    check_clean();
}

/* Random segments against a listener and live connections: nothing crashes (the
 * sanitizers watch), every accepted connection is closed exactly once, and once
 * the application aborts what is left and the timers run out, nothing remains. */
static void test_tcp_fuzz(void) {
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
                    send_seg(&(struct seg){p, PORT, PEER_ISS + 1, o.seq + 1, TCP_ACK, 65535, NULL, 0, 0});
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

/* ---- DHCP ---- */

static size_t dhcp_reply(uint8_t *f, uint8_t type, uint32_t xid, uint32_t yiaddr) {
    memset(f, 0, ETH_FRAME_MAX);
    struct udp_hdr *u = (struct udp_hdr *)(f + ETH_HLEN + IP_HLEN);
    struct dhcp_msg *m = (struct dhcp_msg *)(u + 1);
    m->op = DHCP_OP_REPLY;
    m->htype = 1;
    m->hlen = 6;
    m->xid = net_htonl(xid);
    m->yiaddr = net_htonl(yiaddr);
    memcpy(m->chaddr, fake_dev.mac, 6);
    m->magic = net_htonl(DHCP_MAGIC);
    uint8_t *o = (uint8_t *)(m + 1);
    uint8_t opts[] = {DHCP_OPT_MSG_TYPE, 1, type, DHCP_OPT_SUBNET, 4, 255, 255, 255, 0, DHCP_OPT_ROUTER, 4, 10, 0,
                      2, 2, DHCP_OPT_SERVER_ID, 4, 10, 0, 2, 2, DHCP_OPT_LEASE, 4, 0, 0, 0x0e, 0x10, DHCP_OPT_END};
    memcpy(o, opts, sizeof(opts));
    size_t ulen = UDP_HLEN + sizeof(*m) + sizeof(opts);
    u->sport = net_htons(DHCP_SERVER_PORT);
    u->dport = net_htons(DHCP_CLIENT_PORT);
    u->len = net_htons((uint16_t)ulen);
    u->csum = csum(pseudo(NET_IP4(10, 0, 2, 2), IP_BROADCAST, IP_PROTO_UDP, ulen), u, ulen);
    size_t n = ipv4(f, NET_IP4(10, 0, 2, 2), IP_BROADCAST, IP_PROTO_UDP, ulen, 0);
    memcpy(f, bcast, 6);
    return n;
}

/* Pop a DHCP message the client broadcast; returns its type and xid. */
static uint8_t pop_dhcp(uint32_t *xid) {
    size_t len;
    const uint8_t *f = tx_pop(&len);
    CHECK(f);
    CHECK(memcmp(f, bcast, 6) == 0);
    const struct ip_hdr *ip = (const struct ip_hdr *)(f + ETH_HLEN);
    CHECK(ip->proto == IP_PROTO_UDP && net_ntohl(ip->dst) == IP_BROADCAST && csum(0, ip, IP_HLEN) == 0);
    const struct udp_hdr *u = (const struct udp_hdr *)(ip + 1);
    CHECK(net_ntohs(u->dport) == DHCP_SERVER_PORT && net_ntohs(u->sport) == DHCP_CLIENT_PORT);
    size_t ulen = net_ntohs(u->len);
    CHECK(csum(pseudo(net_ntohl(ip->src), IP_BROADCAST, IP_PROTO_UDP, ulen), u, ulen) == 0);
    const struct dhcp_msg *m = (const struct dhcp_msg *)(u + 1);
    CHECK(m->op == DHCP_OP_REQUEST && net_ntohl(m->magic) == DHCP_MAGIC);
    CHECK(memcmp(m->chaddr, fake_dev.mac, 6) == 0);
    const uint8_t *o = (const uint8_t *)(m + 1);
    CHECK(o[0] == DHCP_OPT_MSG_TYPE && o[1] == 1);
    *xid = net_ntohl(m->xid);
    return o[2];
}

static void test_dhcp(void) {
    setup(false);
    uint8_t f[ETH_FRAME_MAX];
    uint32_t xid, xid2;
    net_dhcp_start(NET_IP4(10, 0, 2, 15), MASK, NET_IP4(10, 0, 2, 2));
    CHECK(pop_dhcp(&xid) == DHCP_DISCOVER);
    CHECK(!net_config_get()->up);
    /* Wrong xid: ignored. */
    net_input(f, dhcp_reply(f, DHCP_OFFER, xid + 1, NET_IP4(10, 0, 2, 99)));
    CHECK(tx_count() == 0 && net_stats.drops[NET_DROP_DHCP_FORMAT] == 1);
    /* Retransmission with backoff. */
    advance(DHCP_RETRY_MS + 20);
    CHECK(pop_dhcp(&xid2) == DHCP_DISCOVER && xid2 == xid);
    net_input(f, dhcp_reply(f, DHCP_OFFER, xid, NET_IP4(10, 0, 2, 99)));
    CHECK(pop_dhcp(&xid2) == DHCP_REQUEST && xid2 == xid);
    net_input(f, dhcp_reply(f, DHCP_ACK, xid, NET_IP4(10, 0, 2, 99)));
    const struct net_config *cfg = net_config_get();
    CHECK(cfg->up && cfg->dhcp && cfg->ip == NET_IP4(10, 0, 2, 99));
    CHECK(cfg->gw == NET_IP4(10, 0, 2, 2) && cfg->netmask == MASK);
    /* Truncated options do not read past the datagram. */
    size_t n = dhcp_reply(f, DHCP_ACK, xid, 1);
    net_input(f, n - 20);
    /* Renewal at T1 (lease 3600 s). */
    tx_clear();
    advance(1800 * 1000 + 100);
    CHECK(pop_dhcp(&xid2) == DHCP_REQUEST);

    /* No server: fall back to the static defaults. */
    setup(false);
    net_dhcp_start(NET_IP4(10, 0, 2, 15), MASK, NET_IP4(10, 0, 2, 2));
    advance(DHCP_TIMEOUT_MS + 100);
    cfg = net_config_get();
    CHECK(cfg->up && !cfg->dhcp && cfg->ip == NET_IP4(10, 0, 2, 15));
    CHECK(tx_count() >= 3);  /* DISCOVER and its retries */
}

struct test_case {
    const char *name;
    void (*fn)(void);
};

static const struct test_case cases[] = {
    {"netdev_register", test_netdev_register},
    {"arp_reply", test_arp_reply},
    {"arp_resolve", test_arp_resolve},
    {"icmp_echo", test_icmp_echo},
    {"ip_checks", test_ip_checks},
    {"stats_format", test_stats_format},
    {"tcp_handshake_data", test_tcp_handshake_data},
    {"tcp_window_full", test_tcp_window_full},
    {"tcp_recv_window", test_tcp_recv_window},
    {"tcp_keepalive_time_wait_reuse", test_tcp_keepalive_time_wait_reuse},
    {"tcp_retransmit", test_tcp_retransmit},
    {"tcp_fast_retransmit_ooo", test_tcp_fast_retransmit_ooo},
    {"tcp_active_close_time_wait", test_tcp_active_close_time_wait},
    {"tcp_reset", test_tcp_reset},
    {"tcp_syn_flood", test_tcp_syn_flood},
    {"tcp_echo_bulk", test_tcp_echo_bulk},
    {"tcp_fuzz", test_tcp_fuzz},
    {"dhcp", test_dhcp},
};

int main(int argc, char **argv) {
    if (argc == 2 && !strcmp(argv[1], "list")) {
        for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
            printf("%s\n", cases[i].name);
        return 0;
    }
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        if (argc == 2 && !strcmp(argv[1], cases[i].name)) {
            cases[i].fn();
            net_stack_init(&fake_dev, now_ms);  /* release what a case left, for LeakSanitizer */
            printf("ok %s\n", cases[i].name);
            return 0;
        }
    }
    fprintf(stderr, "usage: net_test list|<case>\n");
    return 2;
}
