/*
 * kv.c: the block pool of the KV cache and the sequences' block tables (see kv.h).
 * Called by model.c (state allocation), forward.c (K/V storage and access), the
 * scheduler and llm_boot.c; relies on port.h and quant.h (half to float).
 *
 * Free blocks form a doubly linked list: blocks are taken at the head; a released
 * block goes to the head if it holds nothing published, else to the tail, so the list
 * is the prefix cache's LRU order. A block's reference count says how many sequences
 * hold it; the debug walk proves every block is either free or held, once.
 *
 * Published blocks are found by a scan of the hashes (a few thousand words per new
 * sequence; cheaper than a request's first matmul), then confirmed token by token.
 */
#include "llm/kv.h"

#include "llm/quant.h"
#include "port.h"

/* One row per element type: name and bytes per element. */
struct kv_type_info {
    const char *name;
    size_t bytes;
};

static const struct kv_type_info kv_types[KV_TYPE_COUNT] = {
    [KV_TYPE_F32] = {"F32", 4},
    [KV_TYPE_F16] = {"F16", 2},
};

const char *kv_type_name(int type) {
    return type >= 0 && type < KV_TYPE_COUNT ? kv_types[type].name : "?";
}

int kv_type_parse(const char *name) {
    for (int t = 0; name && t < KV_TYPE_COUNT; t++) {
        const char *a = kv_types[t].name, *b = name;
        while (*a && (*a == *b || *a == *b - ('a' - 'A'))) {
            a++;
            b++;
        }
        if (!*a && !*b)
            return t;
    }
    return -1;
}

size_t kv_block_bytes(int n_layers, int kv_dim, int type, int block_len) {
    if (type < 0 || type >= KV_TYPE_COUNT || n_layers <= 0 || kv_dim <= 0 || block_len <= 0)
        return 0;
    uint64_t b = (uint64_t)n_layers * 2u * (uint64_t)block_len * (uint64_t)kv_dim *
                 (uint64_t)kv_types[type].bytes;
    return b > (uint64_t)SIZE_MAX / 4 ? 0 : (size_t)b;
}

void kv_pool_free(struct kv_pool *p) {
    port_free(p->mem);
    port_free(p->next_free);
    port_free(p->prev_free);
    port_free(p->ref);
    port_free(p->hash);
    port_free(p->tokens);
    memset(p, 0, sizeof(*p));
}

int kv_pool_init(struct kv_pool *p, int n_layers, int kv_dim, int type, int block_len, size_t bytes,
                 char *err, size_t errlen) {
    memset(p, 0, sizeof(*p));
    size_t bb = kv_block_bytes(n_layers, kv_dim, type, block_len);
    if (!bb)
        return port_fail(err, errlen, "kv: type %d, %d layers of %d, %d positions a block: no pool",
                         type, n_layers, kv_dim, block_len);
    size_t n = MAX(bytes / bb, (size_t)1);
    n = MIN(n, (size_t)KV_MAX_BLOCKS);
    p->type = type;
    p->block_len = block_len;
    p->n_layers = n_layers;
    p->kv_dim = kv_dim;
    p->elt_bytes = kv_types[type].bytes;
    p->block_bytes = bb;
    p->n_blocks = (int)n;
    p->mem = n <= SIZE_MAX / bb ? port_alloc(n * bb) : NULL;
    p->next_free = port_alloc(n * sizeof(*p->next_free));
    p->prev_free = port_alloc(n * sizeof(*p->prev_free));
    p->ref = port_alloc(n * sizeof(*p->ref));
    p->hash = port_alloc(n * sizeof(*p->hash));
    p->tokens = port_alloc(n * (size_t)block_len * sizeof(*p->tokens));
    if (!p->mem || !p->next_free || !p->prev_free || !p->ref || !p->hash || !p->tokens) {
        kv_pool_free(p);
        return port_fail(err, errlen, "kv: out of memory for %lu blocks of %lu bytes",
                         (unsigned long)n, (unsigned long)bb);
    }
    /* Zeroed so that a position never written reads as 0, never as old bytes. */
    memset(p->mem, 0, n * bb);
    memset(p->ref, 0, n * sizeof(*p->ref));
    memset(p->hash, 0, n * sizeof(*p->hash));
    for (int i = 0; i < p->n_blocks; i++) {
        p->next_free[i] = i + 1 < p->n_blocks ? i + 1 : -1;
        p->prev_free[i] = i - 1;
    }
    p->free_head = 0;
    p->free_tail = p->n_blocks - 1;
    p->n_free = p->n_blocks;
    p->cache = true;
    return 0;
}

