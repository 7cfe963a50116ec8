/*
 * Prompt attention benchmark driver (bench/att_block_bench.py): a prompt of N tokens
 * through model_forward_batch on a fresh F16 KV pool (the kernel's cache), ROUNDS
 * times; per round the prompt's milliseconds (port_time_us) and the milliseconds of
 * the batch profile's attention phase (ops_prof_get: the cycles charged to
 * OPS_PROF_ATTENTION over port_cycles_hz).
 *
 *   att_block_bench [--avx2] MODEL N ROUNDS   one line a round: "prompt MS attention MS"
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tests/host/host_cpu.h"
#include "llm/kv.h"
#include "llm/model.h"
#include "llm/ops.h"

/* One prompt of n tokens on its own F16 pool; -1 with a message on failure. */
static int bench_round(const struct model *m, int n, double *prompt_ms, double *att_ms) {
    const struct model_config *c = &m->cfg;
    int kv_dim = c->n_kv_heads * c->head_dim, ctx = n + 1;
    size_t bb = kv_block_bytes(c->n_layers, kv_dim, KV_TYPE_F16, KV_BLOCK_LEN);
    struct kv_pool pool = {0};
    struct model_state s;
    char err[160];
    if (kv_pool_init(&pool, c->n_layers, kv_dim, KV_TYPE_F16, KV_BLOCK_LEN,
                     (size_t)(ctx / KV_BLOCK_LEN + 1) * bb, err, sizeof(err)) ||
        model_state_init_pool(&s, m, ctx, &pool) || kv_seq_reserve(&s.kv, ctx)) {
        printf("error: no F16 KV pool for %d positions\n", ctx);
        return -1;
    }
    int *toks = malloc((size_t)n * sizeof(int));
    for (int i = 0; i < n; i++)
        toks[i] = 3 + (int)((1103515245u * (unsigned)i + 12345u) % (unsigned)(c->vocab_size - 3));
    struct ops_prof_phase before[OPS_PROF_COUNT], after[OPS_PROF_COUNT];
    ops_prof_get(before);
    uint64_t t0 = port_time_us();
    const float *lg = model_forward_batch(m, &s, toks, n, 0);
    uint64_t t1 = port_time_us();
    ops_prof_get(after);
    free(toks);
    if (!lg)
        printf("error: prompt refused: %s\n", s.error);
    *prompt_ms = (double)(t1 - t0) / 1000.0;
    *att_ms = (double)(after[OPS_PROF_ATTENTION].cycles - before[OPS_PROF_ATTENTION].cycles) *
              1000.0 / (double)port_cycles_hz();
    model_state_free(&s);
    kv_pool_free(&pool);
    return lg ? 0 : -1;
}

int main(int argc, char **argv) {
    bool avx2 = argc > 1 && !strcmp(argv[1], "--avx2");
    int a = 1 + avx2;
    const char *missing = avx2 ? host_cpu_avx2_missing() : NULL;
    if (argc - a != 3 || missing) {
        printf(missing ? "error: --avx2: this CPU lacks %s\n"
                       : "usage: att_block_bench [--avx2] MODEL N ROUNDS\n",
               missing);
        return missing ? 3 : 2;
    }
    ops_select_kernels(avx2 ? &ops_avx2 : &ops_sse2);
    size_t len;
    uint8_t *data = port_read_file(argv[a], &len);
    struct model m;
    char err[160] = "cannot read the file";
    if (!data || model_load(&m, data, len, err, sizeof(err))) {
        printf("error: %s: %s\n", argv[a], err);
        return 1;
    }
    int n = atoi(argv[a + 1]), rounds = atoi(argv[a + 2]), rc = 0;
    for (int r = 0; r < rounds && !rc; r++) {
        double p, at;
        rc = bench_round(&m, n, &p, &at);
        if (!rc)
            printf("prompt %.3f attention %.3f\n", p, at);
    }
    model_free(&m);
    port_free(data);
    return rc ? 1 : 0;
}
