/*
 * Host test of the page allocator and heap (kernel/core/page.c, kernel/core/heap.c),
 * built by tests/test_kernel_host.py with ASan and UBSan. A 256 MiB buffer mapped
 * below 2 GiB (MAP_32BIT, so addresses fit the kernel's 32-bit page map) plays the
 * usable RAM of a fake memory map with one module inside it. A random mix of
 * kmalloc, kmalloc_aligned and kfree runs against it; every block is tagged and
 * checked, alignment is checked, the module is never handed out, and when all is
 * freed the owner counters are back where they started. Blocks are charged to random
 * heap tags: the tags' bytes and the slabs' spare bytes always add up to the heap's
 * pages, and the memory table (kernel/core/memacct.c) to the map's usable RAM.
 * Prints "mm: all passed".
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "host_expect.h"
#include "kernel.h"
#include "memlayout.h"
#include "mm.h"

#define RAM_BYTES (256u << 20)
#define RAM_SLIVER 1000u /* bytes of a second usable region, less than a page */
#define MODULE_OFF (8u << 20)
#define MODULE_LEN ((1u << 20) + 5)
#define PROMPT_OFF (12u << 20)
#define PROMPT_LEN 100u
#define SLOTS 512
#define OPS 20000

/* What page.c and memacct.c need from the kernel image, the SMP code and the console. */
char kernel_image_start[1], kernel_image_end[1];
char boot_stack_guard[1], boot_stack_top[1];
char embedded_model_start[1], embedded_model_end[1];
static struct bootinfo boot;

uintptr_t smp_stack_guard(int cpu) {
    return (uintptr_t)boot_stack_guard; /* outside the fake RAM: nothing to mark */
}

const struct bootinfo *bootinfo_get(void) {
    return &boot;
}

void printk(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
}

enum log_level log_level(void) {
    return LOG_INFO;
}

void panic(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("panic: ", stdout);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
    fflush(stdout);
    abort();
}

struct block {
    uint8_t *p;
    size_t n;
    uint8_t tag;
};

