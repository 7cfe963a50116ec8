/*
 * netdev: the interface between NIC drivers (kernel/dev/e1000.c, virtio_net.c) and
 * the network stack (kernel/net). A driver is a struct netdev_driver (name, PCI ids,
 * probe) and one row in the driver table (kernel/dev/nic.c); nic_probe walks the
 * table for cllm.nic=, and each probe brings its PCI function up and returns a
 * struct netdev with its MAC and an ops table, which netdev_register() checks
 * (every required op present), announces on the log and adds. The stack polls the
 * device from net_poll(); no interrupts are used. The registry itself
 * (kernel/net/netdev.c) is portable, so host tests register a fake device.
 */
#ifndef CLLM_DEV_NETDEV_H
#define CLLM_DEV_NETDEV_H

#include "types.h"

#define NETDEV_MAX 4 /* devices the registry holds */

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
    const char *name; /* driver name, e.g. "e1000" */
    uint8_t mac[6];
    const struct netdev_ops *ops;
    void *priv; /* the driver's own state */
};

/* Add a device and log "net: <name> <mac> link up|down". Returns 0, or -1 (and logs
 * which op is missing) if an op is NULL, or if the registry is full. The struct must
 * outlive the kernel. */
int netdev_register(struct netdev *d);

/* Registered devices, in order of registration. */
size_t netdev_count(void);
struct netdev *netdev_get(size_t i);

/* Forget every device (host tests only). */
void netdev_reset(void);

struct pci_device;

/* A NIC driver (kernel/dev): one row of the driver table in kernel/dev/nic.c. */
struct netdev_driver {
    const char *name;           /* what cllm.nic= calls it, e.g. "e1000" */
    uint16_t vendor;            /* PCI vendor id */
    const uint16_t *device_ids; /* (n_device_ids) PCI device ids it drives, preferred first */
    size_t n_device_ids;
    /* Bring the function up; the device to register (name, mac, ops and priv
     * filled, storage owned by the driver), or NULL with the reason logged. */
    struct netdev *(*probe)(const struct pci_device *pd);
};

/* kernel/dev/nic.c: probe the driver named `name` ("auto": each in table order until
 * one registers a device). 0 if a device was registered, -1 if none (the reason is
 * logged). */
int nic_probe(const char *name);

#endif
