/*
 * kv: the KV cache as one pool of fixed-size blocks (PagedAttention's layout). A block
 * holds KV_BLOCK_LEN consecutive positions of every layer's K and V; a sequence owns a
 * block table (struct kv_seq) mapping its positions to blocks, and grows it a block at
 * a time, so memory follows the tokens a sequence really has rather than the context
 * it might reach. The forward pass (forward.c) writes K and V through kv_store and
 * reads them a block's run of positions at a time through kv_run (kv_key / kv_value
 * read one row as floats). Portable C (port.h): built in the kernel and on the host.
 *
 * Block layout (elements of the pool's type, F32 or IEEE half):
 *   block b = (n_layers, 2, block_len, kv_dim)   [layer][K=0,V=1][position in block][dim]
 *
 * Who calls it: llm_boot.c builds the kernel's shared pool at boot (the host harness
 * builds its own); model.c gives each model_state a kv_seq (on the shared pool, or on a
 * private pool that holds exactly its context); the scheduler (sched.c) reserves blocks
 * before each step and preempts a sequence when the pool runs out.
 *
 * Prefix caching: a full block is published (kv_seq_publish) under a hash of its
 * tokens and of the block before it, with the tokens kept to confirm a match. A new
 * sequence whose tokens start with published blocks takes them (kv_seq_match; reference
 * counts) and evaluates only the rest. Only full blocks are shared and a shared block
 * is never written, so no copy is needed. Choices of one request (n > 1) share the
 * prompt's blocks the same way (kv_seq_fork), whether caching is on or not; the
 * partly filled last block is copied. A released block that is published stays on
 * the free list's tail, reusable until it reaches the head and is taken (evicted): the
 * free list is the LRU order, blocks never published first.
 *
 * Ownership: a kv_pool owns its memory and tables (kv_pool_free). A kv_seq owns its
 * block table; the blocks it holds go back to the pool by kv_seq_release / kv_seq_free.
 */
#ifndef CLLM_LLM_KV_H
#define CLLM_LLM_KV_H

#include "types.h"

#define KV_BLOCK_LEN 16         /* positions per block, default of the shared pool */
#define KV_MAX_BLOCKS (1 << 24) /* blocks of one pool at most (int tables stay small) */

/* Element types of the pool: one row of kv_types (kv.c) each. */
enum kv_type { KV_TYPE_F32 = 0, KV_TYPE_F16 = 1, KV_TYPE_COUNT };

struct kv_pool {
    int type;      /* enum kv_type */
    int block_len; /* positions per block */
    int n_layers;
    int kv_dim;         /* n_kv_heads * head_dim */
    size_t elt_bytes;   /* bytes per element of type */
    size_t block_bytes; /* n_layers * 2 * block_len * kv_dim * elt_bytes */
    int n_blocks;
    uint8_t *mem;   /* (n_blocks, n_layers, 2, block_len, kv_dim) of type; owned */
    int *next_free; /* (n_blocks) free-list links, -1 ends; owned */
    int *prev_free; /* (n_blocks) the links back, -1 at the head; owned */
    uint16_t *ref;  /* (n_blocks) holders of each block (0: on the free list); owned */
    uint64_t *hash; /* (n_blocks) hash of a published block, 0 if not published; owned */
    int *tokens;    /* (n_blocks, block_len) tokens of published blocks; owned */
    int free_head;  /* next free block to take, -1 when none */
    int free_tail;  /* the most recently released published block's end of the list */
    int n_free;
    bool cache;           /* prefix caching on (the default) */
    uint64_t n_preempted; /* sequences preempted for lack of blocks (the scheduler counts) */
    uint64_t n_hits;      /* published blocks taken by kv_seq_match */
    uint64_t n_evictions; /* published free blocks taken for new contents */
    uint64_t n_forked;    /* positions kv_seq_fork gave a sequence instead of running them */
};

/* One sequence's block table: positions [i * block_len, (i + 1) * block_len) live in
 * block table[i], for i < n_blocks. */
struct kv_seq {
    struct kv_pool *pool;
    int *table;      /* (max_blocks) owned */
    int n_blocks;    /* blocks held */
    int max_blocks;  /* ceil(n_ctx / block_len) */
    int n_ctx;       /* positions the sequence may reach */
    int n_published; /* leading blocks published or matched (kv_seq_publish skips them) */
};

