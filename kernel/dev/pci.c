/*
 * PCI enumeration through configuration mechanism 1 (dev/pci.h): address written to
 * 0xCF8 (enable bit, bus, slot, function, register), data read from 0xCFC. pci_init
 * probes every bus, slot and function once at boot, keeps up to PCI_MAX_DEVICES and
 * logs one line per function (unless cllm.log=quiet). The NIC drivers (kernel/dev/e1000.c,
 * virtio_net.c) find their device here and program it through the config accessors.
 */
#include "dev/pci.h"
#include "kernel.h"
#include "param.h"
#include "x86.h"

#define PCI_CONFIG_ADDRESS 0xCF8
#define PCI_CONFIG_DATA 0xCFC
#define PCI_ENABLE 0x80000000u
#define PCI_BUSES 256
#define PCI_SLOTS 32
#define PCI_FUNCS 8
#define PCI_OFF_ID 0x00
#define PCI_OFF_CLASS 0x08
#define PCI_OFF_HEADER 0x0C
#define PCI_OFF_BAR0 0x10
#define PCI_OFF_IRQ 0x3C
#define PCI_HEADER_MULTIFUNCTION 0x80

static struct pci_device devices[PCI_MAX_DEVICES];
static size_t n_devices;

static uint32_t pci_read(uint8_t bus, uint8_t slot, uint8_t func, uint8_t off) {
    outl(PCI_CONFIG_ADDRESS, PCI_ENABLE | (uint32_t)bus << 16 | (uint32_t)slot << 11 |
                                 (uint32_t)func << 8 | (off & 0xFC));
    return inl(PCI_CONFIG_DATA);
}

static void pci_write(uint8_t bus, uint8_t slot, uint8_t func, uint8_t off, uint32_t v) {
    outl(PCI_CONFIG_ADDRESS, PCI_ENABLE | (uint32_t)bus << 16 | (uint32_t)slot << 11 |
                                 (uint32_t)func << 8 | (off & 0xFC));
    outl(PCI_CONFIG_DATA, v);
}

static void pci_add(uint8_t bus, uint8_t slot, uint8_t func, uint32_t id) {
    if (n_devices == PCI_MAX_DEVICES) {
        printk("cllm: warning: pci %02x:%02x.%u not kept (more than %d functions)\n", bus, slot,
               func, PCI_MAX_DEVICES);
        return;
    }
    struct pci_device *d = &devices[n_devices++];
    uint32_t cls = pci_read(bus, slot, func, PCI_OFF_CLASS);
    d->bus = bus;
    d->slot = slot;
    d->func = func;
    d->vendor = (uint16_t)id;
    d->device = (uint16_t)(id >> 16);
    d->class_code = (uint8_t)(cls >> 24);
    d->subclass = (uint8_t)(cls >> 16);
    d->prog_if = (uint8_t)(cls >> 8);
    d->irq_line = (uint8_t)pci_read(bus, slot, func, PCI_OFF_IRQ);
    /* Bridges (header type 1) have two BARs; their other slots hold bus numbers. */
    bool bridge = (pci_read(bus, slot, func, PCI_OFF_HEADER) >> 16 & 0x7F) != 0;
    for (int i = 0; i < 6; i++)
        d->bar[i] =
            bridge && i >= 2 ? 0 : pci_read(bus, slot, func, (uint8_t)(PCI_OFF_BAR0 + 4 * i));
    char bars[6 * 18 + 1] = "";
    size_t len = 0;
    for (int i = 0; i < 6; i++) {
        if (d->bar[i])
            len += (size_t)snprintf(bars + len, sizeof(bars) - len, " bar%d=0x%08x", i, d->bar[i]);
    }
    if (log_level() >= LOG_INFO)
        printk("cllm: pci %02x:%02x.%u %04x:%04x class %02x.%02x.%02x irq %u%s\n", bus, slot, func,
               d->vendor, d->device, d->class_code, d->subclass, d->prog_if, d->irq_line, bars);
}

void pci_init(void) {
    for (unsigned bus = 0; bus < PCI_BUSES; bus++) {
        for (uint8_t slot = 0; slot < PCI_SLOTS; slot++) {
            uint32_t id = pci_read((uint8_t)bus, slot, 0, PCI_OFF_ID);
            if ((id & 0xFFFF) == 0xFFFF)
                continue;
            pci_add((uint8_t)bus, slot, 0, id);
            uint32_t hdr = pci_read((uint8_t)bus, slot, 0, PCI_OFF_HEADER);
            if (!(hdr >> 16 & PCI_HEADER_MULTIFUNCTION))
                continue;
            for (uint8_t func = 1; func < PCI_FUNCS; func++) {
                id = pci_read((uint8_t)bus, slot, func, PCI_OFF_ID);
                if ((id & 0xFFFF) != 0xFFFF)
                    pci_add((uint8_t)bus, slot, func, id);
            }
        }
    }
    printk("cllm: pci: %u functions\n", (unsigned)n_devices);
}

size_t pci_count(void) {
    return n_devices;
}

const struct pci_device *pci_get(size_t i) {
    return i < n_devices ? &devices[i] : NULL;
}

const struct pci_device *pci_find(uint16_t vendor, uint16_t device) {
    for (size_t i = 0; i < n_devices; i++) {
        if (devices[i].vendor == vendor && devices[i].device == device)
            return &devices[i];
    }
    return NULL;
}

uint32_t pci_config_read32(const struct pci_device *d, uint8_t off) {
    return pci_read(d->bus, d->slot, d->func, off);
}

void pci_config_write32(const struct pci_device *d, uint8_t off, uint32_t v) {
    pci_write(d->bus, d->slot, d->func, off, v);
}

void pci_enable_bus_master(const struct pci_device *d) {
    uint32_t cmd = pci_config_read32(d, PCI_COMMAND);
    cmd |= PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_BUS_MASTER;
    /* The status half of this register is write-1-to-clear: write back zeros there. */
    pci_config_write32(d, PCI_COMMAND, cmd & 0xFFFF);
}
