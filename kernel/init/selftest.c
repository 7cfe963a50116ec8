/*
 * In-image self-tests (selftest.h), chosen by cllm.selftest=all|name,name and run by
 * kernel_main after "cllm: ready". Each test checks one piece of the substrate on the
 * machine it booted on and prints one machine-readable line; the fault_* tests (never
 * part of "all") fault on purpose so the host can check the panic report.
 */
#include "selftest.h"
#include "clock.h"
#include "cmdline.h"
#include "cpu.h"
#include "dev/pci.h"
#include "dev/serial.h"
#include "dev/vga.h"
#include "kernel.h"
#include "memlayout.h"
#include "mm.h"
#include "smp.h"
#include "x86.h"
#include "zig.h"

#define DETAIL_MAX 160
#define HEAP_BIG_MAX (512u << 20) /* bytes the heap_big test asks for at most */
#define TIMER_WAIT_US 20000       /* how long the timer test waits */
#define TIMER_SPIN_MAX 200000000u /* polls before the timer test declares the clock stuck */

struct selftest {
    const char *name;
    bool (*run)(char *detail, size_t n); /* true = pass; on failure detail says why */
    bool in_all;                         /* part of cllm.selftest=all */
};

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            snprintf(detail, n, __VA_ARGS__);                                                      \
            return false;                                                                          \
        }                                                                                          \
    } while (0)

static bool test_page(char *detail, size_t n) {
    size_t free0 = page_count(PAGE_OWNER_FREE), stack0 = page_count(PAGE_OWNER_STACK);
    uintptr_t a = page_alloc(1, 1, PAGE_OWNER_STACK);
    uintptr_t b = page_alloc(16, 16, PAGE_OWNER_STACK);
    CHECK(a && b, "page_alloc failed: a=0x%x b=0x%x", (unsigned)a, (unsigned)b);
    CHECK((b & 0xFFFF) == 0, "16-page alignment: b=0x%x", (unsigned)b);
    CHECK(page_owner_of(a) == PAGE_OWNER_STACK &&
              page_owner_of(b + 15 * PAGE_SIZE) == PAGE_OWNER_STACK,
          "owner after alloc: %s", page_owner_name(page_owner_of(a)));
    CHECK(page_run_length(b) == 16, "run length %u, want 16", (unsigned)page_run_length(b));
    CHECK(page_count(PAGE_OWNER_FREE) == free0 - 17, "free count %u, want %u",
          (unsigned)page_count(PAGE_OWNER_FREE), (unsigned)(free0 - 17));
    page_free(a, 1);
    page_free(b, 16);
    CHECK(page_owner_of(a) == PAGE_OWNER_FREE, "owner after free: %s",
          page_owner_name(page_owner_of(a)));
    CHECK(page_count(PAGE_OWNER_FREE) == free0 && page_count(PAGE_OWNER_STACK) == stack0,
          "counters did not return: free %u/%u stack %u/%u", (unsigned)page_count(PAGE_OWNER_FREE),
          (unsigned)free0, (unsigned)page_count(PAGE_OWNER_STACK), (unsigned)stack0);
    CHECK(page_alloc(0, 1, PAGE_OWNER_STACK) == 0, "page_alloc(0) succeeded");
    CHECK(page_alloc(free0 + 1, 1, PAGE_OWNER_STACK) == 0, "allocated more pages than are free");
    CHECK(page_alloc(1, 3, PAGE_OWNER_STACK) == 0, "alignment 3 accepted");
    return true;
}

