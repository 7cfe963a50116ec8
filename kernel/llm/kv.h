/*
 * kv: the KV cache as one pool of fixed-size blocks (PagedAttention's layout). A block
 * holds KV_BLOCK_LEN consecutive positions of every layer's K and V; a sequence owns a
 * block table (struct kv_seq) mapping its positions to blocks, and grows it a block at
 * a time, so memory follows the tokens a sequence really has rather than the context
 * it might reach. The forward pass (forward.c) writes and reads K and V only through
 * kv_store / kv_key / kv_value. Portable C (port.h): built in the kernel and on the host.
 *
 * Block layout (elements of the pool's type, F32 or IEEE half):
 *   block b = (n_layers, 2, block_len, kv_dim)   [layer][K=0,V=1][position in block][dim]
 *
 * Who calls it: llm_boot.c builds the kernel's shared pool at boot (the host harness
 * builds its own); model.c gives each model_state a kv_seq (on the shared pool, or on a
 * private pool that holds exactly its context); the scheduler (sched.c) reserves blocks
 * before each step and preempts a sequence when the pool runs out.
 *
 * Ownership: a kv_pool owns its memory and tables (kv_pool_free). A kv_seq owns its
 * block table; the blocks it holds go back to the pool by kv_seq_release / kv_seq_free.
 */
#ifndef CLLM_LLM_KV_H
#define CLLM_LLM_KV_H

#include "types.h"

#define KV_BLOCK_LEN 16        /* positions per block, default of the shared pool */
#define KV_MAX_BLOCKS (1 << 24) /* blocks of one pool at most (int tables stay small) */

/* Element types of the pool: one row of kv_type_traits each. */
enum kv_type {
    KV_TYPE_F32 = 0,
    KV_TYPE_F16 = 1,
    KV_TYPE_COUNT
};

struct kv_pool {
    int type;           /* enum kv_type */
    int block_len;      /* positions per block */
    int n_layers;
    int kv_dim;         /* n_kv_heads * head_dim */
    size_t elt_bytes;   /* bytes per element of type */
    size_t block_bytes; /* n_layers * 2 * block_len * kv_dim * elt_bytes */
    int n_blocks;
    uint8_t *mem;       /* (n_blocks, n_layers, 2, block_len, kv_dim) of type; owned */
    int *next_free;     /* (n_blocks) free-list link of each free block, -1 ends; owned */
    uint16_t *ref;      /* (n_blocks) holders of each block (0: on the free list); owned */
    int free_head;      /* first free block, -1 when none */
    int n_free;
    uint64_t n_preempted; /* sequences preempted for lack of blocks (the scheduler counts) */
};

/* One sequence's block table: positions [i * block_len, (i + 1) * block_len) live in
 * block table[i], for i < n_blocks. */
struct kv_seq {
    struct kv_pool *pool;
    int *table;      /* (max_blocks) owned */
    int n_blocks;    /* blocks held */
    int max_blocks;  /* ceil(n_ctx / block_len) */
    int n_ctx;       /* positions the sequence may reach */
};

/* A pool of the largest number of blocks that fits in `bytes` (at least one).
 * 0, or -1 with a message (bad type or shape, out of memory). */
int kv_pool_init(struct kv_pool *p, int n_layers, int kv_dim, int type, int block_len,
                 size_t bytes, char *err, size_t errlen);
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

/* IEEE half of a float, rounded to nearest even (overflow to inf, NaN kept NaN). */
uint16_t kv_f32_to_f16(float f);

#endif