/* A pool of the largest number of blocks that fits in `bytes` (at least one).
 * 0, or -1 with a message (bad type or shape, out of memory). */
int kv_pool_init(struct kv_pool *p, int n_layers, int kv_dim, int type, int block_len, size_t bytes,
                 char *err, size_t errlen);
void kv_pool_free(struct kv_pool *p);
/* Bytes of one block for this shape and type (0 if the type is unknown). */
size_t kv_block_bytes(int n_layers, int kv_dim, int type, int block_len);
/* "F32" / "F16"; kv_type_parse: the type of a name, -1 if none. */
const char *kv_type_name(int type);
int kv_type_parse(const char *name);
/* Positions the pool holds in all (n_blocks * block_len). */
long kv_pool_positions(const struct kv_pool *p);

/* The debug walk: the free list reaches exactly the blocks with no holder, once each,
 * and n_free counts them. 0, or -1 with what is wrong in err. */
int kv_pool_check(const struct kv_pool *p, char *err, size_t errlen);
/* The pool as Prometheus text for /metrics (blocks, bytes, positions per block,
 * used, free, preemptions, the walk's verdict); snprintf-like. p may be NULL. */
size_t kv_pool_metrics_format(const struct kv_pool *p, char *buf, size_t cap);

/* An empty table for up to n_ctx positions on pool p. 0, or -1 out of memory. */
int kv_seq_init(struct kv_seq *s, struct kv_pool *p, int n_ctx);
/* Hold blocks for positions [0, n_pos) (n_pos <= n_ctx): 0, or -1 when the pool has
 * too few free blocks (nothing taken then). */
int kv_seq_reserve(struct kv_seq *s, int n_pos);
/* For a sequence holding no block: take the published blocks that hold tokens[0..n)
 * from the start, as many whole blocks as match. Returns the positions they cover (0
 * when caching is off or nothing matches); the caller runs only the tokens after. */
int kv_seq_match(struct kv_seq *s, const int *tokens, int n);
/* For a sequence holding no block: the first n_pos positions of src (held by it, on
 * the same pool), so that it goes on from there as src would (n > 1 choices of one
 * prompt). The full blocks are taken by reference (never written again); the partly
 * filled last one, which src writes its next positions into, is copied into a new
 * block (copy-on-write, done at once). 0, or -1 when the copy has no free block or the
 * sequences do not fit (nothing taken then). */
int kv_seq_fork(struct kv_seq *s, const struct kv_seq *src, int n_pos);
/* Publish the full blocks among positions [0, n_eval), whose tokens are tokens[0..). */
void kv_seq_publish(struct kv_seq *s, const int *tokens, int n_eval);
/* Positions the held blocks cover. */
int kv_seq_positions(const struct kv_seq *s);
/* Give every held block back (the table stays, empty). */
void kv_seq_release(struct kv_seq *s);
/* kv_seq_release, then free the table. Safe on a zeroed or freed kv_seq. */
void kv_seq_free(struct kv_seq *s);

/* Write K and V rows, (kv_dim) floats each, of layer l at position pos (held). */
void kv_store(const struct kv_seq *s, int l, int pos, const float *k, const float *v);
/* K or V of layer l at position pos, elements [off, off + n) as floats: a pointer into
 * the pool when it holds F32, else tmp (n floats) filled from the stored halves. */
const float *kv_key(const struct kv_seq *s, int l, int pos, int off, int n, float *tmp);
const float *kv_value(const struct kv_seq *s, int l, int pos, int off, int n, float *tmp);

/* The positions of layer l from pos (held) up to end (exclusive) or the end of pos's
 * block, whichever comes first: within one block they are consecutive rows, so the
 * attention kernels read them in place (ops.h, ops_att_scores / ops_att_values). */
struct kv_run {
    const void *k; /* (n, stride) K rows of type from element off, the first at pos */
    const void *v; /* (n, stride) V rows of type from element off */
    int type;      /* enum kv_type: the pool's element type */
    int stride;    /* elements from one position's row to the next (kv_dim) */
    int n;         /* positions, at least 1 */
};

/* The run of layer l that starts at pos (pos < end), its rows from element off (a
 * head's slice); returns its length r->n. */
int kv_run(const struct kv_seq *s, int l, int pos, int end, int off, struct kv_run *r);

/* IEEE half of a float, rounded to nearest even (overflow to inf, NaN kept NaN). */
uint16_t kv_f32_to_f16(float f);

#endif
