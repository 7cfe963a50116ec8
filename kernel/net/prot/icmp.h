/*
 * ICMP (RFC 792): the echo request/reply header. Wire format only.
 */
#ifndef CLLM_PROT_ICMP_H
#define CLLM_PROT_ICMP_H

#include "types.h"

#define ICMP_HLEN 8
#define ICMP_ECHO_REPLY 0
#define ICMP_ECHO_REQUEST 8

struct icmp_echo {
    uint8_t type;  /* ICMP_ECHO_* */
    uint8_t code;  /* 0 */
    uint16_t csum; /* over the whole ICMP message */
    uint16_t id;
    uint16_t seq;
} PACKED;

#endif
