/*
 * IPv4 output: fill the header in front of a transport payload, pick the next hop
 * (on-link or the gateway) and pass the frame to ARP for resolution. Never
 * fragments: callers keep payloads within NET_IP_PAYLOAD_MAX.
 */
#include "net/stack.h"

int ip_output(uint32_t src, uint32_t dst, uint8_t proto, uint8_t *frame, size_t payload_len) {
    const struct net_config *cfg = &net_state.cfg;
    if (payload_len > NET_IP_PAYLOAD_MAX)
        return -1;
    if (src == 0)
        src = cfg->ip;
    struct ip_hdr *ip = (struct ip_hdr *)(frame + ETH_HLEN);
    ip->ver_ihl = IP_VERSION << 4 | IP_HLEN / 4;
    ip->tos = 0;
    ip->len = net_htons((uint16_t)(IP_HLEN + payload_len));
    ip->id = net_htons(net_state.ip_id++);
    ip->frag_off = net_htons(IP_FLAG_DF);
    ip->ttl = IP_DEFAULT_TTL;
    ip->proto = proto;
    ip->csum = 0;
    ip->src = net_htonl(src);
    ip->dst = net_htonl(dst);
    ip->csum = net_csum_fold(net_csum_add(0, ip, IP_HLEN));
    uint32_t next_hop = dst;
    if (dst != IP_BROADCAST && cfg->up && (dst & cfg->netmask) != (cfg->ip & cfg->netmask) &&
        cfg->gw)
        next_hop = cfg->gw;
    return arp_output_ip(next_hop, frame, ETH_HLEN + IP_HLEN + payload_len);
}
