/*
 * Host unit tests of the lower layers: netdev registry, Ethernet, ARP (reply,
 * resolution, pending queue, expiry), IPv4 checks (checksum, length, fragments),
 * ICMP echo, the DHCP client and the /metrics text. Harness: net_harness.h.
 */
#include "net_harness.h"

void test_netdev_register(void) {
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

void test_arp_reply(void) {
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

void test_arp_resolve(void) {
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

void test_icmp_echo(void) {
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

void test_ip_checks(void) {
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

void test_stats_format(void) {
    setup(true);
    uint8_t f[ETH_FRAME_MAX];
    size_t n = icmp_echo(f, 1, 16, true);
    net_input(f, n);
    char buf[8192];
    size_t len = net_stats_format(buf, sizeof(buf));
    CHECK(len < sizeof(buf) && strlen(buf) == len);
    CHECK(len < 4096); /* /metrics gives the network block 4 KiB */
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
    uint8_t opts[] = {DHCP_OPT_MSG_TYPE,
                      1,
                      type,
                      DHCP_OPT_SUBNET,
                      4,
                      255,
                      255,
                      255,
                      0,
                      DHCP_OPT_ROUTER,
                      4,
                      10,
                      0,
                      2,
                      2,
                      DHCP_OPT_SERVER_ID,
                      4,
                      10,
                      0,
                      2,
                      2,
                      DHCP_OPT_LEASE,
                      4,
                      0,
                      0,
                      0x0e,
                      0x10,
                      DHCP_OPT_END};
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
    CHECK(ip->proto == IP_PROTO_UDP && net_ntohl(ip->dst) == IP_BROADCAST &&
          csum(0, ip, IP_HLEN) == 0);
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

void test_dhcp(void) {
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
    CHECK(tx_count() >= 3); /* DISCOVER and its retries */
}