long kv_pool_positions(const struct kv_pool *p) {
    return (long)p->n_blocks * (long)p->block_len;
}

int kv_pool_check(const struct kv_pool *p, char *err, size_t errlen) {
    int held = 0, seen = 0, prev = -1;
    for (int i = 0; i < p->n_blocks; i++)
        held += p->ref[i] != 0;
    for (int b = p->free_head; b != -1; prev = b, b = p->next_free[b]) {
        if (b < 0 || b >= p->n_blocks)
            return port_fail(err, errlen, "kv: free list reaches block %d of %d", b, p->n_blocks);
        if (p->prev_free[b] != prev)
            return port_fail(err, errlen, "kv: block %d links back to %d, not %d", b,
                             p->prev_free[b], prev);
        if (p->ref[b])
            return port_fail(err, errlen, "kv: block %d is on the free list with %u holders", b,
                             (unsigned)p->ref[b]);
        if (++seen > p->n_free)
            return port_fail(err, errlen, "kv: free list longer than n_free %d (a cycle?)",
                             p->n_free);
    }
    if (prev != p->free_tail)
        return port_fail(err, errlen, "kv: free list ends at %d, tail says %d", prev, p->free_tail);
    if (seen != p->n_free || held + seen != p->n_blocks)
        return port_fail(err, errlen, "kv: free list %d blocks, n_free %d, held %d, %d in all",
                         seen, p->n_free, held, p->n_blocks);
    return 0;
}

/* Free blocks that hold a published prefix. */
static int kv_pool_cached(const struct kv_pool *p) {
    int n = 0;
    for (int b = p->free_head; b != -1; b = p->next_free[b])
        n += p->hash[b] != 0;
    return n;
}

