/*
 * net.h: the network stack's public API (kernel/net). One interface, IPv4 only.
 * kernel/net/net_boot.c binds it to the first NIC and drives it from net_poll();
 * host tests drive it with a fake netdev and a fake clock: the stack never reads
 * a clock itself, it uses the time given to net_stack_poll()/net_stack_set_time().
 *
 * Statistics: every dropped packet bumps exactly one reason counter (NET_DROP_*);
 * net_stats_format() prints them as Prometheus text for /metrics.
 */
#ifndef CLLM_NET_NET_H
#define CLLM_NET_NET_H

#include "dev/netdev.h"
#include "types.h"

/* Byte order: the wire is big-endian, i386 and the hosts we test on are little-endian. */
static inline uint16_t net_htons(uint16_t v) {
    return __builtin_bswap16(v);
}
static inline uint16_t net_ntohs(uint16_t v) {
    return __builtin_bswap16(v);
}
static inline uint32_t net_htonl(uint32_t v) {
    return __builtin_bswap32(v);
}
static inline uint32_t net_ntohl(uint32_t v) {
    return __builtin_bswap32(v);
}

#define NET_IP4(a, b, c, d)                                                                        \
    (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (uint32_t)(d))

/* Drop reasons: X(ENUM, "label"). The label is the Prometheus reason value. */
#define NET_DROP_REASONS(X)                                                                        \
    X(ETH_SHORT, "eth_short")                                                                      \
    X(ETH_NOT_US, "eth_not_us")                                                                    \
    X(ETH_TYPE, "eth_type")                                                                        \
    X(ARP_SHORT, "arp_short")                                                                      \
    X(ARP_FORMAT, "arp_format")                                                                    \
    X(ARP_NOT_US, "arp_not_us")                                                                    \
    X(ARP_UNRESOLVED, "arp_unresolved")                                                            \
    X(ARP_QUEUE_FULL, "arp_queue_full")                                                            \
    X(IP_SHORT, "ip_short")                                                                        \
    X(IP_VERSION, "ip_version")                                                                    \
    X(IP_HDR_LEN, "ip_hdr_len")                                                                    \
    X(IP_CHECKSUM, "ip_checksum")                                                                  \
    X(IP_LEN, "ip_len")                                                                            \
    X(IP_FRAGMENT, "ip_fragment")                                                                  \
    X(IP_NOT_US, "ip_not_us")                                                                      \
    X(IP_PROTO, "ip_proto")                                                                        \
    X(IP_TTL, "ip_ttl")                                                                            \
    X(IP_NO_ADDR, "ip_no_addr")                                                                    \
    X(ICMP_SHORT, "icmp_short")                                                                    \
    X(ICMP_CHECKSUM, "icmp_checksum")                                                              \
    X(ICMP_TYPE, "icmp_type")                                                                      \
    X(UDP_SHORT, "udp_short")                                                                      \
    X(UDP_CHECKSUM, "udp_checksum")                                                                \
    X(UDP_NO_PORT, "udp_no_port")                                                                  \
    X(DHCP_FORMAT, "dhcp_format")                                                                  \
    X(TCP_SHORT, "tcp_short")                                                                      \
    X(TCP_CHECKSUM, "tcp_checksum")                                                                \
    X(TCP_NO_LISTENER, "tcp_no_listener")                                                          \
    X(TCP_NO_CONN_SLOT, "tcp_no_conn_slot")                                                        \
    X(TCP_HALF_OPEN_EVICTED, "tcp_half_open_evicted")                                              \
    X(TCP_OUT_OF_WINDOW, "tcp_out_of_window")                                                      \
    X(TCP_BAD_ACK, "tcp_bad_ack")                                                                  \
    X(TCP_OOO_FULL, "tcp_ooo_full")                                                                \
    X(TCP_STATE, "tcp_state")                                                                      \
    X(TX_DEVICE_FULL, "tx_device_full")                                                            \
    X(TX_NO_DEVICE, "tx_no_device")

enum net_drop {
#define NET_DROP_ENUM(e, s) NET_DROP_##e,
    NET_DROP_REASONS(NET_DROP_ENUM)
#undef NET_DROP_ENUM
        NET_DROP_COUNT
};

struct net_stats {
    uint64_t rx_frames, rx_bytes, tx_frames, tx_bytes;
    uint64_t drops[NET_DROP_COUNT];
    uint64_t arp_requests_sent, arp_replies_sent;
    uint64_t icmp_echo_replies;
    uint64_t tcp_accepted, tcp_resets_sent, tcp_retransmits, tcp_fast_retransmits;
    uint64_t tcp_ooo_queued;
    uint64_t tcp_syn_cookies_sent;     /* SYN+ACKs answered without a record (table full) */
    uint64_t tcp_syn_cookies_accepted; /* connections rebuilt from a cookie in the ACK */
    uint32_t tcp_conns;                /* connections in the pool now (all states) */
    uint32_t tcp_half_open;            /* of which SYN_RCVD */
    uint32_t tcp_buffers;              /* send buffers allocated now */
    uint32_t arp_pending;              /* frames waiting for ARP now */
};

extern struct net_stats net_stats;

/* The interface configuration (host byte order). */
struct net_config {
    uint32_t ip, netmask, gw;
    bool up;   /* ip is set: DHCP bound or static */
    bool dhcp; /* ip came from DHCP */
};

/* Bind the stack to `dev`, reset all state; `now_ms` starts the stack's clock. */
void net_stack_init(struct netdev *dev, uint32_t now_ms);

/* Configure statically (host order); marks the interface up. */
void net_stack_configure(uint32_t ip, uint32_t netmask, uint32_t gw);

/* Start DHCP; on timeout fall back to (fallback_ip, mask, gw). */
void net_dhcp_start(uint32_t fallback_ip, uint32_t fallback_mask, uint32_t fallback_gw);

/* Handle one received Ethernet frame. */
void net_input(const uint8_t *frame, size_t len);

/* Advance the clock to now_ms (monotonic) and run due timers (ARP, DHCP, TCP). */
void net_stack_poll(uint32_t now_ms);

/* Advance the clock to now_ms (monotonic) without running timers: the frames given to
 * net_input next are handled at this time. */
void net_stack_set_time(uint32_t now_ms);

const struct net_config *net_config_get(void);

/* "a.b.c.d" -> host-order address; -1 if not a dotted quad. */
int net_parse_ip(const char *s, uint32_t *out);

/* Prometheus text lines (cllm_net_*); returns the length written (like snprintf). */
size_t net_stats_format(char *buf, size_t cap);

#endif