static bool test_heap(char *detail, size_t n) {
    static const size_t sizes[] = {1,    15,   16,   17,   100,   1000,
                                   1024, 1025, 4096, 5000, 65536, 1u << 20};
    void *blocks[ARRAY_SIZE(sizes)];
    void *small[300];
    size_t bytes0 = heap_bytes_in_use(), pages0 = page_count(PAGE_OWNER_HEAP);
    for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
        blocks[i] = kmalloc(sizes[i]);
        CHECK(blocks[i], "kmalloc(%u) failed", (unsigned)sizes[i]);
        CHECK(((uintptr_t)blocks[i] & 15) == 0, "kmalloc(%u) = %p not 16-aligned",
              (unsigned)sizes[i], blocks[i]);
        memset(blocks[i], (int)(0x40 + i), sizes[i]);
    }
    for (size_t i = 0; i < ARRAY_SIZE(small); i++) {
        small[i] = kmalloc(24);
        CHECK(small[i], "small kmalloc %u failed", (unsigned)i);
        memset(small[i], 0xA5, 24);
    }
    void *a64 = kmalloc_aligned(100, 64), *a4k = kmalloc_aligned(10, 4096),
         *a64k = kmalloc_aligned(5000, 1u << 16);
    CHECK(a64 && ((uintptr_t)a64 & 63) == 0, "kmalloc_aligned(100, 64) = %p", a64);
    CHECK(a4k && ((uintptr_t)a4k & 4095) == 0, "kmalloc_aligned(10, 4096) = %p", a4k);
    CHECK(a64k && ((uintptr_t)a64k & 0xFFFF) == 0, "kmalloc_aligned(5000, 65536) = %p", a64k);
    CHECK(kmalloc_aligned(10, 3) == NULL, "alignment 3 accepted");
    for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
        const uint8_t *p = blocks[i];
        for (size_t j = 0; j < sizes[i]; j++)
            CHECK(p[j] == 0x40 + i, "block %u (size %u) byte %u overwritten", (unsigned)i,
                  (unsigned)sizes[i], (unsigned)j);
    }
    for (size_t i = 0; i < ARRAY_SIZE(small); i += 2)
        kfree(small[i]);
    for (size_t i = ARRAY_SIZE(sizes); i-- > 0;)
        kfree(blocks[i]);
    for (size_t i = 1; i < ARRAY_SIZE(small); i += 2)
        kfree(small[i]);
    kfree(a64);
    kfree(a4k);
    kfree(a64k);
    kfree(NULL);
    CHECK(heap_bytes_in_use() == bytes0 && page_count(PAGE_OWNER_HEAP) == pages0,
          "counters did not return: bytes %u/%u pages %u/%u", (unsigned)heap_bytes_in_use(),
          (unsigned)bytes0, (unsigned)page_count(PAGE_OWNER_HEAP), (unsigned)pages0);
    return true;
}

static bool test_heap_big(char *detail, size_t n) {
    size_t pages0 = page_count(PAGE_OWNER_HEAP);
    size_t want = page_count(PAGE_OWNER_FREE) / 2 * PAGE_SIZE;
    if (want > HEAP_BIG_MAX)
        want = HEAP_BIG_MAX;
    uint32_t *p = kmalloc(want);
    CHECK(p, "kmalloc(%u) failed", (unsigned)want);
    size_t words_per_page = PAGE_SIZE / sizeof(uint32_t), n_pages = want / PAGE_SIZE;
    for (size_t i = 0; i < n_pages; i++)
        p[i * words_per_page] = (uint32_t)i ^ 0x5EED5EEDu;
    for (size_t i = 0; i < n_pages; i++)
        CHECK(p[i * words_per_page] == ((uint32_t)i ^ 0x5EED5EEDu),
              "page %u of the block lost its word", (unsigned)i);
    printk("cllm: selftest heap_big: %u MiB contiguous at %p\n", (unsigned)(want >> 20), (void *)p);
    kfree(p);
    CHECK(page_count(PAGE_OWNER_HEAP) == pages0, "heap pages %u, want %u",
          (unsigned)page_count(PAGE_OWNER_HEAP), (unsigned)pages0);
    return true;
}

