/*
 * The processors from the ACPI MADT (acpi.h), for smp_init. Firmware tables are
 * untrusted input: each is read only after fw_readable says every byte of it is
 * mapped, its length is bounded before use, and its checksum must be zero.
 *
 * Formats (ACPI 6.x, section 5.2), all little-endian:
 *   RSDP, 16-byte aligned in the first KiB of the EBDA or in 0xE0000-0xFFFFF:
 *     0 "RSD PTR " (8)  8 checksum of bytes 0-19  9 OEM id (6)  15 revision
 *     16 RSDT address (4); revision >= 2: 20 length (4)  24 XSDT address (8)
 *     32 checksum of the whole length
 *   Every system description table starts with a 36-byte header:
 *     0 signature (4)  4 length (4, header included)  8 revision  9 checksum (whole)
 *     10 OEM id (6)  16 OEM table id (8)  24 OEM revision  28 creator id  32 revision
 *   RSDT: header + 32-bit table addresses; XSDT: header + 64-bit table addresses.
 *   MADT ("APIC"): header, 36 local APIC address (4), 40 flags (4), then entries from 44,
 *     each 0 type, 1 length (>= 2):
 *       type 0 processor local APIC: 2 processor uid, 3 APIC id, 4 flags (4; bit 0
 *         enabled, bit 1 online capable)
 *       type 5 local APIC address override: 4 address (8)
 * Page 0 stays unmapped (NULL faults), so the BIOS data area's EBDA pointer at 0x40E
 * is not read: the EBDA is the top of base memory, where the memory map's first usable
 * region ends (the value that pointer normally holds).
 */
#include "acpi.h"
#include "bootinfo.h"
#include "kernel.h"
#include "memlayout.h"
#include "mm.h"

#define RSDP_SIG "RSD PTR "
#define RSDP_V1_LEN 20
#define RSDP_V2_LEN 36
#define SDT_HEADER_LEN 36
#define SDT_MAX_LEN (1u << 20) /* no real table is this long; bounds a bad length */
#define MADT_ENTRIES 44
#define MADT_LAPIC 0
#define MADT_LAPIC_OVERRIDE 5
#define MADT_LAPIC_ENABLED 1u
#define MADT_LAPIC_ONLINE_CAPABLE 2u
#define BIOS_ROM_LO 0xE0000u
#define BIOS_ROM_HI 0x100000u
#define BASE_MEMORY_TOP 0xA0000u
#define EBDA_SCAN_LEN 1024

uint32_t fw_rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p) {
    return (uint64_t)fw_rd32(p) | (uint64_t)fw_rd32(p + 4) << 32;
}

bool fw_readable(uint64_t addr, uint64_t len) {
    if (len == 0 || addr + len < addr || addr + len > 0x100000000ull)
        return false;
    for (uint64_t page = addr & ~(uint64_t)(PAGE_SIZE - 1); page < addr + len; page += PAGE_SIZE)
        if (!vm_is_mapped((uintptr_t)page))
            return false;
    return true;
}

uint8_t fw_sum(const uint8_t *p, size_t len) {
    uint8_t s = 0;
    for (size_t i = 0; i < len; i++)
        s = (uint8_t)(s + p[i]);
    return s;
}

uintptr_t fw_scan(uintptr_t lo, uintptr_t hi, const char *sig, size_t sig_len, size_t len,
                  size_t step) {
    for (uintptr_t a = lo; a + len <= hi; a += step) {
        if (!fw_readable(a, len))
            continue;
        const uint8_t *p = (const uint8_t *)a;
        if (memcmp(p, sig, sig_len) == 0 && fw_sum(p, len) == 0)
            return a;
    }
    return 0;
}

uintptr_t fw_ebda(void) {
    const struct bootinfo *bi = bootinfo_get();
    for (size_t r = 0; bi && r < bi->n_mem; r++) {
        const struct boot_mem_region *m = &bi->mem[r];
        if (m->type == 1 && m->base == 0 && m->len >= 0x80000 && m->len < BASE_MEMORY_TOP)
            return (uintptr_t)m->len & ~(uintptr_t)15;
    }
    return 0;
}

