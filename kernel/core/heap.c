/*
 * The kernel heap (mm.h): power-of-two slabs of HEAP_SLAB_MIN..HEAP_SLAB_MAX bytes
 * for small blocks, whole-page runs from the page allocator for everything larger.
 * A slab is one page: a header at offset 0, then blocks at multiples of the block
 * size, so every block is aligned to its size. Large blocks start on a page
 * boundary and their length is recovered from the page map (page_run_length), so
 * kfree needs no size; a bitmap per slab and the page map's run heads catch double
 * frees. Every block is charged to a subsystem (enum heap_tag): a slab serves one tag
 * (its header says which), a large block's pages carry the tag in the page map, so
 * kfree knows whom to credit and heap_tag_bytes is exact at any moment; the free slots
 * and headers of slabs are counted apart (heap_spare_bytes). Memory is identity mapped: a block's
 * address is its physical address and large blocks are physically contiguous (DMA rings, KV
 * caches). Single-threaded; not for interrupt handlers.
 */
#include "kernel.h"
#include "memlayout.h"
#include "mm.h"
#include "param.h"

#define SLAB_MAGIC 0x51AB51ABu
#define HEAP_MIN_ALIGN 16u
#define SLAB_CLASSES 7                                   /* 16, 32, ..., 1024 */
#define SLAB_USED_WORDS (PAGE_SIZE / HEAP_SLAB_MIN / 32) /* bitmap words for the most blocks */

struct slab {
    uint32_t magic;
    uint16_t block; /* bytes per block, a power of two */
    uint16_t tag;   /* enum heap_tag of every block in it */
    uint32_t first; /* offset of the first block */
    uint32_t n_free, n_total;
    void *free_list;                /* singly linked through the first word of each free block */
    struct slab *prev, *next;       /* the class's slabs that have a free block */
    uint32_t used[SLAB_USED_WORDS]; /* bit i: block i is handed out (catches double frees) */
};

static struct slab *partial[HEAP_TAG_COUNT][SLAB_CLASSES];
static size_t tag_bytes[HEAP_TAG_COUNT]; /* bytes of blocks handed out, by tag */
static size_t spare_bytes;               /* bytes of slab pages in no handed-out block */

static const char *const tag_names[HEAP_TAG_COUNT] = {
    "other", "http", "api", "net", "llm", "model", "tokenizer", "grammar", "kv",
};

_Static_assert(HEAP_SLAB_MIN == 16 && HEAP_SLAB_MAX == 1024, "SLAB_CLASSES follows param.h");

static unsigned slab_class(size_t block) {
    unsigned c = 0;
    for (size_t b = HEAP_SLAB_MIN; b < block; b <<= 1)
        c++;
    return c;
}

static void slab_unlink(struct slab *s, unsigned c) {
    if (s->prev)
        s->prev->next = s->next;
    else
        partial[s->tag][c] = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
}

static void slab_push(struct slab *s, unsigned c) {
    s->prev = NULL;
    s->next = partial[s->tag][c];
    if (s->next)
        s->next->prev = s;
    partial[s->tag][c] = s;
}

static struct slab *slab_new(size_t block, enum heap_tag tag) {
    uintptr_t page = page_alloc_tagged(1, 1, PAGE_OWNER_HEAP, tag);
    if (!page)
        return NULL;
    spare_bytes += PAGE_SIZE;
    struct slab *s = (struct slab *)page;
    s->magic = SLAB_MAGIC;
    s->block = (uint16_t)block;
    s->tag = (uint16_t)tag;
    s->first = (uint32_t)ALIGN_UP(sizeof(struct slab), block);
    s->n_total = (uint32_t)((PAGE_SIZE - s->first) / block);
    s->n_free = s->n_total;
    s->free_list = NULL;
    memset(s->used, 0, sizeof(s->used));
    for (uint32_t i = s->n_total; i-- > 0;) {
        void **b = (void **)(page + s->first + i * block);
        *b = s->free_list;
        s->free_list = b;
    }
    return s;
}

