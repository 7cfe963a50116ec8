/*
 * UDP: a small table of bound ports with receive callbacks (the DHCP client is the
 * only user), checksum verified when present, and datagram output.
 */
#include "net/prot/udp.h"
#include "net/stack.h"
#include "net/udp.h"

struct udp_binding {
    uint16_t port; /* 0 = free */
    udp_recv_fn fn;
};

static struct udp_binding bindings[UDP_BINDINGS];

void udp_reset(void) {
    memset(bindings, 0, sizeof(bindings));
}

int udp_bind(uint16_t port, udp_recv_fn fn) {
    struct udp_binding *slot = NULL;
    for (size_t i = 0; i < UDP_BINDINGS; i++) {
        if (bindings[i].port == port)
            return -1;
        if (bindings[i].port == 0 && !slot)
            slot = &bindings[i];
    }
    if (!slot || port == 0)
        return -1;
    slot->port = port;
    slot->fn = fn;
    return 0;
}

void udp_input(uint32_t src, uint32_t dst, const uint8_t *pkt, size_t len) {
    enum net_drop why;
    const struct udp_hdr *u = (const struct udp_hdr *)pkt;
    if (len < UDP_HLEN) {
        why = NET_DROP_UDP_SHORT;
        goto drop;
    }
    size_t ulen = net_ntohs(u->len);
    if (ulen < UDP_HLEN || ulen > len) {
        why = NET_DROP_UDP_SHORT;
        goto drop;
    }
    if (u->csum != 0) {
        uint32_t sum = net_csum_pseudo(src, dst, IP_PROTO_UDP, (uint16_t)ulen);
        if (net_csum_fold(net_csum_add(sum, pkt, ulen)) != 0) {
            why = NET_DROP_UDP_CHECKSUM;
            goto drop;
        }
    }
    uint16_t dport = net_ntohs(u->dport);
    for (size_t i = 0; i < UDP_BINDINGS; i++) {
        if (bindings[i].port == dport) {
            bindings[i].fn(src, net_ntohs(u->sport), pkt + UDP_HLEN, ulen - UDP_HLEN);
            return;
        }
    }
    why = NET_DROP_UDP_NO_PORT;
drop:
    net_drop(why);
}

int udp_send(uint32_t src_ip, uint16_t sport, uint32_t dst_ip, uint16_t dport, const void *data,
             size_t len) {
    if (len > NET_IP_PAYLOAD_MAX - UDP_HLEN)
        return -1;
    if (src_ip == 0)
        src_ip = net_state.cfg.up ? net_state.cfg.ip : 0;
    uint8_t frame[ETH_FRAME_MAX];
    struct udp_hdr *u = (struct udp_hdr *)(frame + NET_IP_PAYLOAD_OFF);
    uint16_t ulen = (uint16_t)(UDP_HLEN + len);
    u->sport = net_htons(sport);
    u->dport = net_htons(dport);
    u->len = net_htons(ulen);
    u->csum = 0;
    memcpy(frame + NET_IP_PAYLOAD_OFF + UDP_HLEN, data, len);
    uint16_t c =
        net_csum_fold(net_csum_add(net_csum_pseudo(src_ip, dst_ip, IP_PROTO_UDP, ulen), u, ulen));
    u->csum = c ? c : 0xffff;
    /* ip_output treats src 0 as "the interface address"; DHCP needs a literal 0.0.0.0,
     * which the header keeps because the interface has no address yet. */
    return ip_output(src_ip, dst_ip, IP_PROTO_UDP, frame, ulen);
}
