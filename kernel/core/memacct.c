/*
 * Memory by owner: one table in which every byte of the usable RAM that the memory
 * map gave the kernel appears exactly once. Read by /metrics (kernel/http/api.c,
 * cllm_memory_bytes{owner=...}) and printed once at boot (mem_report); the soak test
 * checks every row comes back to its idle value. The rows, in order:
 *   image, stack, model, modules, page_tables, page_map, reserved   page allocator owners
 *   unusable     usable RAM the allocator cannot hand out: slivers of pages at region
 *                edges and RAM above 4 GiB
 *   heap_<tag>   heap blocks charged to a subsystem (heap.c), in bytes; a tag split
 *                into parts (mem_add_parts: kv_used, kv_cached, kv_free) keeps the rest
 *   heap_spare   slab headers and free slots
 *   free         free pages
 * Granularity: pages for the page allocator's owners, bytes for the heap's tags (a
 * small block counts its power-of-two slot, a large one its pages). Each row comes
 * from its own counter, so their sum equalling the total is a real check.
 */
#include "kernel.h"
#include "memlayout.h"
#include "mm.h"

#define MEM_NAME_MAX 24     /* "heap_" + a tag name */
#define MEM_REPORT_LINE 320 /* characters of owners on one boot log line, about */

/* Page allocator owners in the table, in order; free and heap come later. */
static const struct mem_page_row {
    const char *name;
    enum page_owner owner;
} mem_page_rows[] = {
    {"image", PAGE_OWNER_IMAGE},           {"stack", PAGE_OWNER_STACK},
    {"model", PAGE_OWNER_MODEL},           {"modules", PAGE_OWNER_BOOT},
    {"page_tables", PAGE_OWNER_PAGETABLE}, {"page_map", PAGE_OWNER_PAGEMAP},
    {"reserved", PAGE_OWNER_RESERVED},
};

static size_t (*mem_parts[HEAP_TAG_COUNT])(struct mem_owner *out, size_t cap);
static char mem_heap_names[HEAP_TAG_COUNT][MEM_NAME_MAX];

void mem_add_parts(enum heap_tag tag, size_t (*parts)(struct mem_owner *out, size_t cap)) {
    if ((unsigned)tag < HEAP_TAG_COUNT)
        mem_parts[tag] = parts;
}

static void mem_row(struct mem_table *t, const char *name, uint64_t bytes) {
    if (t->n < MEM_OWNERS_MAX)
        t->row[t->n++] = (struct mem_owner){name, bytes};
}

static const char *mem_heap_name(enum heap_tag tag) {
    if (!mem_heap_names[tag][0])
        snprintf(mem_heap_names[tag], MEM_NAME_MAX, "heap_%s", heap_tag_name(tag));
    return mem_heap_names[tag];
}

void mem_table_read(struct mem_table *t, const struct bootinfo *bi) {
    t->n = 0;
    t->total = bi->mem_usable;
    uint64_t tracked = 0; /* bytes of RAM pages the allocator knows */
    for (unsigned o = PAGE_OWNER_FREE; o < PAGE_OWNER_COUNT; o++)
        tracked += (uint64_t)page_count((enum page_owner)o) * PAGE_SIZE;
    for (size_t i = 0; i < sizeof(mem_page_rows) / sizeof(mem_page_rows[0]); i++)
        mem_row(t, mem_page_rows[i].name, (uint64_t)page_count(mem_page_rows[i].owner) * PAGE_SIZE);
    mem_row(t, "unusable", t->total > tracked ? t->total - tracked : 0);
    for (unsigned tag = 0; tag < HEAP_TAG_COUNT; tag++) {
        uint64_t bytes = heap_tag_bytes((enum heap_tag)tag);
        size_t at = t->n;
        mem_row(t, mem_heap_name((enum heap_tag)tag), 0);
        if (mem_parts[tag] && t->n < MEM_OWNERS_MAX) {
            size_t n = mem_parts[tag](&t->row[t->n], MEM_OWNERS_MAX - t->n);
            for (size_t i = 0; i < n; i++)
                bytes = bytes > t->row[t->n + i].bytes ? bytes - t->row[t->n + i].bytes : 0;
            t->n += n;
        }
        t->row[at].bytes = bytes;
    }
    mem_row(t, "heap_spare", heap_spare_bytes());
    mem_row(t, "free", (uint64_t)page_count(PAGE_OWNER_FREE) * PAGE_SIZE);
}

size_t mem_table_format(const struct mem_table *t, char *buf, size_t cap) {
    size_t len =
        (size_t)snprintf(buf, cap,
                         "# HELP cllm_memory_total_bytes Usable RAM in the boot memory map.\n"
                         "# TYPE cllm_memory_total_bytes gauge\n"
                         "cllm_memory_total_bytes %llu\n"
                         "# HELP cllm_memory_bytes RAM by owner; the owners add up to "
                         "cllm_memory_total_bytes.\n"
                         "# TYPE cllm_memory_bytes gauge\n",
                         (unsigned long long)t->total);
    for (size_t i = 0; i < t->n; i++)
        len += (size_t)snprintf(buf && len < cap ? buf + len : NULL, len < cap ? cap - len : 0,
                                "cllm_memory_bytes{owner=\"%s\"} %llu\n", t->row[i].name,
                                (unsigned long long)t->row[i].bytes);
    return len;
}

/* One line, "cllm: memory by owner: image N, stack N, ..., total N bytes" (owners
 * holding nothing left out); past MEM_REPORT_LINE characters it goes on in lines
 * "cllm: memory by owner (more): ...", so printk never cuts a figure. */
void mem_report(void) {
    static struct mem_table t;
    mem_table_read(&t, bootinfo_get());
    char line[MEM_REPORT_LINE + 64] = "";
    size_t len = 0;
    bool first = true;
    for (size_t i = 0; i < t.n; i++) {
        if (!t.row[i].bytes)
            continue;
        if (len > MEM_REPORT_LINE) {
            printk("cllm: memory by owner%s: %s\n", first ? "" : " (more)", line);
            first = false;
            len = 0;
        }
        len += (size_t)snprintf(line + len, sizeof(line) - len, "%s%s %llu", len ? ", " : "",
                                t.row[i].name, (unsigned long long)t.row[i].bytes);
    }
    printk("cllm: memory by owner%s: %s%stotal %llu bytes\n", first ? "" : " (more)", line,
           len ? ", " : "", (unsigned long long)t.total);
}
