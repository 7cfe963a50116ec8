/*
 * TCP header (RFC 793) and the MSS option (RFC 879). Wire format only.
 * The checksum covers the same pseudo header as UDP.
 */
#ifndef CLLM_PROT_TCP_H
#define CLLM_PROT_TCP_H

#include "types.h"

#define TCP_HLEN 20 /* header without options */
#define TCP_HLEN_MAX 60

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_URG 0x20

#define TCP_OPT_END 0
#define TCP_OPT_NOP 1
#define TCP_OPT_MSS 2 /* kind 2, length 4, 16-bit MSS */
#define TCP_OPT_MSS_LEN 4

struct tcp_hdr {
    uint16_t sport;
    uint16_t dport;
    uint32_t seq;
    uint32_t ack;
    uint8_t off;   /* data offset in 32-bit words, in the high nibble */
    uint8_t flags; /* TCP_* */
    uint16_t wnd;
    uint16_t csum;
    uint16_t urg;
} PACKED;

#endif