static void *slab_alloc(size_t block, enum heap_tag tag) {
    unsigned c = slab_class(block);
    struct slab *s = partial[tag][c];
    if (!s) {
        s = slab_new(block, tag);
        if (!s)
            return NULL;
        slab_push(s, c);
    }
    void **b = s->free_list;
    s->free_list = *b;
    uint32_t i = ((uint32_t)((uintptr_t)b - (uintptr_t)s) - s->first) / s->block;
    s->used[i / 32] |= 1u << (i % 32);
    if (--s->n_free == 0)
        slab_unlink(s, c);
    tag_bytes[tag] += block;
    spare_bytes -= block;
    return b;
}

static void slab_free(void *p) {
    uintptr_t addr = (uintptr_t)p;
    struct slab *s = (struct slab *)ALIGN_DOWN(addr, PAGE_SIZE);
    uint32_t off = (uint32_t)(addr - (uintptr_t)s);
    if (s->magic != SLAB_MAGIC || off < s->first || (off - s->first) % s->block)
        panic("kfree: %p is not a heap block", p);
    uint32_t i = (off - s->first) / s->block;
    if (!(s->used[i / 32] & (1u << (i % 32))))
        panic("kfree: %p freed twice", p);
    s->used[i / 32] &= ~(1u << (i % 32));
    unsigned c = slab_class(s->block);
    *(void **)p = s->free_list;
    s->free_list = p;
    tag_bytes[s->tag] -= s->block;
    spare_bytes += s->block;
    if (++s->n_free == 1)
        slab_push(s, c);
    if (s->n_free == s->n_total) {
        slab_unlink(s, c);
        s->magic = 0;
        page_free((uintptr_t)s, 1);
        spare_bytes -= PAGE_SIZE;
    }
}

void *heap_alloc(size_t n, size_t align, enum heap_tag tag) {
    if ((unsigned)tag >= HEAP_TAG_COUNT)
        tag = HEAP_TAG_OTHER;
    if (align == 0 || (align & (align - 1)) || n > SIZE_MAX - PAGE_SIZE)
        return NULL;
    if (align < HEAP_MIN_ALIGN)
        align = HEAP_MIN_ALIGN;
    size_t block = HEAP_SLAB_MIN;
    while (block < n && block <= HEAP_SLAB_MAX)
        block <<= 1;
    block = MAX(block, align);
    if (block <= HEAP_SLAB_MAX)
        return slab_alloc(block, tag);
    size_t pages = ALIGN_UP(MAX(n, (size_t)1), PAGE_SIZE) / PAGE_SIZE;
    size_t align_pages = align > PAGE_SIZE ? align / PAGE_SIZE : 1;
    uintptr_t addr = page_alloc_tagged(pages, align_pages, PAGE_OWNER_HEAP, tag);
    if (!addr)
        return NULL;
    tag_bytes[tag] += pages * PAGE_SIZE;
    return (void *)addr;
}

void *kmalloc_aligned(size_t n, size_t align) {
    return heap_alloc(n, align, HEAP_TAG_OTHER);
}

void *kmalloc(size_t n) {
    return kmalloc_aligned(n, HEAP_MIN_ALIGN);
}

void *kzalloc(size_t n) {
    void *p = kmalloc(n);
    if (p)
        memset(p, 0, n);
    return p;
}

void kfree(void *p) {
    if (!p)
        return;
    uintptr_t addr = (uintptr_t)p;
    if (page_owner_of(addr) != PAGE_OWNER_HEAP)
        panic("kfree: %p is not a heap block (page owner %s)", p,
              page_owner_name(page_owner_of(addr)));
    if (addr & (PAGE_SIZE - 1)) {
        slab_free(p);
        return;
    }
    size_t n = page_run_length(addr);
    if (n == 0)
        panic("kfree: %p is inside a heap block, not its start", p);
    tag_bytes[page_tag_of(addr)] -= n * PAGE_SIZE;
    page_free(addr, n);
}

size_t heap_bytes_in_use(void) {
    size_t sum = 0;
    for (unsigned t = 0; t < HEAP_TAG_COUNT; t++)
        sum += tag_bytes[t];
    return sum;
}

size_t heap_tag_bytes(enum heap_tag tag) {
    return (unsigned)tag < HEAP_TAG_COUNT ? tag_bytes[tag] : 0;
}

size_t heap_spare_bytes(void) {
    return spare_bytes;
}

const char *heap_tag_name(enum heap_tag tag) {
    return (unsigned)tag < HEAP_TAG_COUNT ? tag_names[tag] : "?";
}
