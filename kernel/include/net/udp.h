/*
 * udp.h: a minimal UDP API of the stack (kernel/net/udp.c): bind a port to a
 * receive callback and send datagrams. The DHCP client is its user.
 */
#ifndef CLLM_NET_UDP_H
#define CLLM_NET_UDP_H

#include "types.h"

/* Datagram for a bound port; src_ip/src_port host order; data valid during the call. */
typedef void (*udp_recv_fn)(uint32_t src_ip, uint16_t src_port, const uint8_t *data, size_t len);

/* 0, or -1 if the port is bound or the table (UDP_BINDINGS) is full. */
int udp_bind(uint16_t port, udp_recv_fn fn);

/* Send one datagram (len <= 1472); src_ip 0 = the interface address. 0 or -1. */
int udp_send(uint32_t src_ip, uint16_t sport, uint32_t dst_ip, uint16_t dport, const void *data,
             size_t len);

#endif
