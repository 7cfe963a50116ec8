/*
 * IPv4 input: validate the header (version, length, checksum), drop fragments
 * (the stack never needs them: TCP segments fit the MSS it announces), accept
 * packets for our address or broadcast, and hand the payload to ICMP, UDP or TCP.
 */
#include "net/stack.h"

void ip_input(const uint8_t *pkt, size_t len) {
    enum net_drop why;
    const struct ip_hdr *ip = (const struct ip_hdr *)pkt;
    if (len < IP_HLEN) {
        why = NET_DROP_IP_SHORT;
        goto drop;
    }
    if (ip->ver_ihl >> 4 != IP_VERSION) {
        why = NET_DROP_IP_VERSION;
        goto drop;
    }
    size_t hlen = (size_t)(ip->ver_ihl & 0xf) * 4;
    if (hlen < IP_HLEN || hlen > len) {
        why = NET_DROP_IP_HDR_LEN;
        goto drop;
    }
    if (net_csum_fold(net_csum_add(0, ip, hlen)) != 0) {
        why = NET_DROP_IP_CHECKSUM;
        goto drop;
    }
    size_t total = net_ntohs(ip->len);
    /* The frame may carry Ethernet padding after the datagram, never less than it. */
    if (total < hlen || total > len) {
        why = NET_DROP_IP_LEN;
        goto drop;
    }
    uint16_t frag = net_ntohs(ip->frag_off);
    if ((frag & IP_FLAG_MF) || (frag & IP_FRAG_OFFSET)) {
        why = NET_DROP_IP_FRAGMENT;
        goto drop;
    }
    if (ip->ttl == 0) {
        why = NET_DROP_IP_TTL;
        goto drop;
    }
    uint32_t src = net_ntohl(ip->src), dst = net_ntohl(ip->dst);
    const struct net_config *cfg = &net_state.cfg;
    bool broadcast = dst == IP_BROADCAST || (cfg->up && dst == (cfg->ip | ~cfg->netmask));
    if (!cfg->up) {
        /* Before an address is bound only DHCP (UDP) can be for us. */
        if (ip->proto != IP_PROTO_UDP) {
            why = NET_DROP_IP_NO_ADDR;
            goto drop;
        }
    } else if (dst != cfg->ip && !broadcast) {
        why = NET_DROP_IP_NOT_US;
        goto drop;
    }
    const uint8_t *payload = pkt + hlen;
    size_t plen = total - hlen;
    switch (ip->proto) {
    case IP_PROTO_ICMP:
        icmp_input(src, dst, payload, plen);
        return;
    case IP_PROTO_UDP:
        udp_input(src, dst, payload, plen);
        return;
    case IP_PROTO_TCP:
        if (broadcast) {
            why = NET_DROP_IP_NOT_US;
            goto drop;
        }
        tcp_input(src, dst, payload, plen);
        return;
    default:
        why = NET_DROP_IP_PROTO;
        goto drop;
    }
drop:
    net_drop(why);
}
