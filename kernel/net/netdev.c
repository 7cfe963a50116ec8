/*
 * The NIC registry (dev/netdev.h): the driver table's walk (kernel/dev/nic.c)
 * registers each device a driver brought up; this checks its name and ops and
 * announces its MAC and link, so drivers do not repeat that. net_boot.c binds the
 * stack to the first device. Portable, so host tests register a fake device.
 */
#include "dev/netdev.h"
#include "port.h"

static struct netdev *devices[NETDEV_MAX];
static size_t n_devices;

int netdev_register(struct netdev *d) {
    const char *missing = NULL;
    if (!d->name)
        missing = "name";
    else if (!d->ops)
        missing = "ops";
    else if (!d->ops->send)
        missing = "send";
    else if (!d->ops->poll_rx)
        missing = "poll_rx";
    else if (!d->ops->link_up)
        missing = "link_up";
    if (missing) {
        port_log("net: netdev %s rejected: %s missing", d->name ? d->name : "?", missing);
        return -1;
    }
    if (n_devices == NETDEV_MAX) {
        port_log("net: netdev %s rejected: registry full (%d)", d->name, NETDEV_MAX);
        return -1;
    }
    devices[n_devices++] = d;
    const uint8_t *m = d->mac;
    port_log("net: %s %02x:%02x:%02x:%02x:%02x:%02x link %s", d->name, m[0], m[1], m[2], m[3], m[4],
             m[5], d->ops->link_up(d) ? "up" : "down");
    return 0;
}

size_t netdev_count(void) {
    return n_devices;
}

struct netdev *netdev_get(size_t i) {
    return i < n_devices ? devices[i] : NULL;
}

void netdev_reset(void) {
    n_devices = 0;
}