size_t kv_pool_metrics_format(const struct kv_pool *p, char *buf, size_t cap) {
    if (!p || !p->n_blocks)
        return 0;
    char err[120];
    int ok = kv_pool_check(p, err, sizeof(err)) == 0;
    int n = snprintf(buf, cap,
                     "# HELP cllm_kv_blocks KV pool blocks by state.\n"
                     "# TYPE cllm_kv_blocks gauge\n"
                     "cllm_kv_blocks{state=\"used\"} %d\ncllm_kv_blocks{state=\"free\"} %d\n"
                     "# HELP cllm_kv_block_positions Positions of every layer one KV block holds.\n"
                     "# TYPE cllm_kv_block_positions gauge\ncllm_kv_block_positions %d\n"
                     "# HELP cllm_kv_pool_bytes Bytes of the KV pool.\n"
                     "# TYPE cllm_kv_pool_bytes gauge\ncllm_kv_pool_bytes{type=\"%s\"} %llu\n"
                     "# HELP cllm_kv_preemptions_total Sequences preempted for lack of KV blocks.\n"
                     "# TYPE cllm_kv_preemptions_total counter\ncllm_kv_preemptions_total %llu\n"
                     "# HELP cllm_kv_prefix_hits_total KV blocks reused from the prefix cache.\n"
                     "# TYPE cllm_kv_prefix_hits_total counter\ncllm_kv_prefix_hits_total %llu\n"
                     "# HELP cllm_kv_prefix_hit_tokens_total Prompt tokens it saved evaluating.\n"
                     "# TYPE cllm_kv_prefix_hit_tokens_total counter\n"
                     "cllm_kv_prefix_hit_tokens_total %llu\n"
                     "# HELP cllm_kv_prefix_evictions_total Cached blocks given new contents.\n"
                     "# TYPE cllm_kv_prefix_evictions_total counter\n"
                     "cllm_kv_prefix_evictions_total %llu\n"
                     "# HELP cllm_kv_forked_tokens_total Prompt positions a choice took from "
                     "a sibling choice of the same request instead of evaluating them.\n"
                     "# TYPE cllm_kv_forked_tokens_total counter\n"
                     "cllm_kv_forked_tokens_total %llu\n"
                     "# HELP cllm_kv_cached_blocks Free blocks that still hold a cached prefix.\n"
                     "# TYPE cllm_kv_cached_blocks gauge\ncllm_kv_cached_blocks %d\n"
                     "# HELP cllm_kv_pool_consistent 1 if free list and reference counts agree.\n"
                     "# TYPE cllm_kv_pool_consistent gauge\ncllm_kv_pool_consistent %d\n",
                     p->n_blocks - p->n_free, p->n_free, p->block_len, kv_type_name(p->type),
                     (unsigned long long)p->n_blocks * (unsigned long long)p->block_bytes,
                     (unsigned long long)p->n_preempted, (unsigned long long)p->n_hits,
                     (unsigned long long)p->n_hits * (unsigned long long)p->block_len,
                     (unsigned long long)p->n_evictions, (unsigned long long)p->n_forked,
                     kv_pool_cached(p), ok);
    return n > 0 ? (size_t)n : 0;
}

int kv_seq_init(struct kv_seq *s, struct kv_pool *p, int n_ctx) {
    memset(s, 0, sizeof(*s));
    if (!p || !p->n_blocks || n_ctx <= 0)
        return -1;
    s->pool = p;
    s->n_ctx = n_ctx;
    s->max_blocks = (n_ctx + p->block_len - 1) / p->block_len;
    s->table = port_alloc((size_t)s->max_blocks * sizeof(*s->table));
    return s->table ? 0 : -1;
}

int kv_seq_positions(const struct kv_seq *s) {
    return s->pool ? MIN(s->n_blocks * s->pool->block_len, s->n_ctx) : 0;
}

/* Take free block b off the free list, held once. */
static void kv_unlink(struct kv_pool *p, int b) {
    int n = p->next_free[b], v = p->prev_free[b];
    if (v != -1)
        p->next_free[v] = n;
    else
        p->free_head = n;
    if (n != -1)
        p->prev_free[n] = v;
    else
        p->free_tail = v;
    p->next_free[b] = p->prev_free[b] = -1;
    p->ref[b] = 1;
    p->n_free--;
}

/* Take the free list's head for new contents (the pool has a free block). */
static int kv_take(struct kv_pool *p) {
    int b = p->free_head;
    kv_unlink(p, b);
    if (p->hash[b]) { /* the least recently used cached prefix gives way */
        p->hash[b] = 0;
        p->n_evictions++;
    }
    return b;
}

int kv_seq_reserve(struct kv_seq *s, int n_pos) {
    struct kv_pool *p = s->pool;
    if (!p || n_pos > s->n_ctx)
        return -1;
    int want = (n_pos + p->block_len - 1) / p->block_len - s->n_blocks;
    if (want <= 0)
        return 0;
    if (want > p->n_free)
        return -1;
    for (int i = 0; i < want; i++)
        s->table[s->n_blocks++] = kv_take(p);
    return 0;
}