static uint32_t rng_state = 0x12345678u;
static uint32_t rng(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

/* Positions written and checked: the ends and every 256th byte. */
static bool sampled(size_t i, size_t n) {
    return i < 64 || i + 64 >= n || (i & 255) == 0;
}

static void fill(struct block *b) {
    for (size_t i = 0; i < b->n; i++)
        if (sampled(i, b->n))
            b->p[i] = (uint8_t)(b->tag + i);
}

static bool intact(const struct block *b) {
    for (size_t i = 0; i < b->n; i++)
        if (sampled(i, b->n) && b->p[i] != (uint8_t)(b->tag + i))
            return false;
    return true;
}

static size_t random_size(void) {
    uint32_t r = rng() % 100;
    if (r < 70)
        return 1 + rng() % 1100;
    if (r < 95)
        return 1 + rng() % 65536;
    return 65536 + rng() % (2u << 20);
}

/* The memory table covers the fake RAM exactly: rows sum to the total, the sliver
 * region is unusable, the model and free rows match the page counts. */
static void check_table(const char *when) {
    static struct mem_table t;
    mem_table_read(&t, &boot);
    uint64_t sum = 0, unusable = 0, model = 0, free_b = 0;
    for (size_t i = 0; i < t.n; i++) {
        sum += t.row[i].bytes;
        if (!strcmp(t.row[i].name, "unusable"))
            unusable = t.row[i].bytes;
        if (!strcmp(t.row[i].name, "model"))
            model = t.row[i].bytes;
        if (!strcmp(t.row[i].name, "free"))
            free_b = t.row[i].bytes;
    }
    EXPECT(t.total == RAM_BYTES - PAGE_SIZE + RAM_SLIVER, "%s: total %llu", when,
           (unsigned long long)t.total);
    EXPECT(sum == t.total, "%s: owners sum to %llu, total %llu", when, (unsigned long long)sum,
           (unsigned long long)t.total);
    EXPECT(unusable == RAM_SLIVER, "%s: unusable %llu", when, (unsigned long long)unusable);
    EXPECT(model == page_count(PAGE_OWNER_MODEL) * PAGE_SIZE, "%s: model %llu", when,
           (unsigned long long)model);
    EXPECT(free_b == page_count(PAGE_OWNER_FREE) * PAGE_SIZE, "%s: free %llu", when,
           (unsigned long long)free_b);
    char text[4096];
    size_t n = mem_table_format(&t, text, sizeof(text));
    EXPECT(n < sizeof(text) && strstr(text, "cllm_memory_bytes{owner=\"heap_kv\"} ") &&
               strstr(text, "cllm_memory_total_bytes "),
           "%s: metrics text %.200s", when, text);
}

int main(void) {
    uint8_t *ram = mmap(NULL, RAM_BYTES, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT | MAP_NORESERVE, -1, 0);
    if (ram == MAP_FAILED) {
        perror("mmap");
        return 2;
    }
    struct bootinfo bi = {.cmdline = ""};
    bi.n_mem = 2;
    bi.mem[0] = (struct boot_mem_region){(uintptr_t)ram, RAM_BYTES - PAGE_SIZE, 1};
    bi.mem[1] = (struct boot_mem_region){(uintptr_t)ram + RAM_BYTES - PAGE_SIZE, RAM_SLIVER, 1};
    bi.mem_usable = RAM_BYTES - PAGE_SIZE + RAM_SLIVER;
    bi.n_modules = 2;
    bi.modules[0] = (struct boot_module){(uintptr_t)ram + MODULE_OFF, MODULE_LEN, "model"};
    bi.modules[1] = (struct boot_module){(uintptr_t)ram + PROMPT_OFF, PROMPT_LEN, "prompt"};
    memset(ram + MODULE_OFF, 0x5A, MODULE_LEN);
    boot = bi;

    page_init(&bi);
    size_t free0 = page_count(PAGE_OWNER_FREE);
    EXPECT(page_count(PAGE_OWNER_MODEL) == (MODULE_LEN + PAGE_SIZE - 1) / PAGE_SIZE + 1 ||
               page_count(PAGE_OWNER_MODEL) == (MODULE_LEN + PAGE_SIZE - 1) / PAGE_SIZE,
           "model pages %zu", page_count(PAGE_OWNER_MODEL));
    EXPECT(page_owner_of((uintptr_t)ram + MODULE_OFF) == PAGE_OWNER_MODEL, "model page owner");
    EXPECT(page_count(PAGE_OWNER_BOOT) == 1 &&
               page_owner_of((uintptr_t)ram + PROMPT_OFF) == PAGE_OWNER_BOOT,
           "prompt module pages %zu", page_count(PAGE_OWNER_BOOT));
    EXPECT(page_count(PAGE_OWNER_STACK) == 0, "stack pages %zu outside the fake RAM",
           page_count(PAGE_OWNER_STACK));
    check_table("after page_init");
    EXPECT(page_count(PAGE_OWNER_PAGEMAP) > 0, "page map has no pages");
    EXPECT(free0 > RAM_BYTES / PAGE_SIZE * 9 / 10, "free pages %zu", free0);

    /* Page-level: alignment of big runs, exhaustion, refusal of bad arguments. */
    uintptr_t big = page_alloc(3, 1024, PAGE_OWNER_STACK);
    EXPECT(big && (big & (LARGE_PAGE_SIZE - 1)) == 0, "4 MiB-aligned run at %#lx",
           (unsigned long)big);
    EXPECT(page_run_length(big) == 3, "run length %zu", page_run_length(big));
    EXPECT(page_run_length(big + PAGE_SIZE) == 0, "run length inside a run");
    page_free(big, 3);
    EXPECT(page_alloc(free0 + 1, 1, PAGE_OWNER_STACK) == 0, "over-allocation succeeded");
    EXPECT(kmalloc(RAM_BYTES) == NULL, "kmalloc larger than RAM succeeded");
    EXPECT(kmalloc_aligned(16, 24) == NULL, "alignment 24 accepted");

    /* The heap under a random mix of sizes, alignments and free orders. */
    static struct block slots[SLOTS];
    static const size_t aligns[] = {0, 16, 64, 4096, 65536};
    for (int op = 0; op < OPS; op++) {
        struct block *b = &slots[rng() % SLOTS];
        if (b->p) {
            EXPECT(intact(b), "block %p (%zu bytes) was overwritten", (void *)b->p, b->n);
            kfree(b->p);
            b->p = NULL;
            continue;
        }
        size_t n = random_size(), align = aligns[rng() % 5];
        /* kmalloc charges HEAP_TAG_OTHER; heap_alloc any tag. */
        enum heap_tag tag = align ? (enum heap_tag)(rng() % HEAP_TAG_COUNT) : HEAP_TAG_OTHER;
        size_t tag0 = heap_tag_bytes(tag);
        b->p = align ? heap_alloc(n, align, tag) : kmalloc(n);
        EXPECT(!b->p || heap_tag_bytes(tag) >= tag0 + n, "tag %s grew %zu bytes for %zu",
               heap_tag_name(tag), heap_tag_bytes(tag) - tag0, n);
        EXPECT(page_count(PAGE_OWNER_HEAP) * PAGE_SIZE == heap_spare_bytes() + heap_bytes_in_use(),
               "heap pages %zu != spare %zu + in use %zu", page_count(PAGE_OWNER_HEAP),
               heap_spare_bytes(), heap_bytes_in_use());
        EXPECT(b->p != NULL, "allocation of %zu bytes failed", n);
        if (!b->p)
            continue;
        size_t want = align ? align : 16;
        EXPECT(((uintptr_t)b->p & (want - 1)) == 0, "%p not aligned to %zu", (void *)b->p, want);
        EXPECT(page_owner_of((uintptr_t)b->p) == PAGE_OWNER_HEAP &&
                   page_owner_of((uintptr_t)b->p + n - 1) == PAGE_OWNER_HEAP,
               "block %p..+%zu not all heap pages", (void *)b->p, n);
        b->n = n;
        b->tag = (uint8_t)rng();
        fill(b);
    }
    check_table("with blocks of every tag in use");
    for (int i = 0; i < SLOTS; i++) {
        if (slots[i].p) {
            EXPECT(intact(&slots[i]), "block %p overwritten", (void *)slots[i].p);
            kfree(slots[i].p);
            slots[i].p = NULL;
        }
    }
    EXPECT(heap_bytes_in_use() == 0, "heap bytes in use %zu after freeing everything",
           heap_bytes_in_use());
    for (unsigned t = 0; t < HEAP_TAG_COUNT; t++)
        EXPECT(heap_tag_bytes((enum heap_tag)t) == 0, "tag %s holds %zu bytes after freeing",
               heap_tag_name((enum heap_tag)t), heap_tag_bytes((enum heap_tag)t));
    EXPECT(heap_spare_bytes() == 0, "spare %zu bytes with no slab", heap_spare_bytes());
    EXPECT(page_count(PAGE_OWNER_HEAP) == 0, "heap pages %zu after freeing everything",
           page_count(PAGE_OWNER_HEAP));
    EXPECT(page_count(PAGE_OWNER_FREE) == free0, "free pages %zu, want %zu",
           page_count(PAGE_OWNER_FREE), free0);
    for (size_t i = 0; i < MODULE_LEN; i++) {
        if (ram[MODULE_OFF + i] != 0x5A) {
            EXPECT(0, "module byte %zu changed", i);
            break;
        }
    }

    /* kfree of memory the heap did not hand out is a kernel bug: it must panic. */
    pid_t pid = fork();
    if (pid == 0) {
        kfree(ram + MODULE_OFF);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
           "kfree of a module page did not panic");

    /* Freeing a block twice panics too, small or large. */
    static const size_t twice[] = {24, 5000};
    for (size_t t = 0; t < 2; t++) {
        void *p = kmalloc(twice[t]);
        void *keep = kmalloc(twice[t]); /* keeps the slab alive after the first free */
        pid = fork();
        if (pid == 0) {
            kfree(p);
            kfree(p);
            _exit(0);
        }
        waitpid(pid, &status, 0);
        EXPECT(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
               "double kfree of %zu bytes did not panic", twice[t]);
        kfree(p);
        kfree(keep);
    }

    if (failures) {
        printf("mm: %d failed\n", failures);
        return 1;
    }
    printf("mm: all passed\n");
    return 0;
}
