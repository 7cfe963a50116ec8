/*
 * net_init / net_poll: NIC probe and the network stack's turn of the poll loop.
 * Placeholder until the drivers and the stack land.
 */
#include "subsys.h"

void net_init(const struct bootinfo *bi) {
    UNUSED(bi);
}

void net_poll(void) {
}
