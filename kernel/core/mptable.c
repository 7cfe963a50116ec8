/*
 * The processors from the Intel MultiProcessor Specification 1.4 tables (acpi.h),
 * smp_init's fallback when there is no usable ACPI MADT. Untrusted like the MADT:
 * lengths bounded, checksums checked, every byte mapped before it is read.
 *
 * Formats, little-endian:
 *   floating pointer "_MP_", 16 bytes, 16-byte aligned, in the first KiB of the EBDA,
 *   the last KiB of base memory or 0xF0000-0xFFFFF:
 *     0 "_MP_"  4 configuration table address (4)  8 length in 16-byte units (1)
 *     9 spec revision  10 checksum (all 16 bytes)  11 feature byte 1 (non-zero: a
 *     default configuration, no table)  12-15 more feature bytes
 *   configuration table header, 44 bytes:
 *     0 "PCMP"  4 base table length (2)  6 spec revision  7 checksum (base table)
 *     8 OEM id (8)  16 product id (12)  28 OEM table (4)  32 OEM table size (2)
 *     34 entry count (2)  36 local APIC address (4)  40 extended length (2) ...
 *   entries: type 0 processor, 20 bytes (1 APIC id, 2 APIC version, 3 flags: bit 0
 *   enabled, bit 1 boot processor); types 1-4 (bus, I/O APIC, interrupts), 8 bytes.
 */
#include "acpi.h"
#include "kernel.h"

#define MP_FLOAT_LEN 16
#define MP_HEADER_LEN 44
#define MP_ENTRY_CPU 0
#define MP_ENTRY_CPU_LEN 20
#define MP_ENTRY_OTHER_LEN 8
#define MP_ENTRY_MAX_TYPE 4
#define MP_CPU_ENABLED 1u
#define MP_BIOS_LO 0xF0000u
#define MP_BIOS_HI 0x100000u
#define MP_SCAN_LEN 1024
#define MP_DEFAULT_LAPIC 0xFEE00000u

static uint16_t rd16(const uint8_t *p) {
    return (uint16_t)(p[0] | p[1] << 8);
}

static uintptr_t mptable_find_float(void) {
    uintptr_t ebda = fw_ebda();
    uintptr_t a = 0;
    if (ebda)
        a = fw_scan(ebda, ebda + MP_SCAN_LEN, "_MP_", 4, MP_FLOAT_LEN, 16);
    if (!a)
        a = fw_scan(0x9FC00u, 0xA0000u, "_MP_", 4, MP_FLOAT_LEN, 16);
    if (!a)
        a = fw_scan(MP_BIOS_LO, MP_BIOS_HI, "_MP_", 4, MP_FLOAT_LEN, 16);
    return a;
}

bool mptable_find_cpus(struct cpu_table *t, const char **why) {
    uintptr_t fp = mptable_find_float();
    if (!fp) {
        *why = "no MP floating pointer";
        return false;
    }
    const uint8_t *f = (const uint8_t *)fp;
    if (f[11] != 0) {
        *why = "MP default configuration (no table) is not supported";
        return false;
    }
    uint32_t addr = fw_rd32(f + 4);
    if (!fw_readable(addr, MP_HEADER_LEN) || memcmp((const void *)(uintptr_t)addr, "PCMP", 4)) {
        *why = "MP configuration table missing";
        return false;
    }
    const uint8_t *c = (const uint8_t *)(uintptr_t)addr;
    uint16_t len = rd16(c + 4), count = rd16(c + 34);
    if (len < MP_HEADER_LEN || !fw_readable(addr, len) || fw_sum(c, len) != 0) {
        *why = "MP configuration table length or checksum bad";
        return false;
    }
    memset(t, 0, sizeof(*t));
    t->source = "MP table";
    t->lapic_base = fw_rd32(c + 36) ? fw_rd32(c + 36) : MP_DEFAULT_LAPIC;
    uint32_t off = MP_HEADER_LEN;
    for (uint16_t i = 0; i < count; i++) {
        if (off >= len || c[off] > MP_ENTRY_MAX_TYPE) {
            *why = "MP table entry past the table or of unknown type";
            return false;
        }
        uint32_t elen = c[off] == MP_ENTRY_CPU ? MP_ENTRY_CPU_LEN : MP_ENTRY_OTHER_LEN;
        if (off + elen > len) {
            *why = "MP table entry runs past the table";
            return false;
        }
        const uint8_t *e = c + off;
        if (e[0] == MP_ENTRY_CPU && (e[3] & MP_CPU_ENABLED) && t->n < CPU_TABLE_MAX)
            t->apic_id[t->n++] = e[1];
        off += elen;
    }
    if (t->n == 0) {
        *why = "MP table lists no enabled processor";
        return false;
    }
    if (t->lapic_base & 0xFFFu) {
        *why = "MP table local APIC address unusable";
        return false;
    }
    return true;
}