static bool test_paging(char *detail, size_t n) {
    CHECK(read_cr0() & (1u << 31), "CR0.PG is off");
    CHECK(!vm_is_mapped((uintptr_t)boot_stack_guard), "stack guard page 0x%x is mapped",
          (unsigned)(uintptr_t)boot_stack_guard);
    CHECK(!vm_is_mapped(0), "page 0 is mapped");
    CHECK(vm_is_mapped((uintptr_t)boot_stack_bottom) && vm_is_mapped((uintptr_t)boot_stack_top - 4),
          "boot stack unmapped");
    CHECK(vm_is_mapped((uintptr_t)test_paging) && !vm_is_uncached((uintptr_t)test_paging),
          "kernel text not mapped write-back");
    CHECK(vm_is_mapped(0xFEC00000u) && vm_is_uncached(0xFEC00000u),
          "MMIO at 0xFEC00000 not mapped uncached");
    CHECK(vm_is_mapped(0xFFFFF000u), "top page of the address space unmapped");
    return true;
}

static bool test_timer(char *detail, size_t n) {
    uint64_t t0 = clock_us(), ticks0 = clock_ticks(), prev = t0;
    CHECK(read_eflags() & (1u << 9), "interrupts are off");
    uint32_t spins = 0;
    for (;;) {
        uint64_t now = clock_us();
        CHECK(now >= prev, "clock went back from %llu to %llu us", (unsigned long long)prev,
              (unsigned long long)now);
        prev = now;
        if (now >= t0 + TIMER_WAIT_US)
            break;
        CHECK(++spins < TIMER_SPIN_MAX, "clock stuck at %llu us", (unsigned long long)now);
    }
    CHECK(clock_ticks() > ticks0, "no PIT interrupt in %u us", TIMER_WAIT_US);
    CHECK(clock_ms() >= t0 / 1000, "clock_ms behind clock_us");
    return true;
}

static bool test_string(char *detail, size_t n) {
    char buf[32];
    memset(buf, 'x', sizeof(buf));
    memcpy(buf, "hello, world", 13);
    CHECK(strcmp(buf, "hello, world") == 0 && strlen(buf) == 12, "memcpy/strlen: %s", buf);
    memmove(buf + 2, buf, 13);
    CHECK(memcmp(buf, "hehello, world", 15) == 0, "memmove forward overlap: %.14s", buf);
    memmove(buf, buf + 2, 13);
    CHECK(strcmp(buf, "hello, world") == 0, "memmove backward overlap: %s", buf);
    CHECK(strncmp("abcd", "abcz", 3) == 0 && strncmp("abcd", "abcz", 4) < 0, "strncmp");
    CHECK(strcmp("b", "a") > 0 && strcmp("", "") == 0 && strcmp("\xff", "a") > 0, "strcmp");
    CHECK(strchr(buf, ',') == buf + 5 && strchr(buf, 'q') == NULL && strchr(buf, '\0') == buf + 12,
          "strchr");
    CHECK(strnlen("abc", 2) == 2 && strnlen("abc", 10) == 3, "strnlen");
    CHECK(memcmp("\x01", "\x02", 1) < 0 && memcmp("ab", "ab", 2) == 0, "memcmp");
    return true;
}

static bool test_printf(char *detail, size_t n) {
    char buf[96];
    int len = snprintf(buf, sizeof(buf), "%d|%5u|%-4s|%08x|%lld|%c|%%|%X|%.2s|%i", -42, 7u, "ab",
                       0xBEEFu, -1234567890123ll, 'z', 0xABCu, "xyz", 0);
    const char *want = "-42|    7|ab  |0000beef|-1234567890123|z|%|ABC|xy|0";
    CHECK(strcmp(buf, want) == 0 && len == (int)strlen(want), "got \"%s\"", buf);
    len = snprintf(buf, 5, "abcdefgh");
    CHECK(len == 8 && strcmp(buf, "abcd") == 0, "truncation: %d \"%s\"", len, buf);
    snprintf(buf, sizeof(buf), "%llu %p %s", 18446744073709551615ull, (void *)0x1000,
             (const char *)NULL);
    CHECK(strcmp(buf, "18446744073709551615 0x00001000 (null)") == 0, "got \"%s\"", buf);
    return true;
}