int kv_seq_fork(struct kv_seq *s, const struct kv_seq *src, int n_pos) {
    struct kv_pool *p = s->pool;
    if (!p || src->pool != p || s->n_blocks || n_pos <= 0 || n_pos > s->n_ctx ||
        n_pos > kv_seq_positions(src))
        return -1;
    int full = n_pos / p->block_len, part = n_pos % p->block_len != 0;
    if (part && !p->n_free)
        return -1;
    for (int i = 0; i < full; i++) { /* never written again: held by both */
        int b = src->table[i];
        p->ref[b]++;
        s->table[s->n_blocks++] = b;
    }
    if (part) { /* the source writes its next positions here: a copy of its own */
        int b = kv_take(p);
        memcpy(p->mem + (size_t)b * p->block_bytes,
               p->mem + (size_t)src->table[full] * p->block_bytes, p->block_bytes);
        s->table[s->n_blocks++] = b;
    }
    s->n_published = 0; /* kv_seq_publish skips the blocks that hold a hash already */
    p->n_forked += (uint64_t)n_pos;
    return 0;
}

void kv_seq_release(struct kv_seq *s) {
    struct kv_pool *p = s->pool;
    while (p && s->n_blocks > 0) {
        int b = s->table[--s->n_blocks];
        if (--p->ref[b] != 0)
            continue;
        p->n_free++;
        /* Published: at the tail, the last to be taken; else at the head. `inward`
         * links point from that end into the list, `outward` ones toward that end. */
        bool tail = p->hash[b] != 0;
        int *end = tail ? &p->free_tail : &p->free_head;
        int *other = tail ? &p->free_head : &p->free_tail;
        int *inward = tail ? p->prev_free : p->next_free;
        int *outward = tail ? p->next_free : p->prev_free;
        outward[b] = -1;
        inward[b] = *end;
        if (*end != -1)
            outward[*end] = b;
        else
            *other = b;
        *end = b;
    }
    s->n_published = 0;
}

/* Hash of a block of tokens after the block whose hash is prev (FNV-1a, 64 bits);
 * never 0, which means "not published". */
static uint64_t kv_hash(uint64_t prev, const int *tokens, int n) {
    uint64_t h = 0xcbf29ce484222325ull ^ prev;
    for (int i = 0; i < n; i++) {
        uint32_t t = (uint32_t)tokens[i];
        for (int k = 0; k < 4; k++) {
            h ^= (t >> (8 * k)) & 0xffu;
            h *= 0x100000001b3ull;
        }
    }
    return h ? h : 1;
}

int kv_seq_match(struct kv_seq *s, const int *tokens, int n) {
    struct kv_pool *p = s->pool;
    if (!p || !p->cache || s->n_blocks)
        return 0;
    int bl = p->block_len;
    uint64_t prev = 0;
    while ((s->n_blocks + 1) * bl <= n && s->n_blocks < s->max_blocks) {
        const int *t = tokens + s->n_blocks * bl;
        uint64_t h = kv_hash(prev, t, bl);
        int found = -1;
        for (int b = 0; b < p->n_blocks && found < 0; b++)
            if (p->hash[b] == h &&
                !memcmp(p->tokens + (size_t)b * (size_t)bl, t, (size_t)bl * sizeof(*t)))
                found = b;
        if (found < 0)
            break;
        if (p->ref[found] == 0)
            kv_unlink(p, found);
        else
            p->ref[found]++;
        p->n_hits++;
        s->table[s->n_blocks++] = found;
        prev = h;
    }
    s->n_published = s->n_blocks;
    return s->n_blocks * bl;
}

void kv_seq_publish(struct kv_seq *s, const int *tokens, int n_eval) {
    struct kv_pool *p = s->pool;
    if (!p || !p->cache)
        return;
    int bl = p->block_len, full = MIN(n_eval / bl, s->n_blocks);
    for (int i = s->n_published; i < full; i++) {
        int b = s->table[i];
        uint64_t prev = i ? p->hash[s->table[i - 1]] : 0;
        if (!p->hash[b]) {
            p->hash[b] = kv_hash(prev, tokens + i * bl, bl);
            memcpy(p->tokens + (size_t)b * (size_t)bl, tokens + i * bl,
                   (size_t)bl * sizeof(*tokens));
        }
    }
    s->n_published = MAX(s->n_published, full);
}

