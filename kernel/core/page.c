/*
 * The physical page allocator: one map entry per 4 KiB page of RAM below 4 GiB, its
 * owner (mm.h, enum page_owner) and a tag the owner may use (the heap records its
 * subsystem there, enum heap_tag), kept in a map placed in the first free stretch
 * after the kernel image and modules. At boot every RAM page gets an owner: the
 * image, the CPU stacks inside it, the model (module "model" or the image's .model
 * section), the other modules, the low 1 MiB, the map itself; the rest is free. Allocation is
 * first-fit over contiguous runs, so the heap (kernel/core/heap.c) can ask for hundreds of MiB in
 * one piece and for aligned DMA buffers. The first page of every run carries PAGE_HEAD so a run's
 * length can be recovered from its address. Called by kernel_main (page_init after
 * multiboot_parse), the heap and the paging code; single-threaded, not used from
 * interrupt handlers.
 */
#include "kernel.h"
#include "memlayout.h"
#include "mm.h"
#include "param.h"

#include "smp.h"

#define PAGE_HEAD 0x80 /* map entry flag: first page of an allocated run */
#define PAGE_OWNER_MASK 0x7F
#define PAGE_TAG_SHIFT 8               /* map entry bits 8..15: the owner's tag */
#define RAM_TRACK_LIMIT 0x100000000ull /* no PAE: RAM above 4 GiB is ignored */

static uint16_t *page_map; /* (n_pages) owner | PAGE_HEAD | tag << PAGE_TAG_SHIFT per page */
static size_t n_pages;     /* pages tracked: up to the end of the highest usable region */
static size_t owner_pages[PAGE_OWNER_COUNT];
static size_t free_hint; /* no free page below this index */

static const char *const owner_names[PAGE_OWNER_COUNT] = {
    "none", "free", "image", "boot", "pagetable", "pagemap", "heap", "stack", "reserved", "model",
};

const char *page_owner_name(enum page_owner owner) {
    return owner < PAGE_OWNER_COUNT ? owner_names[owner] : "?";
}

static enum page_owner owner_at(size_t i) {
    return (enum page_owner)(page_map[i] & PAGE_OWNER_MASK);
}

static void set_owner(size_t i, enum page_owner owner, unsigned tag, bool head) {
    owner_pages[owner_at(i)]--;
    page_map[i] = (uint16_t)(owner | (head ? PAGE_HEAD : 0) | (tag & 0xFF) << PAGE_TAG_SHIFT);
    owner_pages[owner]++;
}

/* Give pages overlapping [base, end) to owner; only pages that are RAM, unless force. */
static void mark_range(uint64_t base, uint64_t end, enum page_owner owner, bool force) {
    if (end <= base)
        return;
    if (end > (uint64_t)n_pages * PAGE_SIZE)
        end = (uint64_t)n_pages * PAGE_SIZE;
    for (uint64_t a = ALIGN_DOWN(base, PAGE_SIZE); a < end; a += PAGE_SIZE) {
        size_t i = (size_t)(a >> PAGE_SHIFT);
        if (force || owner_at(i) != PAGE_OWNER_NONE)
            set_owner(i, owner, 0, false);
    }
}

static bool overlaps(uint64_t a0, uint64_t a1, uint64_t b0, uint64_t b1) {
    return a0 < b1 && b0 < a1;
}

/* Is [base, base + len) free of the image, modules and low memory, inside usable RAM? */
static bool place_ok(const struct bootinfo *bi, uint64_t base, uint64_t len) {
    if (base < LOW_MEMORY_RESERVED || base + len > RAM_TRACK_LIMIT)
        return false;
    if (overlaps(base, base + len, (uintptr_t)kernel_image_start, (uintptr_t)kernel_image_end))
        return false;
    for (size_t m = 0; m < bi->n_modules; m++) {
        const struct boot_module *mod = &bi->modules[m];
        if (overlaps(base, base + len, mod->start, (uint64_t)mod->start + mod->len))
            return false;
    }
    for (size_t r = 0; r < bi->n_mem; r++) {
        const struct boot_mem_region *reg = &bi->mem[r];
        if (reg->type == 1 && base >= reg->base && base + len <= reg->base + reg->len)
            return true;
    }
    return false;
}

