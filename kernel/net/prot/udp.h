/*
 * UDP header (RFC 768). Wire format only. The checksum covers a pseudo header
 * (src, dst, zero, proto, UDP length); 0 on the wire means "not computed".
 */
#ifndef CLLM_PROT_UDP_H
#define CLLM_PROT_UDP_H

#include "types.h"

#define UDP_HLEN 8

struct udp_hdr {
    uint16_t sport;
    uint16_t dport;
    uint16_t len; /* header + payload bytes */
    uint16_t csum;
} PACKED;

#endif
