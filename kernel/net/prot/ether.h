/*
 * Ethernet II frame header (IEEE 802.3 with an EtherType). Wire format only:
 * packed structs and constants. Multi-byte fields are big-endian on the wire.
 */
#ifndef CLLM_PROT_ETHER_H
#define CLLM_PROT_ETHER_H

#include "types.h"

#define ETH_ALEN 6
#define ETH_HLEN 14        /* dst, src, type */
#define ETH_MTU 1500       /* payload bytes */
#define ETH_FRAME_MAX 1514 /* header + MTU, without the FCS (NICs add it) */
#define ETH_FRAME_MIN 60   /* shorter frames are padded before sending */

#define ETH_TYPE_IPV4 0x0800
#define ETH_TYPE_ARP 0x0806

struct eth_hdr {
    uint8_t dst[ETH_ALEN];
    uint8_t src[ETH_ALEN];
    uint16_t type; /* ETH_TYPE_* */
} PACKED;

#endif