static uintptr_t acpi_find_rsdp(void) {
    uintptr_t ebda = fw_ebda();
    uintptr_t a = ebda ? fw_scan(ebda, ebda + EBDA_SCAN_LEN, RSDP_SIG, 8, RSDP_V1_LEN, 16) : 0;
    return a ? a : fw_scan(BIOS_ROM_LO, BIOS_ROM_HI, RSDP_SIG, 8, RSDP_V1_LEN, 16);
}

/* The table at addr if its header, length and checksum are sound and its signature
 * is sig (NULL: any), else NULL; *len gets its length. */
static const uint8_t *acpi_table(uint64_t addr, const char *sig, uint32_t *len) {
    if (!fw_readable(addr, SDT_HEADER_LEN))
        return NULL;
    const uint8_t *t = (const uint8_t *)(uintptr_t)addr;
    uint32_t n = fw_rd32(t + 4);
    if (n < SDT_HEADER_LEN || n > SDT_MAX_LEN || !fw_readable(addr, n))
        return NULL;
    if ((sig && memcmp(t, sig, 4) != 0) || fw_sum(t, n) != 0)
        return NULL;
    *len = n;
    return t;
}

/* The MADT through the XSDT (ACPI 2.0+) or the RSDT. */
static const uint8_t *acpi_find_madt(const uint8_t *rsdp, uint32_t *len, const char **why) {
    uint32_t root_len;
    const uint8_t *root = NULL;
    size_t width = 4;
    if (rsdp[15] >= 2 && fw_readable((uintptr_t)rsdp, RSDP_V2_LEN) &&
        fw_sum(rsdp, RSDP_V2_LEN) == 0 && rd64(rsdp + 24) != 0) {
        root = acpi_table(rd64(rsdp + 24), "XSDT", &root_len);
        width = 8;
    }
    if (!root) {
        root = acpi_table(fw_rd32(rsdp + 16), "RSDT", &root_len);
        width = 4;
    }
    if (!root) {
        *why = "RSDT/XSDT missing or bad checksum";
        return NULL;
    }
    for (uint32_t off = SDT_HEADER_LEN; off + width <= root_len; off += width) {
        uint64_t addr = width == 8 ? rd64(root + off) : fw_rd32(root + off);
        const uint8_t *t = acpi_table(addr, "APIC", len);
        if (t)
            return t;
    }
    *why = "no MADT with a valid checksum";
    return NULL;
}

bool acpi_find_cpus(struct cpu_table *t, const char **why) {
    uintptr_t rsdp = acpi_find_rsdp();
    if (!rsdp) {
        *why = "no ACPI RSDP";
        return false;
    }
    uint32_t len;
    const uint8_t *madt = acpi_find_madt((const uint8_t *)rsdp, &len, why);
    if (!madt)
        return false;
    if (len < MADT_ENTRIES) {
        *why = "MADT shorter than its header";
        return false;
    }
    memset(t, 0, sizeof(*t));
    t->source = "ACPI MADT";
    uint64_t base = fw_rd32(madt + 36);
    for (uint32_t off = MADT_ENTRIES; off + 2 <= len;) {
        const uint8_t *e = madt + off;
        uint8_t type = e[0], elen = e[1];
        if (elen < 2 || off + elen > len) {
            *why = "MADT entry runs past the table";
            return false;
        }
        if (type == MADT_LAPIC && elen >= 8) {
            uint32_t flags = fw_rd32(e + 4);
            if ((flags & MADT_LAPIC_ENABLED) && t->n < CPU_TABLE_MAX)
                t->apic_id[t->n++] = e[3];
        } else if (type == MADT_LAPIC_OVERRIDE && elen >= 12) {
            base = rd64(e + 4);
        }
        off += elen;
    }
    if (t->n == 0) {
        *why = "MADT lists no enabled processor";
        return false;
    }
    if (base == 0 || base >= 0x100000000ull || (base & (PAGE_SIZE - 1))) {
        *why = "MADT local APIC address unusable";
        return false;
    }
    t->lapic_base = (uint32_t)base;
    return true;
}
