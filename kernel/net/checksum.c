/*
 * The Internet checksum (RFC 1071) used by IPv4, ICMP, UDP and TCP. Called by
 * every layer on input (verify: the folded sum over the data including the
 * checksum field is 0) and on output (fill: the folded sum with the field zero).
 */
#include "net/stack.h"

uint32_t net_csum_add(uint32_t sum, const void *data, size_t len) {
    const uint8_t *p = data;
    while (len >= 2) {
        sum += (uint32_t)p[0] << 8 | p[1];
        p += 2;
        len -= 2;
    }
    if (len)
        sum += (uint32_t)p[0] << 8;
    return sum;
}

/* Returns the checksum in network order, ready to store into the packet. */
uint16_t net_csum_fold(uint32_t sum) {
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return net_htons((uint16_t)~sum);
}

uint32_t net_csum_pseudo(uint32_t src, uint32_t dst, uint8_t proto, uint16_t len) {
    return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + proto + len;
}