static const struct cmdline_option *find_option(const char *key) {
    for (size_t i = 0; i < cmdline_option_count; i++)
        if (strcmp(cmdline_options[i].key, key) == 0)
            return &cmdline_options[i];
    return NULL;
}

static bool check_value(const char *key, const char *value) {
    char want[96];
    const struct cmdline_option *opt = find_option(key);
    return opt && cmdline_check_value(opt, value, strlen(value), want, sizeof(want));
}

static bool test_cmdline(char *detail, size_t n) {
    const char *line = "/boot/cllm.elf cllm.port=8080 cllm.api_key=\"a b\" other cllm.seed";
    struct cmdline_token t[4];
    size_t dropped = 99;
    int32_t k = cmdline_split(line, strlen(line), t, 4, &dropped);
    CHECK(k == 3 && dropped == 0, "split gave %d tokens, %u dropped", (int)k, (unsigned)dropped);
    CHECK(t[0].key_len == 4 && memcmp(line + t[0].key_off, "port", 4) == 0 && t[0].val_len == 4,
          "token 0");
    CHECK(t[1].val_len == 3 && memcmp(line + t[1].val_off, "a b", 3) == 0, "quoted value");
    CHECK(!t[2].has_value, "token without '=' has a value");
    CHECK(cmdline_split("cllm.k=\"x", 9, t, 4, &dropped) == -8, "unterminated quote not reported");
    uint32_t v = 0;
    CHECK(cmdline_parse_u32("4294967295", 10, &v) && v == 0xFFFFFFFFu, "parse 2^32-1");
    CHECK(!cmdline_parse_u32("4294967296", 10, &v) && !cmdline_parse_u32("", 0, &v) &&
              !cmdline_parse_u32("1x", 2, &v),
          "parse accepted a bad number");
    CHECK(check_value("port", "80") && !check_value("port", "0") && !check_value("port", "65536"),
          "port bounds");
    /* no registry option is a decimal now (the generation parameters check their own) */
    static const struct cmdline_option fraction = {"fraction", CMDLINE_KIND_DECIMAL, 0, 1, NULL,
                                                   ""};
    char want[96];
    CHECK(cmdline_check_value(&fraction, "0.8", 3, want, sizeof(want)) &&
              cmdline_check_value(&fraction, "1", 1, want, sizeof(want)) &&
              !cmdline_check_value(&fraction, "1.5", 3, want, sizeof(want)) &&
              !cmdline_check_value(&fraction, ".", 1, want, sizeof(want)),
          "decimals");
    CHECK(check_value("ip", "10.0.2.15") && !check_value("ip", "10.0.2") &&
              !check_value("ip", "256.1.1.1") && !check_value("ip", "1.2.3.4.5"),
          "IPv4");
    CHECK(check_value("log", "debug") && !check_value("log", "debu"), "choices");
    CHECK(find_option("selftest") && !find_option("nonexistent"), "registry lookup");
    return true;
}

static bool test_sse(char *detail, size_t n) {
    if (!cpu_has_sse2()) {
        snprintf(detail, n, "(no SSE2: x87 paths only)");
        return true;
    }
    CHECK(read_cr4() & (1u << 9), "SSE2 reported but CR4.OSFXSR is off");
    uintptr_t f = (uintptr_t)selftest_sse2_dot;
    CHECK(f >= (uintptr_t)simd_text_start && f < (uintptr_t)simd_text_end,
          "SSE2 code at 0x%x outside .text.simd", (unsigned)f);
    float a[7], b[7];
    for (int i = 0; i < 7; i++) {
        a[i] = (float)(i + 1);
        b[i] = 0.5f;
    }
    float d = selftest_sse2_dot(a, b, 7);
    CHECK(d == 14.0f, "dot product %d/1000, want 14000/1000", (int)(d * 1000));
    return true;
}

