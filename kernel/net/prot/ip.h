/*
 * IPv4 header (RFC 791). Wire format only. Options are allowed on input (ihl > 5)
 * and never sent.
 */
#ifndef CLLM_PROT_IP_H
#define CLLM_PROT_IP_H

#include "types.h"

#define IP_HLEN 20 /* header without options */
#define IP_VERSION 4
#define IP_DEFAULT_TTL 64

#define IP_PROTO_ICMP 1
#define IP_PROTO_TCP 6
#define IP_PROTO_UDP 17

#define IP_FLAG_DF 0x4000 /* in frag_off, host order */
#define IP_FLAG_MF 0x2000
#define IP_FRAG_OFFSET 0x1fff /* fragment offset in 8-byte units */

#define IP_BROADCAST 0xffffffffu

struct ip_hdr {
    uint8_t ver_ihl; /* version << 4 | header length in 32-bit words */
    uint8_t tos;
    uint16_t len; /* header + payload bytes */
    uint16_t id;
    uint16_t frag_off; /* flags and fragment offset */
    uint8_t ttl;
    uint8_t proto; /* IP_PROTO_* */
    uint16_t csum; /* ones' complement over the header */
    uint32_t src;
    uint32_t dst;
} PACKED;

#endif
