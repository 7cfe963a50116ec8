/*
 * mm.h: physical memory. One page allocator (kernel/core/page.c) owns every page of
 * RAM below 4 GiB and records an owner for each; the heap (kernel/core/heap.c) sits on
 * top of it. Paging is an identity map (kernel/core/vm.c), so every pointer is also
 * the physical address: heap blocks are physically contiguous and can be handed to
 * DMA engines as they are.
 *
 * Ownership: whoever calls kmalloc/kmalloc_aligned frees with kfree; page_alloc pairs
 * with page_free. Allocation failure returns NULL/0, never panics; kfree of a pointer
 * the heap did not hand out is a kernel bug and panics.
 */
#ifndef CLLM_MM_H
#define CLLM_MM_H

#include "bootinfo.h"
#include "types.h"

enum page_owner {
    PAGE_OWNER_NONE = 0,  /* not RAM (hole, firmware, MMIO) or above 4 GiB */
    PAGE_OWNER_FREE,      /* usable and unallocated */
    PAGE_OWNER_IMAGE,     /* the kernel ELF: code, data, bss (less the stacks and model) */
    PAGE_OWNER_BOOT,      /* Multiboot modules other than the model */
    PAGE_OWNER_PAGETABLE, /* page directory and page tables */
    PAGE_OWNER_PAGEMAP,   /* the allocator's own owner map */
    PAGE_OWNER_HEAP,      /* heap: slabs and large blocks; the map's tag is the heap_tag */
    PAGE_OWNER_STACK,     /* CPU stacks and their guard pages (boot CPU's and the APs' in
                             the image's bss), and stacks allocated after boot */
    PAGE_OWNER_RESERVED,  /* usable RAM kept away from the allocator (low 1 MiB) */
    PAGE_OWNER_MODEL,     /* the model file: module "model", or the image's .model section */
    PAGE_OWNER_COUNT
};

/* Who asked the heap for a block: every block is charged to one subsystem, so memory
 * can be accounted by owner (memacct.c). port_alloc in kernel/llm, kernel/net and
 * kernel/http charges by the source file that calls it (kernel/core/port.c has the
 * table); kmalloc and friends charge HEAP_TAG_OTHER, heap_alloc a tag of the caller's. */
enum heap_tag {
    HEAP_TAG_OTHER = 0, /* kernel/core, kernel/init, anything untagged */
    HEAP_TAG_HTTP,      /* kernel/http: connections, parsers, response buffers */
    HEAP_TAG_API,       /* kernel/http/api*: requests, tasks, their JSON */
    HEAP_TAG_NET,       /* kernel/net and the NIC drivers' rings and buffers */
    HEAP_TAG_LLM,       /* kernel/llm: generation state, activations, sampler */
    HEAP_TAG_MODEL,     /* the model's tables (GGUF index, layer arrays) */
    HEAP_TAG_TOKENIZER, /* tokenizer tables */
    HEAP_TAG_GRAMMAR,   /* compiled grammars */
    HEAP_TAG_KV,        /* KV pools, their tables and block tables */
    HEAP_TAG_COUNT
};

/* Page allocator (kernel/core/page.c). */
void page_init(const struct bootinfo *bi);
/* n contiguous pages aligned to align_pages (a power of two, >= 1); 0 if none. */
uintptr_t page_alloc(size_t n, size_t align_pages, enum page_owner owner);
/* page_alloc that also records tag (0..255, the owner's to define) in every page. */
uintptr_t page_alloc_tagged(size_t n, size_t align_pages, enum page_owner owner, unsigned tag);
void page_free(uintptr_t addr, size_t n);
size_t page_run_length(uintptr_t addr); /* pages in the run page_alloc returned at addr, else 0 */
enum page_owner page_owner_of(uintptr_t addr);
unsigned page_tag_of(uintptr_t addr);     /* the tag page_alloc_tagged gave addr's page */
size_t page_count(enum page_owner owner); /* pages currently held by owner */
const char *page_owner_name(enum page_owner owner);
void page_report(void); /* the boot line "cllm: memory: ..." */

/* Heap (kernel/core/heap.c). Blocks are at least 16-byte aligned; any size that
 * fits in free RAM is served (hundreds of MiB for KV caches), contiguous. */
void *kmalloc(size_t n);
void *kmalloc_aligned(size_t n, size_t align); /* align: power of two */
void *kzalloc(size_t n);                       /* kmalloc + zero fill */
void kfree(void *p);                           /* NULL is ignored */
/* kmalloc_aligned charged to tag. */
void *heap_alloc(size_t n, size_t align, enum heap_tag tag);
size_t heap_bytes_in_use(void); /* bytes of the blocks handed out and not yet freed */
/* Bytes of tag's blocks in use: a small block counts its slab slot (a power of two),
 * a large one its whole pages. */
size_t heap_tag_bytes(enum heap_tag tag);
/* Bytes of heap pages in no block: slab headers and free slots. Heap pages * PAGE_SIZE
 * == heap_spare_bytes() + the sum of heap_tag_bytes over every tag. */
size_t heap_spare_bytes(void);
const char *heap_tag_name(enum heap_tag tag); /* "http", "kv", ... */

/* Memory by owner (kernel/core/memacct.c): every byte of the usable RAM the memory
 * map gave, in exactly one row. Pages for the page allocator's owners, bytes for the
 * heap's tags; a subsystem may split its tag into named parts (the KV pool: used,
 * cached and free blocks), the tag's row keeping the rest. */
#define MEM_OWNERS_MAX 32
struct mem_owner {
    const char *name; /* Prometheus label value: [a-z_]+ */
    uint64_t bytes;
};
struct mem_table {
    uint64_t total; /* usable RAM in the memory map, bytes */
    size_t n;
    struct mem_owner row[MEM_OWNERS_MAX]; /* (n) their bytes sum to total */
};
/* parts fills out (cap rows) with parts of tag's bytes and returns how many it filled;
 * one source per tag, the last registered wins. */
void mem_add_parts(enum heap_tag tag, size_t (*parts)(struct mem_owner *out, size_t cap));
void mem_table_read(struct mem_table *t, const struct bootinfo *bi); /* bi: for the total */
/* The table as Prometheus text (cllm_memory_total_bytes, cllm_memory_bytes{owner=}),
 * snprintf-like. */
size_t mem_table_format(const struct mem_table *t, char *buf, size_t cap);
void mem_report(void); /* the boot log's table, "cllm: memory by owner: ..." lines */

/* Paging (kernel/core/vm.c): identity-map RAM (write-back) and everything else below
 * 4 GiB (uncached, for MMIO); page 0 and the boot stack guard page stay unmapped. */
void vm_init(const struct bootinfo *bi);
bool vm_is_mapped(uintptr_t addr);
bool vm_is_uncached(uintptr_t addr);

#endif