static bool test_pci(char *detail, size_t n) {
    CHECK(pci_count() >= 1, "no PCI function found");
    const struct pci_device *d = pci_get(0);
    CHECK(pci_find(d->vendor, d->device) == d, "pci_find does not return the first function");
    uint32_t id = pci_config_read32(d, 0);
    CHECK(id == ((uint32_t)d->device << 16 | d->vendor), "config read 0x%08x, want %04x:%04x", id,
          d->vendor, d->device);
    CHECK(pci_get(pci_count()) == NULL, "pci_get past the end");
    return true;
}

/* The VGA text console mirrors the log: the line just printed is on screen. */
static bool test_vga(char *detail, size_t n) {
    char row[96];
    printk("cllm: selftest vga: probe %u\n", 0xC11Au);
    vga_read_row(1, row, sizeof(row));
    CHECK(strcmp(row, "cllm: selftest vga: probe 49434") == 0, "screen row reads \"%s\"", row);
    return true;
}

/* Writes a fixed byte pattern to the data channel (COM2); the host checks it arrived
 * raw: no '\r' before the '\n', NUL and 0xFF intact. */
static bool test_serial_data(char *detail, size_t n) {
    static const uint8_t pattern[] = {'c', 'l', 'l', 'm', '\n', 0x00, 0xFF, '\r', 'z'};
    serial_data_write(pattern, sizeof(pattern));
    return true;
}

/* Throughput of the memory primitives on this machine, for BENCHMARKS.md; passes
 * unless memory cannot be had. Not part of "all". The copy is timed twice: between
 * two 16 MiB blocks whose distance is a multiple of 16 MiB (under QEMU TCG their pages
 * collide in the soft TLB), and with the destination moved by 36 KiB. */
static unsigned mib_per_s(uint64_t bytes, uint64_t us) {
    return us ? (unsigned)(bytes * 1000000u / us >> 20) : 0;
}

static bool bench_mem(char *detail, size_t n) {
    const size_t len = 16u << 20, rounds = 4, shift = 36u << 10;
    uint8_t *a = kmalloc(len), *b = kmalloc(len + shift);
    CHECK(a && b, "no memory for two %u MiB buffers", (unsigned)(len >> 20));
    uint64_t t0 = clock_us();
    for (size_t r = 0; r < rounds; r++)
        memset(a, (int)r, len);
    uint64_t t1 = clock_us();
    for (size_t r = 0; r < rounds; r++)
        memcpy(b, a, len);
    uint64_t t2 = clock_us();
    for (size_t r = 0; r < rounds; r++)
        memcpy(b + shift, a, len);
    uint64_t t3 = clock_us();
    for (size_t r = 0; r < rounds; r++)
        memcpy(b + shift + 1, a, len - 1); /* misaligned: the byte path */
    uint64_t t4 = clock_us();
    enum { N_SMALL = 20000 };
    static void *small[N_SMALL];
    for (size_t i = 0; i < N_SMALL; i++)
        small[i] = kmalloc(64);
    for (size_t i = 0; i < N_SMALL; i++)
        kfree(small[i]);
    uint64_t t5 = clock_us();
    void *big = kmalloc(64u << 20);
    kfree(big);
    uint64_t t6 = clock_us();
    kfree(a);
    kfree(b);
    printk("cllm: bench memset %u MiB/s, memcpy %u MiB/s (16 MiB apart) %u MiB/s (shifted 36 KiB), "
           "misaligned %u MiB/s, kmalloc+kfree(64) %u ns, kmalloc+kfree(64 MiB) %u us\n",
           mib_per_s(len * rounds, t1 - t0), mib_per_s(len * rounds, t2 - t1),
           mib_per_s(len * rounds, t3 - t2), mib_per_s(len * rounds, t4 - t3),
           (unsigned)((t5 - t4) * 1000 / N_SMALL), (unsigned)(t6 - t5));
    return true;
}

