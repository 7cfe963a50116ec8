/*
 * Host test of the firmware-table readers (kernel/core/acpi.c, kernel/core/mptable.c),
 * built by tests/test_smp_host.py with ASan and UBSan. The BIOS area 0xE0000-0xFFFFF is
 * mapped at its real address and a 1 MiB buffer below 2 GiB (MAP_32BIT) holds the
 * tables; vm_is_mapped says yes for those two ranges only, so a pointer anywhere else
 * is an unmapped one. Good tables give the right processors; each corruption (bad
 * checksum, bad lengths, pointers to unmapped memory, unknown entries) gives false and
 * a reason; random MADT bodies with valid checksums never crash. Prints "acpi: all passed".
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "acpi.h"
#include "bootinfo.h"
#include "host_expect.h"
#include "kernel.h"
#include "mm.h"

#define ROM_LO 0xE0000u
#define ROM_LEN 0x20000u
#define RAM_LEN (1u << 20)
#define RSDP_AT 0xF0000u
#define MP_AT 0xF8000u
#define FUZZ_ROUNDS 20000

static uint8_t *rom, *ram;

bool vm_is_mapped(uintptr_t a) {
    return (a >= ROM_LO && a < ROM_LO + ROM_LEN) ||
           (a >= (uintptr_t)ram && a < (uintptr_t)ram + RAM_LEN);
}

const struct bootinfo *bootinfo_get(void) {
    return NULL;
}

static uint8_t *at(uint32_t addr) {
    return (uint8_t *)(uintptr_t)addr;
}

static uint32_t ram_addr(uint32_t off) {
    return (uint32_t)(uintptr_t)(ram + off);
}

static void put32(uint8_t *p, uint32_t v) {
    memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v) {
    memcpy(p, &v, 8);
}

static void fix_sum(uint8_t *p, size_t len, uint8_t *sum_byte) {
    *sum_byte = 0;
    *sum_byte = (uint8_t)(0x100 - fw_sum(p, len));
}

static void rsdp(int revision, uint32_t rsdt, uint64_t xsdt) {
    uint8_t *r = at(RSDP_AT);
    memcpy(r, "RSD PTR ", 8);
    r[15] = (uint8_t)revision;
    put32(r + 16, rsdt);
    put32(r + 20, 36);
    put64(r + 24, xsdt);
    fix_sum(r, 20, r + 8);
    fix_sum(r, 36, r + 32);
}

/* A table header at ram offset off; the checksum is fixed by seal(). */
static uint8_t *sdt(uint32_t off, const char *sig, uint32_t len) {
    uint8_t *t = ram + off;
    memcpy(t, sig, 4);
    put32(t + 4, len);
    t[8] = 1;
    return t;
}

static void seal(uint8_t *t) {
    uint32_t len;
    memcpy(&len, t + 4, 4);
    fix_sum(t, len, t + 9);
}

/* A MADT at ram+0x2000: 4 local APICs, ids 0, 1, 2 (disabled), 5. */
static uint8_t *madt_good(void) {
    uint32_t len = 44 + 4 * 8;
    uint8_t *m = sdt(0x2000, "APIC", len);
    put32(m + 36, 0xFEE00000u);
    put32(m + 40, 1);
    const uint8_t ids[4] = {0, 1, 2, 5}, en[4] = {1, 1, 0, 1};
    for (int i = 0; i < 4; i++) {
        uint8_t *e = m + 44 + 8 * i;
        e[0] = 0;
        e[1] = 8;
        e[2] = (uint8_t)i;
        e[3] = ids[i];
        put32(e + 4, en[i]);
    }
    seal(m);
    return m;
}

static void rsdt_with(uint32_t entry) {
    uint8_t *r = sdt(0x1000, "RSDT", 36 + 8);
    put32(r + 36, 0x10); /* unmapped: skipped */
    put32(r + 40, entry);
    seal(r);
}

static void reset(void) {
    memset(rom, 0, ROM_LEN);
    memset(ram, 0, RAM_LEN);
}

static bool find(struct cpu_table *t, const char **why) {
    *why = "";
    return acpi_find_cpus(t, why);
}

