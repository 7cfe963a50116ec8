/*
 * libFuzzer target: the network stack's input path (kernel/net) behind a fake NIC,
 * with the echo service listening on ports 7 and 80. The input is a list of
 * records; the first byte of each picks what it is:
 *   0: a raw Ethernet frame (next byte: length) handed to net_input as it is;
 *   1: a TCP segment from the peer with valid Ethernet/IP/TCP headers and checksums,
 *      whose port, flags, window, sequence and acknowledgment (relative to the last
 *      numbers the stack sent, so the fuzzer reaches every state) come from the
 *      record, followed by up to 255 payload bytes;
 *   2: the clock advances (the next byte times 50 ms), the stack's timers polled at
 *      each deadline on the way;
 *   3: the same as 1 with an MSS option.
 * After the input every connection is aborted and the stack's counters must come
 * back to zero: no connection, send buffer or echo state may be left behind.
 * Built by tests/fuzzing.py with ASan and UBSan.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dev/netdev.h"
#include "net/echo.h"
#include "net/net.h"
#include "net/prot/ether.h"
#include "net/prot/ip.h"
#include "net/prot/tcp.h"
#include "net/tcp.h"
#include "net/tcp_int.h"

#define OUR_IP NET_IP4(10, 0, 0, 1)
#define PEER_IP NET_IP4(10, 0, 0, 2)
#define PEER_ISS 5000u
/* While the clock advances the stack is polled at each TCP deadline (next_poll), and at
 * most this often when a deadline has passed: a quarter of the shortest timer
 * (TCP_RTO_MIN_MS). Polling every kernel tick (10 ms) took nine tenths of the time. */
#define POLL_MS (TCP_RTO_MIN_MS / 4u)

static uint32_t now_ms = 1000;
static uint32_t stack_seq; /* seq + length of the stack's last TCP segment */
static uint32_t peer_seq = PEER_ISS;

static int fake_send(struct netdev *d, const void *frame, size_t len) {
    if (len < ETH_HLEN + IP_HLEN + TCP_HLEN)
        return 0;
    const uint8_t *f = frame;
    const struct ip_hdr *ip = (const struct ip_hdr *)(f + ETH_HLEN);
    if (net_ntohs(((const struct eth_hdr *)f)->type) != ETH_TYPE_IPV4 || ip->proto != IP_PROTO_TCP)
        return 0;
    size_t ihl = (size_t)(ip->ver_ihl & 15) * 4;
    size_t total = net_ntohs(ip->len);
    if (ihl < IP_HLEN || total > len - ETH_HLEN || total < ihl + TCP_HLEN)
        abort(); /* the stack must send well-formed segments */
    const struct tcp_hdr *t = (const struct tcp_hdr *)(f + ETH_HLEN + ihl);
    size_t hl = (size_t)(t->off >> 4) * 4;
    if (hl < TCP_HLEN || ihl + hl > total)
        abort();
    stack_seq = net_ntohl(t->seq) + (uint32_t)(total - ihl - hl) + !!(t->flags & TCP_SYN) +
                !!(t->flags & TCP_FIN);
    return 0;
}
static int fake_poll(struct netdev *d, netdev_rx_fn rx, int budget) {
    return 0;
}
static bool fake_link(struct netdev *d) {
    return true;
}
static const struct netdev_ops fake_ops = {fake_send, fake_poll, fake_link};
static struct netdev fake_dev = {"fake", {0x02, 0, 0, 0, 0, 0x01}, &fake_ops, NULL};
static const uint8_t peer_mac[6] = {0x02, 0, 0, 0, 0, 0x02};

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