static uintptr_t place_map(const struct bootinfo *bi, size_t len) {
    uint64_t cand = ALIGN_UP((uint64_t)(uintptr_t)kernel_image_end, PAGE_SIZE);
    if (place_ok(bi, cand, len))
        return (uintptr_t)cand;
    for (size_t m = 0; m < bi->n_modules; m++) {
        cand = ALIGN_UP((uint64_t)bi->modules[m].start + bi->modules[m].len, PAGE_SIZE);
        if (place_ok(bi, cand, len))
            return (uintptr_t)cand;
    }
    for (size_t r = 0; r < bi->n_mem; r++) {
        cand = ALIGN_UP(MAX(bi->mem[r].base, (uint64_t)LOW_MEMORY_RESERVED), PAGE_SIZE);
        if (place_ok(bi, cand, len))
            return (uintptr_t)cand;
    }
    panic("no room for the page map (%u bytes) in usable RAM", (unsigned)len);
}

void page_init(const struct bootinfo *bi) {
    uint64_t top = 0;
    for (size_t r = 0; r < bi->n_mem; r++) {
        if (bi->mem[r].type == 1)
            top = MAX(top, MIN(bi->mem[r].base + bi->mem[r].len, RAM_TRACK_LIMIT));
    }
    if (log_level() >= LOG_DEBUG) {
        for (size_t r = 0; r < bi->n_mem; r++)
            printk("cllm: memmap 0x%09llx len 0x%09llx type %u\n",
                   (unsigned long long)bi->mem[r].base, (unsigned long long)bi->mem[r].len,
                   bi->mem[r].type);
    }
    n_pages = (size_t)(top >> PAGE_SHIFT);
    size_t map_bytes = n_pages * sizeof(*page_map);
    page_map = (uint16_t *)place_map(bi, map_bytes);
    memset(page_map, PAGE_OWNER_NONE, map_bytes);
    owner_pages[PAGE_OWNER_NONE] = n_pages;

    /* Usable RAM becomes free, whole pages only. */
    for (size_t r = 0; r < bi->n_mem; r++) {
        const struct boot_mem_region *reg = &bi->mem[r];
        if (reg->type != 1 || reg->base >= top)
            continue;
        uint64_t b = ALIGN_UP(reg->base, PAGE_SIZE);
        uint64_t e = ALIGN_DOWN(MIN(reg->base + reg->len, top), PAGE_SIZE);
        for (uint64_t a = b; a < e; a += PAGE_SIZE)
            set_owner((size_t)(a >> PAGE_SHIFT), PAGE_OWNER_FREE, 0, false);
    }
    mark_range(0, LOW_MEMORY_RESERVED, PAGE_OWNER_RESERVED, false);
    mark_range((uintptr_t)kernel_image_start, (uintptr_t)kernel_image_end, PAGE_OWNER_IMAGE, true);
    /* Inside the image: the CPU stacks (guard pages included) and an embedded model. */
    mark_range((uintptr_t)boot_stack_guard, (uintptr_t)boot_stack_top, PAGE_OWNER_STACK, false);
    for (int cpu = 1; cpu < SMP_MAX_CPUS; cpu++)
        mark_range(smp_stack_guard(cpu), smp_stack_guard(cpu) + PAGE_SIZE + SMP_AP_STACK_SIZE,
                   PAGE_OWNER_STACK, false);
    mark_range((uintptr_t)embedded_model_start, (uintptr_t)embedded_model_end, PAGE_OWNER_MODEL,
               false);
    for (size_t m = 0; m < bi->n_modules; m++) {
        const struct boot_module *mod = &bi->modules[m];
        bool model = mod->name && strcmp(mod->name, "model") == 0;
        mark_range(mod->start, (uint64_t)mod->start + mod->len,
                   model ? PAGE_OWNER_MODEL : PAGE_OWNER_BOOT, true);
    }
    mark_range((uintptr_t)page_map, (uintptr_t)page_map + map_bytes, PAGE_OWNER_PAGEMAP, true);
    free_hint = 0;
}

