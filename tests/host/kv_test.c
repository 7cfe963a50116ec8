/*
 * Host unit test of the KV pool (kernel/llm/kv.c), run by tests/test_kv_host.py.
 *
 *   kv_test f16 < BITS      one float per line as 8 hex digits (its bits); prints the
 *                           half kv_f32_to_f16 gives, 4 hex digits a line
 *   kv_test pool SEED OPS   OPS random reserves, releases, frees and forks over 12
 *                           sequences on a 40-block pool, with prefix caching (token
 *                           sequences from a few shared stems: new sequences match cached
 *                           blocks or fork another sequence, full blocks are published),
 *                           the debug walk (kv_pool_check) after each and a read-back of
 *                           every stored row; prints "ok N H E F" (refused reserves and
 *                           forks, hits, evictions, forks) or "error: <what>", exit 1
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm/kv.h"
#include "port.h"

#define KT_SEQS 12
#define KT_BLOCKS 40
#define KT_LAYERS 3
#define KT_DIM 8
#define KT_CTX 200

static uint32_t kt_rng(uint32_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* The tokens of sequence q: one of three stems, then its own tokens after 40. */
static int kt_token(int stem, int q, int pos) {
    return pos < 40 ? stem * 100 + pos : 1000 + q * 300 + pos;
}

/* The value stored for token t at (layer, kind, pos, i): a function of the token and
 * the position only, as K and V of a real prefix are; exact in F32. */
static float kt_value(int t, int l, int kind, int pos, int i) {
    return (float)((((t % 4096) * 7 + l) * 2 + kind) * 256 + pos) + (float)i / 16.0f;
}

static int kt_fail(const char *what, int op) {
    printf("error: op %d: %s\n", op, what);
    return 1;
}

static int kt_pool(uint32_t seed, int ops) {
    struct kv_pool p;
    struct kv_seq s[KT_SEQS];
    int filled[KT_SEQS] = {0}, stem[KT_SEQS] = {0}, refused = 0, forks = 0;
    int toks[KT_SEQS][KT_CTX];
    char err[160];
    size_t bb = kv_block_bytes(KT_LAYERS, KT_DIM, KV_TYPE_F32, KV_BLOCK_LEN);
    if (kv_pool_init(&p, KT_LAYERS, KT_DIM, KV_TYPE_F32, KV_BLOCK_LEN, KT_BLOCKS * bb, err,
                     sizeof(err)) ||
        p.n_blocks != KT_BLOCKS)
        return kt_fail(err, -1);
    for (int q = 0; q < KT_SEQS; q++)
        if (kv_seq_init(&s[q], &p, KT_CTX))
            return kt_fail("kv_seq_init", -1);
    for (int op = 0; op < ops; op++) {
        int q = (int)(kt_rng(&seed) % KT_SEQS), what = (int)(kt_rng(&seed) % 8);
        if (what < 6) { /* grow by 1..40 positions and write them */
            int r = (int)(kt_rng(&seed) % KT_SEQS);
            if (!s[q].n_blocks && r != q && filled[r] && kt_rng(&seed) % 2) {
                /* a new sequence forked from r: its tokens so far, then its own */
                int free_before = p.n_free;
                if (kv_seq_fork(&s[q], &s[r], filled[r])) {
                    if (p.n_free != free_before || s[q].n_blocks)
                        return kt_fail("a refused fork took blocks", op);
                    refused++;
                    continue;
                }
                for (int pos = 0; pos < KT_CTX; pos++)
                    toks[q][pos] = pos < filled[r] ? toks[r][pos] : kt_token(stem[r], q, pos);
                stem[q] = stem[r];
                filled[q] = filled[r];
                forks++;
            } else if (!s[q].n_blocks) { /* a new sequence: a stem, and what the cache has */
                stem[q] = (int)(kt_rng(&seed) % 3);
                for (int pos = 0; pos < KT_CTX; pos++)
                    toks[q][pos] = kt_token(stem[q], q, pos);
                filled[q] = kv_seq_match(&s[q], toks[q], KT_CTX);
            }
            int want = MIN(KT_CTX, filled[q] + 1 + (int)(kt_rng(&seed) % 40));
            int free_before = p.n_free, held = s[q].n_blocks;
            if (kv_seq_reserve(&s[q], want)) {
                refused++;
                if (p.n_free != free_before || s[q].n_blocks != held)
                    return kt_fail("a refused reserve took blocks", op);
            } else {
                float k[KT_DIM], v[KT_DIM];
                for (int pos = filled[q]; pos < want; pos++) {
                    for (int l = 0; l < KT_LAYERS; l++) {
                        for (int i = 0; i < KT_DIM; i++) {
                            k[i] = kt_value(toks[q][pos], l, 0, pos, i);
                            v[i] = kt_value(toks[q][pos], l, 1, pos, i);
                        }
                        kv_store(&s[q], l, pos, k, v);
                    }
                }
                filled[q] = want;
                kv_seq_publish(&s[q], toks[q], want);
            }
        } else if (what == 6) {
            kv_seq_release(&s[q]);
            filled[q] = 0;
        } else {
            kv_seq_free(&s[q]);
            filled[q] = 0;
            if (kv_seq_init(&s[q], &p, KT_CTX))
                return kt_fail("kv_seq_init", op);
        }
        if (kv_pool_check(&p, err, sizeof(err)))
            return kt_fail(err, op);
        long refs = 0, held = 0;
        for (int j = 0; j < KT_SEQS; j++)
            held += s[j].n_blocks;
        for (int b = 0; b < p.n_blocks; b++)
            refs += p.ref[b];
        if (held != refs)
            return kt_fail("blocks held by sequences != the sum of reference counts", op);
        float tmp[KT_DIM];
        for (int j = 0; j < KT_SEQS; j++)
            for (int pos = 0; pos < filled[j]; pos++)
                for (int l = 0; l < KT_LAYERS; l++) {
                    const float *k = kv_key(&s[j], l, pos, 2, KT_DIM - 2, tmp);
                    const float *v = kv_value(&s[j], l, pos, 0, KT_DIM, tmp);
                    if (k[0] != kt_value(toks[j][pos], l, 0, pos, 2) ||
                        v[KT_DIM - 1] != kt_value(toks[j][pos], l, 1, pos, KT_DIM - 1))
                        return kt_fail("a row read back differs (blocks shared?)", op);
                }
    }
    for (int q = 0; q < KT_SEQS; q++)
        kv_seq_free(&s[q]);
    if (p.n_free != p.n_blocks || kv_pool_check(&p, err, sizeof(err)))
        return kt_fail("blocks left after every sequence was freed", ops);
    printf("ok %d %llu %llu %d\n", refused, (unsigned long long)p.n_hits,
           (unsigned long long)p.n_evictions, forks);
    kv_pool_free(&p);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "f16")) {
        char line[64];
        while (fgets(line, sizeof(line), stdin)) {
            uint32_t bits = (uint32_t)strtoul(line, NULL, 16);
            float f;
            memcpy(&f, &bits, sizeof(f));
            printf("%04x\n", kv_f32_to_f16(f));
        }
        return 0;
    }
    if (argc >= 4 && !strcmp(argv[1], "pool"))
        return kt_pool((uint32_t)strtoul(argv[2], NULL, 10) | 1u, atoi(argv[3]));
    fprintf(stderr, "usage: kv_test f16 < BITS | kv_test pool SEED OPS\n");
    return 2;
}
