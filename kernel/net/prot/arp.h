/*
 * ARP for IPv4 over Ethernet (RFC 826). Wire format only.
 */
#ifndef CLLM_PROT_ARP_H
#define CLLM_PROT_ARP_H

#include "net/prot/ether.h"

#define ARP_HTYPE_ETHER 1
#define ARP_OP_REQUEST 1
#define ARP_OP_REPLY 2

struct arp_pkt {
    uint16_t htype;        /* ARP_HTYPE_ETHER */
    uint16_t ptype;        /* ETH_TYPE_IPV4 */
    uint8_t hlen;          /* 6 */
    uint8_t plen;          /* 4 */
    uint16_t op;           /* ARP_OP_* */
    uint8_t sha[ETH_ALEN]; /* sender hardware address */
    uint32_t spa;          /* sender IPv4 address */
    uint8_t tha[ETH_ALEN]; /* target hardware address (zero in requests) */
    uint32_t tpa;          /* target IPv4 address */
} PACKED;

#endif
