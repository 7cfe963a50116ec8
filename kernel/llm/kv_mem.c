/*
 * The shared KV pool's share of memory accounting (kernel only): the pool's blocks,
 * counted by the pool itself, split the KV heap tag into used blocks (held by a
 * sequence), cached ones (free but holding a published prefix, kept until evicted)
 * and free ones; memacct.c leaves the rest of the tag (the pool's tables, the
 * sequences' block tables, private pools) under heap_kv. Registered by kernel_main
 * with mem_add_parts; relies on llm_get (llm_boot.c) and kv.h's pool fields.
 */
#include "llm/kv.h"
#include "llm/llm.h"
#include "mm.h"

size_t llm_kv_memory(struct mem_owner *out, size_t cap) {
    const struct llm *l = llm_get();
    const struct kv_pool *p = l ? l->kv : NULL;
    if (!p || !p->n_blocks || cap < 3)
        return 0;
    uint64_t cached = 0;
    for (int b = 0; b < p->n_blocks; b++)
        cached += p->ref[b] == 0 && p->hash[b] != 0;
    uint64_t used = (uint64_t)(p->n_blocks - p->n_free);
    uint64_t free = (uint64_t)p->n_free - cached;
    out[0] = (struct mem_owner){"kv_used", used * p->block_bytes};
    out[1] = (struct mem_owner){"kv_cached", cached * p->block_bytes};
    out[2] = (struct mem_owner){"kv_free", free * p->block_bytes};
    return 3;
}
