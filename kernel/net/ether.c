/*
 * Ethernet II: demultiplex received frames to ARP and IPv4, and put the header
 * on outgoing frames and hand them to the device. Called by net_input (up) and
 * by arp.c / ip_out.c (down).
 */
#include "net/stack.h"

const uint8_t ether_broadcast[ETH_ALEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

void ether_input(const uint8_t *frame, size_t len) {
    enum net_drop why;
    const struct eth_hdr *eh = (const struct eth_hdr *)frame;
    if (len < ETH_HLEN) {
        why = NET_DROP_ETH_SHORT;
        goto drop;
    }
    if (memcmp(eh->dst, net_state.dev->mac, ETH_ALEN) != 0 &&
        memcmp(eh->dst, ether_broadcast, ETH_ALEN) != 0) {
        why = NET_DROP_ETH_NOT_US;
        goto drop;
    }
    switch (net_ntohs(eh->type)) {
    case ETH_TYPE_ARP:
        arp_input(frame + ETH_HLEN, len - ETH_HLEN);
        return;
    case ETH_TYPE_IPV4:
        ip_input(frame + ETH_HLEN, len - ETH_HLEN);
        return;
    default:
        why = NET_DROP_ETH_TYPE;
        goto drop;
    }
drop:
    net_drop(why);
}

int ether_output(const uint8_t dst[ETH_ALEN], uint16_t type, uint8_t *frame, size_t len) {
    struct eth_hdr *eh = (struct eth_hdr *)frame;
    if (!net_state.dev) {
        net_drop(NET_DROP_TX_NO_DEVICE);
        return -1;
    }
    memcpy(eh->dst, dst, ETH_ALEN);
    memcpy(eh->src, net_state.dev->mac, ETH_ALEN);
    eh->type = net_htons(type);
    if (len < ETH_FRAME_MIN) {
        memset(frame + len, 0, ETH_FRAME_MIN - len);
        len = ETH_FRAME_MIN;
    }
    if (net_state.dev->ops->send(net_state.dev, frame, len) != 0) {
        net_drop(NET_DROP_TX_DEVICE_FULL);
        return -1;
    }
    net_stats.tx_frames++;
    net_stats.tx_bytes += len;
    return 0;
}
