/*
 * netdev: the interface between NIC drivers (kernel/dev/e1000.c, virtio_net.c) and
 * the network stack (kernel/net). A driver fills a struct netdev with its MAC and an
 * ops table and calls netdev_register(), which refuses a device that lacks a
 * required op. The stack polls the device from net_poll(); no interrupts are used.
 * The registry itself (kernel/net/netdev.c) is portable, so host tests register
 * a fake device.
 */
#ifndef CLLM_DEV_NETDEV_H
#define CLLM_DEV_NETDEV_H

#include "types.h"

#define NETDEV_MAX 4           /* devices the registry holds */

struct netdev;

/* Called by poll_rx for each received frame; the frame is only valid during the call. */
typedef void (*netdev_rx_fn)(struct netdev *d, const uint8_t *frame, size_t len);

struct netdev_ops {
    /* Required: queue one frame (Ethernet header included, no FCS, len <= 1514).
     * The driver copies it. Returns 0, or -1 if the TX ring is full. */
    int (*send)(struct netdev *d, const void *frame, size_t len);
    /* Required: hand up to `budget` received frames to rx; returns how many. */
    int (*poll_rx)(struct netdev *d, netdev_rx_fn rx, int budget);
    /* Required: true while the PHY reports link. */
    bool (*link_up)(struct netdev *d);
};

struct netdev {
    const char *name;              /* driver name, e.g. "e1000" */
    uint8_t mac[6];
    const struct netdev_ops *ops;
    void *priv;                    /* the driver's own state */
};

/* Add a device. Returns 0, or -1 (and logs which op is missing) if an op is NULL,
 * or if the registry is full. The struct must outlive the kernel. */
int netdev_register(struct netdev *d);

/* Registered devices, in order of registration. */
size_t netdev_count(void);
struct netdev *netdev_get(size_t i);

/* Forget every device (host tests only). */
void netdev_reset(void);

/* Kernel drivers (kernel/dev): find their PCI function, bring it up, register.
 * 0 on success, -1 if absent or broken (the reason is logged). */
int e1000_probe(void);
int virtio_net_probe(void);

#endif