static void test_acpi(void) {
    struct cpu_table t;
    const char *why;

    reset();
    EXPECT(!find(&t, &why) && strstr(why, "no ACPI RSDP"), "no RSDP: %s", why);

    reset();
    rsdp(0, ram_addr(0x1000), 0);
    rsdt_with(ram_addr(0x2000));
    madt_good();
    EXPECT(find(&t, &why), "good MADT refused: %s", why);
    EXPECT(t.n == 3 && t.apic_id[0] == 0 && t.apic_id[1] == 1 && t.apic_id[2] == 5,
           "processors n=%zu", t.n);
    EXPECT(t.lapic_base == 0xFEE00000u && strcmp(t.source, "ACPI MADT") == 0, "base %x",
           t.lapic_base);

    /* Local APIC address override (type 5). */
    uint8_t *m = madt_good();
    put32(m + 4, 44 + 4 * 8 + 12);
    uint8_t *o = m + 44 + 32;
    o[0] = 5;
    o[1] = 12;
    put64(o + 4, 0xFEC00000ull);
    seal(m);
    EXPECT(find(&t, &why) && t.lapic_base == 0xFEC00000u, "override: %s %x", why, t.lapic_base);

    /* Bad MADT checksum. */
    m = madt_good();
    m[9]++;
    EXPECT(!find(&t, &why) && strstr(why, "no MADT"), "bad checksum: %s", why);

    /* Entry of length 0, entry running past the table. */
    m = madt_good();
    m[44 + 8 + 1] = 0;
    seal(m);
    EXPECT(!find(&t, &why) && strstr(why, "runs past"), "zero-length entry: %s", why);
    m = madt_good();
    m[44 + 24 + 1] = 200;
    seal(m);
    EXPECT(!find(&t, &why) && strstr(why, "runs past"), "long entry: %s", why);

    /* Length fields that do not fit: huge, shorter than the header. */
    m = madt_good();
    put32(m + 4, 0xFFFFFFF0u);
    EXPECT(!find(&t, &why) && strstr(why, "no MADT"), "huge length: %s", why);
    m = madt_good();
    put32(m + 4, 20);
    EXPECT(!find(&t, &why) && strstr(why, "no MADT"), "short length: %s", why);

    /* A MADT past the end of mapped memory. */
    madt_good();
    uint8_t *edge = sdt(RAM_LEN - 40, "APIC", 200);
    (void)edge;
    rsdt_with(ram_addr(RAM_LEN - 40));
    EXPECT(!find(&t, &why) && strstr(why, "no MADT"), "MADT past mapped memory: %s", why);

    /* No enabled processor; LAPIC address not page aligned. */
    rsdt_with(ram_addr(0x2000));
    m = madt_good();
    for (int i = 0; i < 4; i++)
        put32(m + 44 + 8 * i + 4, 0);
    seal(m);
    EXPECT(!find(&t, &why) && strstr(why, "no enabled"), "none enabled: %s", why);
    m = madt_good();
    put32(m + 36, 0xFEE00010u);
    seal(m);
    EXPECT(!find(&t, &why) && strstr(why, "address"), "unaligned base: %s", why);

    /* RSDT unmapped or with a bad checksum. */
    madt_good();
    rsdp(0, 0x10, 0);
    EXPECT(!find(&t, &why) && strstr(why, "RSDT"), "unmapped RSDT: %s", why);
    rsdp(0, ram_addr(0x1000), 0);
    ram[0x1000 + 9]++;
    EXPECT(!find(&t, &why) && strstr(why, "RSDT"), "bad RSDT: %s", why);

    /* ACPI 2.0: the XSDT, with an entry above 4 GiB that is skipped. */
    reset();
    madt_good();
    uint8_t *x = sdt(0x1800, "XSDT", 36 + 16);
    put64(x + 36, 0x100000000ull);
    put64(x + 44, ram_addr(0x2000));
    seal(x);
    rsdp(2, 0x10, ram_addr(0x1800));
    EXPECT(find(&t, &why) && t.n == 3, "XSDT: %s", why);
}

