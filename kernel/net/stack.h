/*
 * stack.h: what the layers of kernel/net share with each other and nothing else
 * includes. Packets go up by *_input(ptr, len) calls on a received frame (read
 * only, checked before use) and down by *_output() calls on one frame buffer that
 * the sender fills from the top layer: the payload is written at a fixed offset
 * (NET_IP_PAYLOAD_OFF) and each lower layer fills its header in front of it.
 */
#ifndef CLLM_NET_STACK_H
#define CLLM_NET_STACK_H

#include "net/net.h"
#include "net/net_param.h"
#include "net/prot/arp.h"
#include "net/prot/ether.h"
#include "net/prot/ip.h"
#include "port.h"

#define NET_IP_PAYLOAD_OFF (ETH_HLEN + IP_HLEN) /* where a transport header starts */
#define NET_IP_PAYLOAD_MAX (ETH_MTU - IP_HLEN)  /* bytes after the IP header */

struct net_state {
    struct netdev *dev;
    struct net_config cfg;
    uint32_t now_ms; /* the stack's clock, set by net_stack_poll/_set_time/_init */
    uint16_t ip_id;  /* next IPv4 identification */
};

extern struct net_state net_state;

/* Count one dropped packet. */
static inline void net_drop(enum net_drop why) {
    net_stats.drops[why]++;
}

/* Serial-number time comparison for the wrapping millisecond clock. */
static inline bool net_time_after_eq(uint32_t a, uint32_t b) {
    return (int32_t)(a - b) >= 0;
}

/* checksum.c: the Internet checksum (RFC 1071). Sum 16-bit words, then fold. */
uint32_t net_csum_add(uint32_t sum, const void *data, size_t len);
uint16_t net_csum_fold(uint32_t sum);
/* Pseudo header sum for TCP/UDP: addresses host order, len = transport bytes. */
uint32_t net_csum_pseudo(uint32_t src, uint32_t dst, uint8_t proto, uint16_t len);

/* ether.c */
void ether_input(const uint8_t *frame, size_t len);
/* frame: ETH_FRAME_MAX bytes, header space at the front; len = whole frame. */
int ether_output(const uint8_t dst[ETH_ALEN], uint16_t type, uint8_t *frame, size_t len);
extern const uint8_t ether_broadcast[ETH_ALEN];

/* arp.c */
void arp_input(const uint8_t *pkt, size_t len);
/* Send an IPv4 frame to next_hop, resolving (or queueing) first. */
int arp_output_ip(uint32_t next_hop, uint8_t *frame, size_t len);
void arp_timers(void);
void arp_reset(void);

/* ip_in.c, ip_out.c */
void ip_input(const uint8_t *pkt, size_t len);
/* frame: payload_len bytes at NET_IP_PAYLOAD_OFF; src 0 = interface address. */
int ip_output(uint32_t src, uint32_t dst, uint8_t proto, uint8_t *frame, size_t payload_len);

/* icmp.c, udp.c, dhcp.c, tcp_in.c: ip_input hands each its payload. src/dst host order. */
void icmp_input(uint32_t src, uint32_t dst, const uint8_t *pkt, size_t len);
void udp_input(uint32_t src, uint32_t dst, const uint8_t *pkt, size_t len);
void udp_reset(void);
void dhcp_timers(void);
void dhcp_reset(void);
void tcp_input(uint32_t src, uint32_t dst, const uint8_t *pkt, size_t len);
void tcp_timers(void);
void tcp_reset(void);

#endif
