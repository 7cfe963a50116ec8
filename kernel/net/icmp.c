/*
 * ICMP: answer echo requests (ping) with an echo reply carrying the same id,
 * sequence and data. Every other ICMP message is counted and dropped.
 */
#include "net/prot/icmp.h"
#include "net/stack.h"

void icmp_input(uint32_t src, uint32_t dst, const uint8_t *pkt, size_t len) {
    enum net_drop why;
    if (len < ICMP_HLEN) {
        why = NET_DROP_ICMP_SHORT;
        goto drop;
    }
    if (net_csum_fold(net_csum_add(0, pkt, len)) != 0) {
        why = NET_DROP_ICMP_CHECKSUM;
        goto drop;
    }
    if (pkt[0] != ICMP_ECHO_REQUEST || dst != net_state.cfg.ip) {
        why = NET_DROP_ICMP_TYPE;
        goto drop;
    }
    if (len > NET_IP_PAYLOAD_MAX) {
        why = NET_DROP_ICMP_SHORT;
        goto drop;
    }
    uint8_t frame[ETH_FRAME_MAX];
    uint8_t *out = frame + NET_IP_PAYLOAD_OFF;
    memcpy(out, pkt, len);
    struct icmp_echo *e = (struct icmp_echo *)out;
    e->type = ICMP_ECHO_REPLY;
    e->code = 0;
    e->csum = 0;
    e->csum = net_csum_fold(net_csum_add(0, out, len));
    net_stats.icmp_echo_replies++;
    ip_output(0, src, IP_PROTO_ICMP, frame, len);
    return;
drop:
    net_drop(why);
}