/* An MP table at ram+0x3000: processors 0 and 3, a bus, an I/O APIC. */
static uint8_t *mp_good(void) {
    uint8_t *c = ram + 0x3000;
    uint16_t len = 44 + 20 + 20 + 8 + 8, count = 4;
    memcpy(c, "PCMP", 4);
    memcpy(c + 4, &len, 2);
    c[6] = 4;
    memcpy(c + 34, &count, 2);
    put32(c + 36, 0xFEE00000u);
    uint8_t *e = c + 44;
    e[0] = 0, e[1] = 0, e[3] = 3; /* enabled, boot processor */
    e += 20;
    e[0] = 0, e[1] = 3, e[3] = 1;
    e += 20;
    e[0] = 1;
    e += 8;
    e[0] = 2;
    fix_sum(c, len, c + 7);
    uint8_t *f = at(MP_AT);
    memcpy(f, "_MP_", 4);
    put32(f + 4, ram_addr(0x3000));
    f[8] = 1;
    f[9] = 4;
    fix_sum(f, 16, f + 10);
    return c;
}

static void test_mptable(void) {
    struct cpu_table t;
    const char *why = "";
    reset();
    EXPECT(!mptable_find_cpus(&t, &why) && strstr(why, "no MP"), "no table: %s", why);
    mp_good();
    EXPECT(mptable_find_cpus(&t, &why), "good MP table refused: %s", why);
    EXPECT(t.n == 2 && t.apic_id[0] == 0 && t.apic_id[1] == 3 && strcmp(t.source, "MP table") == 0,
           "MP processors n=%zu", t.n);
    uint8_t *c = mp_good();
    c[7]++;
    EXPECT(!mptable_find_cpus(&t, &why) && strstr(why, "checksum"), "MP checksum: %s", why);
    c = mp_good();
    c[44 + 40] = 9; /* unknown entry type */
    c[7] = 0;
    fix_sum(c, 100, c + 7);
    EXPECT(!mptable_find_cpus(&t, &why) && strstr(why, "type"), "MP entry type: %s", why);
    c = mp_good();
    uint16_t many = 40;
    memcpy(c + 34, &many, 2);
    c[7] = 0;
    fix_sum(c, 100, c + 7);
    EXPECT(!mptable_find_cpus(&t, &why) && strstr(why, "past the table"), "MP count: %s", why);
    mp_good();
    put32(at(MP_AT) + 4, 0x10);
    at(MP_AT)[10] = 0;
    fix_sum(at(MP_AT), 16, at(MP_AT) + 10);
    EXPECT(!mptable_find_cpus(&t, &why) && strstr(why, "missing"), "MP unmapped: %s", why);
}

/* Random MADT bodies with valid checksums: never a crash, never too many entries. */
static void test_fuzz(void) {
    struct cpu_table t;
    const char *why;
    reset();
    rsdp(0, ram_addr(0x1000), 0);
    rsdt_with(ram_addr(0x2000));
    srand(11);
    unsigned ok = 0;
    for (int round = 0; round < FUZZ_ROUNDS; round++) {
        /* Mostly well-formed entries (so some tables pass), with random damage. */
        uint32_t len = 44 + (uint32_t)(rand() % 600);
        uint8_t *m = sdt(0x2000, "APIC", len);
        put32(m + 36, rand() % 8 ? 0xFEE00000u : (uint32_t)rand());
        for (uint32_t off = 44; off < len;) {
            uint8_t type = (uint8_t)(rand() % 3 ? 0 : rand() % 12);
            uint8_t elen = (uint8_t)(type == 0 ? 8 : type == 5 ? 12 : 2 + rand() % 16);
            for (uint32_t i = off; i < off + elen && i < len; i++)
                m[i] = (uint8_t)rand();
            m[off] = type;
            if (off + 1 < len)
                m[off + 1] = rand() % 50 ? elen : (uint8_t)rand();
            off += elen;
        }
        seal(m);
        if (find(&t, &why)) {
            ok++;
            EXPECT(t.n >= 1 && t.n <= CPU_TABLE_MAX, "fuzz n=%zu", t.n);
        }
    }
    printf("acpi: fuzz %d tables, %u accepted\n", FUZZ_ROUNDS, ok);
}

int main(void) {
    rom = mmap((void *)(uintptr_t)ROM_LO, ROM_LEN, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    ram =
        mmap(NULL, RAM_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
    if (rom != (uint8_t *)(uintptr_t)ROM_LO || ram == MAP_FAILED) {
        printf("acpi: cannot map the BIOS area at 0x%x\n", ROM_LO);
        return 2;
    }
    test_acpi();
    test_mptable();
    test_fuzz();
    if (failures) {
        printf("acpi: %d failures\n", failures);
        return 1;
    }
    printf("acpi: all passed\n");
    return 0;
}
