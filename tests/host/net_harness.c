/*
 * The network stack's host test bench (net_harness.h): fake NIC, frame forging,
 * the recording application, and main(), which runs one case by name:
 * `net_test <case>` prints "ok <case>" and exits 0, or names the failed check
 * and exits 1; `net_test list` prints the case names. tests/test_net_host.py
 * runs every case under ASan/UBSan.
 */
#include "net_harness.h"

/* ---- fake NIC ---- */

#define TX_MAX 256
static uint8_t tx_frames[TX_MAX][ETH_FRAME_MAX];
static size_t tx_lens[TX_MAX];
static size_t tx_head, tx_tail;
bool tx_full_mode; /* the device refuses frames */

int fake_send(struct netdev *d, const void *frame, size_t len) {
    if (tx_full_mode || tx_tail - tx_head == TX_MAX)
        return -1;
    CHECK(len <= ETH_FRAME_MAX && len >= ETH_FRAME_MIN);
    memcpy(tx_frames[tx_tail % TX_MAX], frame, len);
    tx_lens[tx_tail % TX_MAX] = len;
    tx_tail++;
    return 0;
}
static int fake_poll(struct netdev *d, netdev_rx_fn rx, int budget) {
    return 0;
}
bool fake_link(struct netdev *d) {
    return true;
}
static const struct netdev_ops fake_ops = {fake_send, fake_poll, fake_link};
struct netdev fake_dev = {"fake", {0x02, 0, 0, 0, 0, 0x01}, &fake_ops, NULL};

const uint8_t peer_mac[6] = {0x02, 0, 0, 0, 0, 0x02};

uint32_t now_ms = 1000;

size_t tx_count(void) {
    return tx_tail - tx_head;
}

/* Pop the oldest sent frame; NULL if none. */
const uint8_t *tx_pop(size_t *len) {
    if (tx_head == tx_tail)
        return NULL;
    *len = tx_lens[tx_head % TX_MAX];
    return tx_frames[tx_head++ % TX_MAX];
}

void tx_clear(void) {
    tx_head = tx_tail;
}

void advance(uint32_t ms) {
    /* Step in small increments like the poll loop. */
    for (uint32_t t = 0; t < ms; t += 10) {
        now_ms += MIN(10u, ms - t);
        net_stack_poll(now_ms);
    }
}

void setup(bool configured) {
    netdev_reset();
    CHECK(netdev_register(&fake_dev) == 0);
    tx_head = tx_tail = 0;
    tx_full_mode = false;
    net_stack_init(&fake_dev, now_ms);
    if (configured)
        net_stack_configure(OUR_IP, MASK, NET_IP4(10, 0, 0, 254));
}

/* ---- frame forging ---- */

uint16_t csum(uint32_t sum, const void *p, size_t n) {
    const uint8_t *b = p;
    for (size_t i = 0; i + 1 < n; i += 2)
        sum += (uint32_t)b[i] << 8 | b[i + 1];
    if (n & 1)
        sum += (uint32_t)b[n - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return net_htons((uint16_t)~sum);
}

uint32_t pseudo(uint32_t s, uint32_t d, uint8_t proto, size_t len) {
    return (s >> 16) + (s & 0xffff) + (d >> 16) + (d & 0xffff) + proto + (uint32_t)len;
}

size_t eth(uint8_t *f, const uint8_t *dst, uint16_t type) {
    struct eth_hdr *e = (struct eth_hdr *)f;
    memcpy(e->dst, dst, 6);
    memcpy(e->src, peer_mac, 6);
    e->type = net_htons(type);
    return ETH_HLEN;
}

/* IPv4 header at f + ETH_HLEN around a payload already at f + 34. */
size_t ipv4(uint8_t *f, uint32_t src, uint32_t dst, uint8_t proto, size_t plen, uint16_t frag) {
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

void send_seg(const struct seg *s) {
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

/* Pop the next frame, check it is a valid TCP segment to the peer, parse it.
 * ARP requests for the peer (its cache entry expired) are answered on the way. */
bool pop_tcp(struct out *o) {
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

struct test_app app;

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
static void app_sent(struct tcp_conn *c, void *ctx) {
    app.sents++;
}
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
    CHECK(found == 1); /* on_close exactly once, only for accepted connections */
}
static void app_peer_fin(struct tcp_conn *c, void *ctx) {
    app.peer_fins++;
}
static const struct tcp_handler app_handler = {app_accept, app_recv, app_sent, app_close,
                                               app_peer_fin};

/* Handshake from PEER_PORT with window `wnd`; returns our ISS. */
uint32_t handshake(uint16_t pport, uint16_t wnd) {
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

void check_clean(void) {
    CHECK(net_stats.tcp_conns == 0);
    CHECK(net_stats.tcp_half_open == 0);
    CHECK(net_stats.tcp_buffers == 0);
    CHECK(net_stats.arp_pending == 0);
    CHECK(echo_active() == 0);
}

const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

void send_arp(uint16_t op, uint32_t tpa, const uint8_t *dst) {
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
void learn_peer(void) {
    send_arp(ARP_OP_REQUEST, OUR_IP, bcast);
    tx_clear();
}

void tcp_setup(void) {
    setup(true);
    memset(&app, 0, sizeof(app));
    CHECK(tcp_listen(PORT, &app_handler) == 0);
    CHECK(tcp_listen(PORT, &app_handler) == -1); /* taken */
    learn_peer();
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
    {"tcp_syn_burst", test_tcp_syn_burst},
    {"tcp_fin_wait_2_recycled", test_tcp_fin_wait_2_recycled},
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
            net_stack_init(&fake_dev, now_ms); /* release what a case left, for LeakSanitizer */
            printf("ok %s\n", cases[i].name);
            return 0;
        }
    }
    fprintf(stderr, "usage: net_test list|<case>\n");
    return 2;
}