uintptr_t page_alloc(size_t n, size_t align_pages, enum page_owner owner) {
    return page_alloc_tagged(n, align_pages, owner, 0);
}

uintptr_t page_alloc_tagged(size_t n, size_t align_pages, enum page_owner owner, unsigned tag) {
    if (n == 0 || align_pages == 0 || (align_pages & (align_pages - 1)) || n > n_pages)
        return 0;
    while (free_hint < n_pages && owner_at(free_hint) != PAGE_OWNER_FREE)
        free_hint++;
    size_t i = ALIGN_UP(free_hint, align_pages);
    while (i + n <= n_pages) {
        size_t j = 0;
        while (j < n && owner_at(i + j) == PAGE_OWNER_FREE)
            j++;
        if (j == n) {
            for (size_t k = 0; k < n; k++)
                set_owner(i + k, owner, tag, k == 0);
            return (uintptr_t)i << PAGE_SHIFT;
        }
        i = ALIGN_UP(i + j + 1, align_pages);
    }
    return 0;
}

void page_free(uintptr_t addr, size_t n) {
    size_t first = addr >> PAGE_SHIFT;
    if ((addr & (PAGE_SIZE - 1)) || first + n > n_pages || first + n < first)
        panic("page_free: bad range 0x%08x + %u pages", (unsigned)addr, (unsigned)n);
    for (size_t i = first; i < first + n; i++) {
        enum page_owner o = owner_at(i);
        if (o == PAGE_OWNER_FREE || o == PAGE_OWNER_NONE)
            panic("page_free: page 0x%08x is %s", (unsigned)(i << PAGE_SHIFT), page_owner_name(o));
        set_owner(i, PAGE_OWNER_FREE, 0, false);
    }
    if (first < free_hint)
        free_hint = first;
}

size_t page_run_length(uintptr_t addr) {
    size_t i = addr >> PAGE_SHIFT;
    if ((addr & (PAGE_SIZE - 1)) || i >= n_pages || !(page_map[i] & PAGE_HEAD))
        return 0;
    uint16_t body = page_map[i] & ~PAGE_HEAD; /* the run's owner and tag, no head flag */
    size_t n = 1;
    while (i + n < n_pages && page_map[i + n] == body)
        n++;
    return n;
}

unsigned page_tag_of(uintptr_t addr) {
    size_t i = addr >> PAGE_SHIFT;
    return i < n_pages ? page_map[i] >> PAGE_TAG_SHIFT : 0;
}

enum page_owner page_owner_of(uintptr_t addr) {
    size_t i = addr >> PAGE_SHIFT;
    return i < n_pages ? owner_at(i) : PAGE_OWNER_NONE;
}

size_t page_count(enum page_owner owner) {
    return owner < PAGE_OWNER_COUNT ? owner_pages[owner] : 0;
}

/* The early boot line, before any subsystem allocated: the stacks count as image and
 * the model as a module wherever it lies (mem_report prints every owner later). */
void page_report(void) {
    size_t kib = PAGE_SIZE / 1024;
    size_t image = owner_pages[PAGE_OWNER_IMAGE] + owner_pages[PAGE_OWNER_STACK];
    size_t modules = owner_pages[PAGE_OWNER_BOOT] + owner_pages[PAGE_OWNER_MODEL];
    size_t reserved = owner_pages[PAGE_OWNER_RESERVED] + owner_pages[PAGE_OWNER_PAGETABLE] +
                      owner_pages[PAGE_OWNER_PAGEMAP];
    size_t total = n_pages - owner_pages[PAGE_OWNER_NONE];
    printk("cllm: memory: image %u KiB, modules %u KiB, heap %u KiB, reserved %u KiB, free %u KiB, "
           "total %u KiB\n",
           (unsigned)(image * kib), (unsigned)(modules * kib),
           (unsigned)(owner_pages[PAGE_OWNER_HEAP] * kib), (unsigned)(reserved * kib),
           (unsigned)(owner_pages[PAGE_OWNER_FREE] * kib), (unsigned)(total * kib));
}