static bool fault_pf(char *detail, size_t n) {
    printk("cllm: selftest fault_pf: reading the stack guard page\n");
    volatile uint32_t *guard = (volatile uint32_t *)boot_stack_guard;
    (void)*guard;
    snprintf(detail, n, "no page fault");
    return false;
}

static bool fault_ud(char *detail, size_t n) {
    printk("cllm: selftest fault_ud: executing ud2\n");
    ud2();
    snprintf(detail, n, "no invalid-opcode fault");
    return false;
}

static bool fault_de(char *detail, size_t n) {
    printk("cllm: selftest fault_de: dividing by zero\n");
    volatile uint32_t zero = 0, one = 1;
    volatile uint32_t q = one / zero;
    (void)q;
    snprintf(detail, n, "no divide error");
    return false;
}

static bool fault_zig(char *detail, size_t n) {
    printk("cllm: selftest fault_zig: index 10 into a 4-entry Zig array\n");
    volatile size_t i = 10;
    (void)zig_checked_index(i);
    snprintf(detail, n, "the Zig bounds check did not fire");
    return false;
}

/* Recurses until the stack runs into the guard page; `limit` is never reached. */
static unsigned recurse(unsigned depth, volatile unsigned *limit) {
    volatile uint8_t pad[512];
    pad[0] = (uint8_t)depth;
    if (depth == *limit)
        return pad[0];
    return recurse(depth + 1, limit) + pad[0];
}

static bool fault_stack(char *detail, size_t n) {
    printk("cllm: selftest fault_stack: recursing into the guard page\n");
    volatile unsigned limit = 0xFFFFFFFFu;
    (void)recurse(0, &limit);
    snprintf(detail, n, "the stack never overflowed");
    return false;
}

static const struct selftest tests[] = {
    {"page", test_page, true},
    {"heap", test_heap, true},
    {"heap_big", test_heap_big, true},
    {"paging", test_paging, true},
    {"timer", test_timer, true},
    {"string", test_string, true},
    {"printf", test_printf, true},
    {"cmdline", test_cmdline, true},
    {"sse", test_sse, true},
    {"pci", test_pci, true},
    {"serial_data", test_serial_data, true},
    {"vga", test_vga, true},
    {"smp", selftest_smp, true},
    {"bench_mem", bench_mem, false},
    {"fault_pf", fault_pf, false},
    {"fault_ud", fault_ud, false},
    {"fault_de", fault_de, false},
    {"fault_zig", fault_zig, false},
    {"fault_stack", fault_stack, false},
    {"ap_fault", selftest_ap_fault, false},
    {"ap_stack", selftest_ap_stack, false},
    {"bench_smp", selftest_bench_smp, false},
};

static bool selftest_one(const struct selftest *t) {
    char detail[DETAIL_MAX] = "";
    bool ok = t->run(detail, sizeof(detail));
    if (ok)
        printk("cllm: selftest %s ok%s%s\n", t->name, detail[0] ? " " : "", detail);
    else
        printk("cllm: selftest %s FAIL %s\n", t->name, detail);
    return ok;
}

void selftest_run(const char *spec) {
    if (!spec)
        return;
    unsigned passed = 0, failed = 0;
    /* A comma-separated list of names; "all" stands for every test marked in_all. */
    for (const char *p = spec; *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        bool all = len == 3 && memcmp(p, "all", 3) == 0, found = all;
        for (size_t i = 0; i < ARRAY_SIZE(tests); i++) {
            bool named = strlen(tests[i].name) == len && memcmp(tests[i].name, p, len) == 0;
            if (named || (all && tests[i].in_all)) {
                selftest_one(&tests[i]) ? passed++ : failed++;
                found = true;
            }
        }
        if (!found) {
            printk("cllm: selftest %.*s FAIL unknown test\n", (int)MIN(len, 40u), p);
            failed++;
        }
        p = comma ? comma + 1 : p + len;
    }
    printk("cllm: selftest summary passed=%u failed=%u\n", passed, failed);
    kernel_exit(failed ? EXIT_FAIL : EXIT_OK);
}