/* A TCP segment from the fields r[0..8) and payload p[0..plen). */
static void send_segment(const uint8_t *r, const uint8_t *p, size_t plen, bool mss) {
    static const uint16_t ports[4] = {7, 80, 7, 9};
    uint8_t f[ETH_FRAME_MAX];
    memset(f, 0, sizeof(f));
    size_t hl = TCP_HLEN + (mss ? TCP_OPT_MSS_LEN : 0);
    plen = MIN(plen, sizeof(f) - ETH_HLEN - IP_HLEN - hl);
    struct eth_hdr *e = (struct eth_hdr *)f;
    memcpy(e->dst, fake_dev.mac, 6);
    memcpy(e->src, peer_mac, 6);
    e->type = net_htons(ETH_TYPE_IPV4);
    struct ip_hdr *ip = (struct ip_hdr *)(f + ETH_HLEN);
    struct tcp_hdr *t = (struct tcp_hdr *)(f + ETH_HLEN + IP_HLEN);
    uint8_t flags = r[0];
    int16_t dseq = (int16_t)(r[2] | r[3] << 8), dack = (int16_t)(r[4] | r[5] << 8);
    t->sport = net_htons((uint16_t)(40000 + (r[1] >> 2 & 3)));
    t->dport = net_htons(ports[r[1] & 3]);
    t->seq = net_htonl(peer_seq + (uint32_t)(r[1] & 0x80 ? dseq : 0));
    t->ack = net_htonl(stack_seq + (uint32_t)(r[1] & 0x40 ? dack : 0));
    t->off = (uint8_t)(hl / 4) << 4;
    t->flags = flags;
    t->wnd = net_htons((uint16_t)(r[6] << 8 | r[7]));
    uint8_t *opt = (uint8_t *)t + TCP_HLEN;
    if (mss) {
        opt[0] = TCP_OPT_MSS;
        opt[1] = TCP_OPT_MSS_LEN;
        opt[2] = r[6];
        opt[3] = r[7];
    }
    memcpy((uint8_t *)t + hl, p, plen);
    uint32_t src = PEER_IP, dst = OUR_IP;
    uint32_t pseudo = (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + IP_PROTO_TCP +
                      (uint32_t)(hl + plen);
    t->csum = csum(pseudo, t, hl + plen);
    ip->ver_ihl = 0x45;
    ip->len = net_htons((uint16_t)(IP_HLEN + hl + plen));
    ip->id = net_htons(77);
    ip->ttl = 64;
    ip->proto = IP_PROTO_TCP;
    ip->src = net_htonl(src);
    ip->dst = net_htonl(dst);
    ip->csum = csum(0, ip, IP_HLEN);
    if (flags & TCP_SYN)
        peer_seq = net_ntohl(t->seq) + 1 + (uint32_t)plen;
    else
        peer_seq = net_ntohl(t->seq) + (uint32_t)plen + !!(flags & TCP_FIN);
    net_input(f, ETH_HLEN + IP_HLEN + hl + plen);
}

/* a is after b on the wrapping millisecond clock. */
static bool later(uint32_t a, uint32_t b) {
    return (int32_t)(a - b) > 0;
}

/* The earliest moment, after now_ms and no later than end, at which a TCP timer may fire
 * (tcp_timers' deadlines), but at least POLL_MS on: a deadline already passed belongs
 * to a record the timers skip (busy or closed), so polling sooner would change nothing. */
static uint32_t next_poll(uint32_t end) {
    uint32_t at = end;
    for (size_t i = 0; i < TCP_MAX_CONNS; i++) {
        const struct tcp_conn *c = &tcp_conns[i];
        if (c->state == TCP_STATE_FREE || c->state == TCP_STATE_CLOSED)
            continue;
        uint32_t d[3];
        size_t n = 0;
        if (c->state == TCP_STATE_TIME_WAIT || c->state == TCP_STATE_FIN_WAIT_2) {
            d[n++] = c->linger_at;
        } else {
            if (c->rexmit_armed)
                d[n++] = c->rexmit_at;
            else if (c->state == TCP_STATE_ESTABLISHED || c->state == TCP_STATE_CLOSE_WAIT)
                d[n++] =
                    c->last_rx_ms + TCP_KEEPALIVE_IDLE_MS + c->ka_probes * TCP_KEEPALIVE_INTVL_MS;
            if (c->persist_armed)
                d[n++] = c->persist_at;
        }
        for (size_t k = 0; k < n; k++)
            if (later(at, d[k]))
                at = d[k];
    }
    if (later(now_ms + POLL_MS, at))
        at = now_ms + POLL_MS;
    return later(at, end) ? end : at;
}

/* The clock moves ms on, the stack polled at each moment a timer may fire. */
static void advance(uint32_t ms) {
    uint32_t end = now_ms + ms;
    while (now_ms != end) {
        now_ms = next_poll(end);
        net_stack_poll(now_ms);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    netdev_reset();
    if (netdev_register(&fake_dev) != 0)
        abort();
    net_stack_init(&fake_dev, now_ms);
    net_stack_configure(OUR_IP, NET_IP4(255, 255, 255, 0), NET_IP4(10, 0, 0, 254));
    if (echo_start(7) != 0 || echo_start(80) != 0)
        abort();
    /* The peer's MAC is known, so replies need no ARP round trip. */
    static const uint8_t gratuitous_arp[42] = {
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0,    0,    0,  0x02, 0x08, 0x06,
        0,    1,    8,    0,    6,    4,    0,    2, 0x02, 0,    0,  0,    0,    0x02,
        10,   0,    0,    2,    0x02, 0,    0,    0, 0,    0x01, 10, 0,    0,    1};
    net_input(gratuitous_arp, sizeof(gratuitous_arp));
    peer_seq = PEER_ISS;
    stack_seq = 0;
    size_t off = 0;
    while (off < size) {
        uint8_t kind = data[off++] & 3;
        if (kind == 0 && off < size) {
            size_t n = MIN((size_t)data[off] * 8, size - off - 1);
            net_input(data + off + 1, n);
            off += 1 + n;
        } else if ((kind == 1 || kind == 3) && off + 9 <= size) {
            size_t plen = MIN((size_t)data[off + 8], size - off - 9);
            send_segment(data + off, data + off + 9, plen, kind == 3);
            off += 9 + plen;
        } else if (kind == 2 && off < size) {
            advance((uint32_t)data[off++] * 50);
        } else {
            break;
        }
    }
    for (size_t i = 0; i < TCP_MAX_CONNS; i++)
        if (tcp_conns[i].state != TCP_STATE_FREE)
            tcp_abort(&tcp_conns[i]);
    if (net_stats.tcp_conns != 0 || net_stats.tcp_half_open != 0 || net_stats.tcp_buffers != 0 ||
        echo_active() != 0) {
        fprintf(stderr, "left behind: conns %u half-open %u buffers %u echo %zu\n",
                net_stats.tcp_conns, net_stats.tcp_half_open, net_stats.tcp_buffers, echo_active());
        abort();
    }
    return 0;
}