void kv_seq_free(struct kv_seq *s) {
    kv_seq_release(s);
    port_free(s->table);
    memset(s, 0, sizeof(*s));
}

/* The first element of row (layer l, K or V, position pos) in the pool. */
static uint8_t *kv_at(const struct kv_seq *s, int l, int kind, int pos) {
    const struct kv_pool *p = s->pool;
    int b = s->table[pos / p->block_len];
    size_t row =
        ((size_t)l * 2u + (size_t)kind) * (size_t)p->block_len + (size_t)(pos % p->block_len);
    return p->mem + (size_t)b * p->block_bytes + row * (size_t)p->kv_dim * p->elt_bytes;
}

uint16_t kv_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, sizeof(x));
    uint32_t sign = (x >> 16) & 0x8000u, exp = (x >> 23) & 0xffu, man = x & 0x7fffffu;
    if (exp == 0xff)
        return (uint16_t)(sign | 0x7c00u | (man ? 0x200u | (man >> 13) : 0));
    int e = (int)exp - 127 + 15;
    if (e >= 31)
        return (uint16_t)(sign | 0x7c00u);
    uint32_t h, rem, half;
    if (e <= 0) { /* a half subnormal: (man | hidden bit) >> (14 - e), rounded */
        if (e < -10)
            return (uint16_t)sign;
        uint32_t m = man | 0x800000u;
        int shift = 14 - e;
        h = m >> shift;
        rem = m & ((1u << shift) - 1);
        half = 1u << (shift - 1);
    } else {
        h = ((uint32_t)e << 10) | (man >> 13);
        rem = man & 0x1fffu;
        half = 0x1000u;
    }
    if (rem > half || (rem == half && (h & 1)))
        h++; /* a carry into the exponent is still the right encoding (up to inf) */
    return (uint16_t)(sign | h);
}

static void kv_put_row(const struct kv_seq *s, uint8_t *dst, const float *src) {
    int n = s->pool->kv_dim;
    if (s->pool->type == KV_TYPE_F32) {
        memcpy(dst, src, (size_t)n * sizeof(float));
        return;
    }
    uint16_t *h = (uint16_t *)(void *)dst;
    for (int i = 0; i < n; i++)
        h[i] = kv_f32_to_f16(src[i]);
}

void kv_store(const struct kv_seq *s, int l, int pos, const float *k, const float *v) {
    kv_put_row(s, kv_at(s, l, 0, pos), k);
    kv_put_row(s, kv_at(s, l, 1, pos), v);
}

static const float *kv_get(const struct kv_seq *s, int l, int kind, int pos, int off, int n,
                           float *tmp) {
    const uint8_t *row = kv_at(s, l, kind, pos) + (size_t)off * s->pool->elt_bytes;
    if (s->pool->type == KV_TYPE_F32)
        return (const float *)(const void *)row;
    quant_dequant_f16(row, tmp, n);
    return tmp;
}

const float *kv_key(const struct kv_seq *s, int l, int pos, int off, int n, float *tmp) {
    return kv_get(s, l, 0, pos, off, n, tmp);
}

const float *kv_value(const struct kv_seq *s, int l, int pos, int off, int n, float *tmp) {
    return kv_get(s, l, 1, pos, off, n, tmp);
}

int kv_run(const struct kv_seq *s, int l, int pos, int end, int off, struct kv_run *r) {
    const struct kv_pool *p = s->pool;
    size_t skip = (size_t)off * p->elt_bytes;
    r->k = kv_at(s, l, 0, pos) + skip;
    r->v = kv_at(s, l, 1, pos) + skip;
    r->type = p->type;
    r->stride = p->kv_dim;
    r->n = MIN(end, (pos / p->block_len + 1) * p->block_len) - pos;
    return r->n;
}
