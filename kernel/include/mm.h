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
    PAGE_OWNER_IMAGE,     /* the kernel ELF: code, data, bss, boot stack */
    PAGE_OWNER_BOOT,      /* Multiboot modules */
    PAGE_OWNER_PAGETABLE, /* page directory and page tables */
    PAGE_OWNER_PAGEMAP,   /* the allocator's own owner map */
    PAGE_OWNER_HEAP,      /* heap: slabs and large blocks */
    PAGE_OWNER_STACK,     /* stacks allocated after boot */
    PAGE_OWNER_RESERVED,  /* usable RAM kept away from the allocator (low 1 MiB) */
    PAGE_OWNER_COUNT
};

/* Page allocator (kernel/core/page.c). */
void page_init(const struct bootinfo *bi);
/* n contiguous pages aligned to align_pages (a power of two, >= 1); 0 if none. */
uintptr_t page_alloc(size_t n, size_t align_pages, enum page_owner owner);
void page_free(uintptr_t addr, size_t n);
size_t page_run_length(uintptr_t addr); /* pages in the run page_alloc returned at addr, else 0 */
enum page_owner page_owner_of(uintptr_t addr);
size_t page_count(enum page_owner owner); /* pages currently held by owner */
const char *page_owner_name(enum page_owner owner);
void page_report(void);        /* the boot line "cllm: memory: ..." */
void page_report_in_use(void); /* "cllm: memory in use: heap N KiB, free N KiB" */

/* Heap (kernel/core/heap.c). Blocks are at least 16-byte aligned; any size that
 * fits in free RAM is served (hundreds of MiB for KV caches), contiguous. */
void *kmalloc(size_t n);
void *kmalloc_aligned(size_t n, size_t align); /* align: power of two */
void *kzalloc(size_t n);                       /* kmalloc + zero fill */
void kfree(void *p);                           /* NULL is ignored */
size_t heap_bytes_in_use(void);                /* bytes requested and not yet freed */

/* Paging (kernel/core/vm.c): identity-map RAM (write-back) and everything else below
 * 4 GiB (uncached, for MMIO); page 0 and the boot stack guard page stay unmapped. */
void vm_init(const struct bootinfo *bi);
bool vm_is_mapped(uintptr_t addr);
bool vm_is_uncached(uintptr_t addr);

#endif
