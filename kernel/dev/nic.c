/*
 * The NIC driver table and its walk (dev/netdev.h). Each driver lives in its own
 * file and exports one struct netdev_driver; adding a driver is that file plus one
 * row here. net_init (kernel/net/net_boot.c) calls nic_probe with cllm.nic=: "auto"
 * tries the drivers in table order, a name tries that driver only. For each PCI id
 * a driver lists, the first matching function found by pci_init is probed; the
 * device it returns goes through netdev_register, which checks its ops.
 */
#include "dev/netdev.h"
#include "dev/pci.h"
#include "kernel.h"

extern const struct netdev_driver e1000_driver;      /* kernel/dev/e1000.c */
extern const struct netdev_driver virtio_net_driver; /* kernel/dev/virtio_net.c */

/* Probed in this order by cllm.nic=auto. */
static const struct netdev_driver *const nic_drivers[] = {
    &e1000_driver,
    &virtio_net_driver,
};

/* Probe one driver on the first PCI function it drives: 0 once a device is registered. */
static int nic_try(const struct netdev_driver *drv) {
    for (size_t i = 0; i < drv->n_device_ids; i++) {
        const struct pci_device *pd = pci_find(drv->vendor, drv->device_ids[i]);
        if (!pd)
            continue;
        struct netdev *d = drv->probe(pd);
        return d && netdev_register(d) == 0 ? 0 : -1;
    }
    return -1;
}

static const struct netdev_driver *nic_find(const char *name) {
    for (size_t i = 0; i < ARRAY_SIZE(nic_drivers); i++) {
        if (strcmp(nic_drivers[i]->name, name) == 0)
            return nic_drivers[i];
    }
    return NULL;
}

int nic_probe(const char *name) {
    if (strcmp(name, "auto") != 0) {
        const struct netdev_driver *drv = nic_find(name);
        if (drv)
            return nic_try(drv);
        printk("cllm: warning: no NIC driver named \"%s\"; drivers:", name);
        for (size_t i = 0; i < ARRAY_SIZE(nic_drivers); i++)
            printk(" %s", nic_drivers[i]->name);
        printk("; trying each (cllm.nic=auto)\n");
    }
    for (size_t i = 0; i < ARRAY_SIZE(nic_drivers); i++) {
        if (nic_try(nic_drivers[i]) == 0)
            return 0;
    }
    return -1;
}
