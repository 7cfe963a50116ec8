/*
 * dev/pci.h: PCI enumeration through configuration mechanism 1 (ports 0xCF8/0xCFC),
 * kernel/dev/pci.c. pci_init scans every bus/slot/function once at boot and logs one
 * line per function; drivers then look their device up and program it.
 */
#ifndef CLLM_DEV_PCI_H
#define CLLM_DEV_PCI_H

#include "types.h"

#define PCI_BAR_IO 0x1u              /* bar[i] bit 0: I/O space */
#define PCI_BAR_IO_MASK 0xFFFFFFFCu  /* I/O port base */
#define PCI_BAR_MEM_MASK 0xFFFFFFF0u /* memory base (32-bit BARs) */

#define PCI_COMMAND 0x04 /* config offset of the command register */
#define PCI_COMMAND_IO 0x1u
#define PCI_COMMAND_MEMORY 0x2u
#define PCI_COMMAND_BUS_MASTER 0x4u

struct pci_device {
    uint8_t bus, slot, func;
    uint16_t vendor, device;
    uint8_t class_code, subclass, prog_if, irq_line;
    uint32_t bar[6]; /* raw BAR registers: mask with PCI_BAR_* for the base */
};

void pci_init(void);
size_t pci_count(void);
const struct pci_device *pci_get(size_t i);                          /* NULL if i >= pci_count() */
const struct pci_device *pci_find(uint16_t vendor, uint16_t device); /* first match or NULL */
uint32_t pci_config_read32(const struct pci_device *d, uint8_t off); /* off 4-byte aligned */
void pci_config_write32(const struct pci_device *d, uint8_t off, uint32_t v);
void pci_enable_bus_master(const struct pci_device *d); /* also enables I/O and memory decode */

#endif
