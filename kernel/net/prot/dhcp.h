/*
 * DHCP (RFC 2131, options RFC 2132): the BOOTP message and the option codes the
 * client uses. Wire format only. Options follow the magic cookie as
 * (code, len, bytes...) until DHCP_OPT_END.
 */
#ifndef CLLM_PROT_DHCP_H
#define CLLM_PROT_DHCP_H

#include "types.h"

#define DHCP_SERVER_PORT 67
#define DHCP_CLIENT_PORT 68
#define DHCP_MAGIC 0x63825363u

#define DHCP_OP_REQUEST 1 /* BOOTREQUEST */
#define DHCP_OP_REPLY 2   /* BOOTREPLY */
#define DHCP_FLAG_BROADCAST 0x8000

#define DHCP_OPT_PAD 0
#define DHCP_OPT_SUBNET 1
#define DHCP_OPT_ROUTER 3
#define DHCP_OPT_REQ_IP 50
#define DHCP_OPT_LEASE 51
#define DHCP_OPT_MSG_TYPE 53
#define DHCP_OPT_SERVER_ID 54
#define DHCP_OPT_PARAM_LIST 55
#define DHCP_OPT_END 255

#define DHCP_DISCOVER 1
#define DHCP_OFFER 2
#define DHCP_REQUEST 3
#define DHCP_DECLINE 4
#define DHCP_ACK 5
#define DHCP_NAK 6

struct dhcp_msg {
    uint8_t op;
    uint8_t htype; /* 1 = Ethernet */
    uint8_t hlen;  /* 6 */
    uint8_t hops;
    uint32_t xid;
    uint16_t secs;
    uint16_t flags;
    uint32_t ciaddr;
    uint32_t yiaddr; /* "your" address: the offer */
    uint32_t siaddr;
    uint32_t giaddr;
    uint8_t chaddr[16];
    uint8_t sname[64];
    uint8_t file[128];
    uint32_t magic; /* DHCP_MAGIC */
} PACKED;

#define DHCP_OPTIONS_MAX 312 /* option bytes a client message may carry */

#endif
