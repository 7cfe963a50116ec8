/*
 * acpi.h: which processors the firmware says the machine has (kernel/core/acpi.c for
 * the ACPI MADT, kernel/core/mptable.c for the Intel MP table). Called by smp_init.
 * Both readers treat the tables as untrusted: every signature, length and checksum is
 * checked, every byte read lies in memory the page tables map, and a bad table gives
 * false and a reason, never a fault.
 */
#ifndef CLLM_ACPI_H
#define CLLM_ACPI_H

#include "types.h"

#define CPU_TABLE_MAX 64 /* processor entries kept from a table */

struct cpu_table {
    uint32_t lapic_base;            /* physical address of the local APIC registers */
    size_t n;                       /* enabled processors found */
    uint8_t apic_id[CPU_TABLE_MAX]; /* their local APIC ids, table order */
    const char *source;             /* "ACPI MADT" or "MP table" */
};

/* Fill *t from the ACPI MADT; false with *why set if there is none or it is bad. */
bool acpi_find_cpus(struct cpu_table *t, const char **why);
/* The same from the Intel MP configuration table. */
bool mptable_find_cpus(struct cpu_table *t, const char **why);

/* Low-memory helpers shared by both (kernel/core/acpi.c). */
bool fw_readable(uint64_t addr, uint64_t len); /* mapped, below 4 GiB, no wrap */
uint32_t fw_rd32(const uint8_t *p);            /* little-endian, any alignment */
uint8_t fw_sum(const uint8_t *p, size_t len);  /* byte sum (0 = checksum ok) */
uintptr_t fw_scan(uintptr_t lo, uintptr_t hi, const char *sig, size_t sig_len, size_t len,
                  size_t step); /* first checksummed match, 0 if none */
uintptr_t fw_ebda(void);        /* EBDA start, 0 if unknown */

#endif
