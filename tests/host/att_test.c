/*
 * The attention kernels (ops.h ops_att_scores / ops_att_values, kernel/llm/ops_att.h) of
 * every kernel set the host runs, against the calls they replace: a score must be the
 * bits of the set's ops_dot of the query and the K row read back as floats, times the
 * scale; a weighted sum the bits of one ops_axpy a position, in order. Random rows of
 * F32 and of halves (random bit patterns: subnormals, inf and NaN included) at head
 * sizes with and without tails of 8 and 4, above the kernels' 256-column buffer, query
 * groups of 1 to 9 heads and runs of 1 to 17 positions; then every half once. Built
 * under ASan/UBSan by tests/test_att_host.py; prints "att_test: all passed".
 *
 * `att_test bench` (built -O2 by bench/att_bench.py) times one query row's attention
 * at 128 to 1024 positions both ways; see at_bench.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "host_cpu.h"
#include "host_expect.h"
#include "llm/ops.h"
#include "llm/quant.h"

#define AT_MAX_Q 9
#define AT_MAX_N 17
#define AT_MAX_HD 520
#define AT_PAD 5 /* elements of other heads on each side of a row's slice */

static uint32_t at_rng = 12345;

static uint32_t at_next(void) {
    at_rng ^= at_rng << 13;
    at_rng ^= at_rng >> 17;
    at_rng ^= at_rng << 5;
    return at_rng;
}

static float at_float(void) {
    return (float)((int)(at_next() % 20001) - 10000) / 5000.0f;
}

/* The same bits, or both NaN: which NaN's payload an operation passes on depends on
 * the order of its operands, which the compiler may swap. */
static bool at_same(const float *a, const float *b, int n) {
    for (int i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(float)) && !(a[i] != a[i] && b[i] != b[i]))
            return false;
    return true;
}

/* Row t of the run (stride elements apart, type), elements [0, hd) as floats. */
static void at_row(const void *base, int type, int stride, int t, int hd, float *out) {
    if (type == KV_TYPE_F32) {
        memcpy(out, (const float *)base + (size_t)t * (size_t)stride, (size_t)hd * sizeof(float));
        return;
    }
    const uint16_t *h = (const uint16_t *)base + (size_t)t * (size_t)stride;
    for (int i = 0; i < hd; i++)
        out[i] = quant_f16_to_f32(h[i]);
}

/* One case: nq queries of hd against a run of n rows of type; both kernels checked. */
static void at_case(const char *set, int type, int hd, int nq, int n, bool wild) {
    int stride = hd + 2 * AT_PAD, s_stride = n + 3;
    size_t elt = type == KV_TYPE_F32 ? sizeof(float) : sizeof(uint16_t);
    uint8_t *kv = malloc((size_t)n * (size_t)stride * elt);
    float *q = malloc((size_t)nq * (size_t)hd * sizeof(float));
    float *s = malloc((size_t)nq * (size_t)s_stride * sizeof(float));
    float *out = malloc((size_t)nq * (size_t)hd * sizeof(float));
    float *want = malloc((size_t)nq * (size_t)hd * sizeof(float));
    float *row = malloc((size_t)hd * sizeof(float));
    for (size_t i = 0; i < (size_t)n * (size_t)stride; i++) {
        float f = at_float();
        if (type == KV_TYPE_F32)
            memcpy(kv + i * elt, &f, sizeof(f));
        else {
            uint16_t h = wild ? (uint16_t)at_next() : kv_f32_to_f16(f);
            memcpy(kv + i * elt, &h, sizeof(h));
        }
    }
    for (int i = 0; i < nq * hd; i++)
        q[i] = out[i] = want[i] = at_float();
    for (int i = 0; i < nq * s_stride; i++)
        s[i] = at_float() * 0.1f;
    const void *base = kv + AT_PAD * elt;
    struct ops_att a = {q, out, nq, hd, stride, s_stride, 0.125f};

    float *w = malloc((size_t)nq * (size_t)s_stride * sizeof(float));
    memcpy(w, s, (size_t)nq * (size_t)s_stride * sizeof(float));
    ops_att_values(&a, type, base, n, w);
    for (int t = 0; t < n; t++) {
        at_row(base, type, stride, t, hd, row);
        for (int i = 0; i < nq; i++)
            ops_axpy(want + i * hd, w[i * s_stride + t], row, hd);
    }
    EXPECT(at_same(out, want, nq * hd), "%s %s values hd %d nq %d n %d: not axpy's bits", set,
           kv_type_name(type), hd, nq, n);

    ops_att_scores(&a, type, base, n, s);
    int bad = 0;
    for (int t = 0; t < n; t++) {
        at_row(base, type, stride, t, hd, row);
        for (int i = 0; i < nq; i++) {
            float e = ops_dot(q + i * hd, row, hd) * a.scale;
            bad += !at_same(&e, &s[i * s_stride + t], 1);
        }
    }
    for (int i = 0; i < nq; i++) /* the rest of each query's scores untouched */
        for (int t = n; t < s_stride; t++)
            bad += !at_same(&s[i * s_stride + t], &w[i * s_stride + t], 1);
    EXPECT(!bad, "%s %s scores hd %d nq %d n %d: %d not ops_dot's bits", set, kv_type_name(type),
           hd, nq, n, bad);
    free(kv);
    free(q);
    free(s);
    free(out);
    free(want);
    free(row);
    free(w);
}

/* Every half as one position's V row (weight 1, output 0) and K row (query 1). */
static void at_all_halves(const char *set) {
    enum { HD = 64 };
    static uint16_t v[65536];
    static float s[65536], want[65536];
    for (int i = 0; i < 65536; i++)
        v[i] = (uint16_t)i;
    float q[HD], out[HD], one = 1.0f;
    for (int i = 0; i < HD; i++)
        q[i] = 1.0f;
    struct ops_att a = {q, out, 1, HD, HD, 65536 / HD, 1.0f};
    int bad = 0;
    for (int t = 0; t < 65536 / HD; t++) {
        float row[HD], e[HD];
        memset(out, 0, sizeof(out));
        memset(e, 0, sizeof(e));
        ops_att_values(&a, KV_TYPE_F16, v + t * HD, 1, &one);
        at_row(v + t * HD, KV_TYPE_F16, HD, 0, HD, row);
        ops_axpy(e, 1.0f, row, HD);
        bad += !at_same(out, e, HD);
        want[t] = ops_dot(q, row, HD);
    }
    ops_att_scores(&a, KV_TYPE_F16, v, 65536 / HD, s);
    bad += !at_same(s, want, 65536 / HD);
    EXPECT(!bad, "%s: %d runs of every half differ from the table's floats", set, bad);
}

/* --- `att_test bench`: one query row's attention at a long context, the kernels
 * (as forward_heads runs them) against the loop they replace (one kv_key / ops_dot and
 * one kv_value / ops_axpy a position and query head, as forward_heads ran it before),
 * alternating, in thread CPU time so that other load on the machine counts less. */

struct at_shape {
    const char *name;
    int n_heads, n_kv_heads, hd;
};

static double at_cpu_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* Heads of one query row at position pos over seq's layer 0, the old way. */
static void at_loop(const struct at_shape *sh, const struct kv_seq *seq, const float *qv,
                    float *outv, float *att, float *tmp, int pos, int n_ctx) {
    int hd = sh->hd, rep = sh->n_heads / sh->n_kv_heads;
    for (int h = 0; h < sh->n_heads; h++) {
        const float *q = qv + h * hd;
        float *a = att + (size_t)h * (size_t)n_ctx, *out = outv + h * hd;
        int kvh = h / rep;
        for (int t = 0; t <= pos; t++)
            a[t] = ops_dot(q, kv_key(seq, 0, t, kvh * hd, hd, tmp), hd) * 0.125f;
        ops_softmax(a, pos + 1);
        memset(out, 0, (size_t)hd * sizeof(float));
        for (int t = 0; t <= pos; t++)
            ops_axpy(out, a[t], kv_value(seq, 0, t, kvh * hd, hd, tmp), hd);
    }
}

/* The same through the kernels, a KV head's group and a block's run a call. */
static void at_kernels(const struct at_shape *sh, const struct kv_seq *seq, const float *qv,
                       float *outv, float *att, int pos, int n_ctx) {
    int hd = sh->hd, rep = sh->n_heads / sh->n_kv_heads;
    for (int g = 0; g < sh->n_kv_heads; g++) {
        struct ops_att a = {
            qv + g * rep * hd, outv + g * rep * hd, rep, hd, sh->n_kv_heads * hd, n_ctx, 0.125f};
        float *s = att + (size_t)g * (size_t)rep * (size_t)n_ctx;
        struct kv_run run;
        for (int t = 0; t <= pos; t += run.n) {
            kv_run(seq, 0, t, pos + 1, g * hd, &run);
            ops_att_scores(&a, run.type, run.k, run.n, s + t);
        }
        for (int i = 0; i < rep; i++)
            ops_softmax(s + (size_t)i * (size_t)n_ctx, pos + 1);
        memset(a.out, 0, (size_t)rep * (size_t)hd * sizeof(float));
        for (int t = 0; t <= pos; t += run.n) {
            kv_run(seq, 0, t, pos + 1, g * hd, &run);
            ops_att_values(&a, run.type, run.v, run.n, s + t);
        }
    }
}

static int at_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Microseconds per call (median of 7 alternating rounds) of both ways at n_pos. */
static int at_bench_one(const struct at_shape *sh, int type, int n_pos, double *us_loop,
                        double *us_kernels) {
    enum { ROUNDS = 7 };
    int kv_dim = sh->n_kv_heads * sh->hd, qd = sh->n_heads * sh->hd;
    char err[120];
    struct kv_pool pool;
    struct kv_seq seq;
    size_t bb = kv_block_bytes(1, kv_dim, type, KV_BLOCK_LEN);
    if (kv_pool_init(&pool, 1, kv_dim, type, KV_BLOCK_LEN, (size_t)(n_pos / KV_BLOCK_LEN + 1) * bb,
                     err, sizeof(err)) ||
        kv_seq_init(&seq, &pool, n_pos) || kv_seq_reserve(&seq, n_pos))
        return -1;
    float *k = malloc((size_t)kv_dim * sizeof(float)), *v = malloc((size_t)kv_dim * sizeof(float));
    float *q = malloc((size_t)qd * sizeof(float)), *tmp = malloc((size_t)qd * sizeof(float));
    float *o1 = malloc((size_t)qd * sizeof(float)), *o2 = malloc((size_t)qd * sizeof(float));
    float *att = malloc((size_t)sh->n_heads * (size_t)n_pos * sizeof(float));
    for (int t = 0; t < n_pos; t++) {
        for (int i = 0; i < kv_dim; i++) {
            k[i] = at_float();
            v[i] = at_float();
        }
        kv_store(&seq, 0, t, k, v);
    }
    for (int i = 0; i < qd; i++)
        q[i] = at_float();
    /* Calls a round: about 20 ms of the old loop at this size. */
    double t0 = at_cpu_us();
    at_loop(sh, &seq, q, o1, att, tmp, n_pos - 1, n_pos);
    int calls = (int)MAX(1.0, 20000.0 / MAX(at_cpu_us() - t0, 1.0));
    double r_loop[ROUNDS], r_kernels[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        t0 = at_cpu_us();
        for (int c = 0; c < calls; c++)
            at_loop(sh, &seq, q, o1, att, tmp, n_pos - 1, n_pos);
        r_loop[r] = (at_cpu_us() - t0) / calls;
        t0 = at_cpu_us();
        for (int c = 0; c < calls; c++)
            at_kernels(sh, &seq, q, o2, att, n_pos - 1, n_pos);
        r_kernels[r] = (at_cpu_us() - t0) / calls;
    }
    EXPECT(at_same(o1, o2, qd), "bench %s %s %d: the kernels' output differs", sh->name,
           kv_type_name(type), n_pos);
    qsort(r_loop, ROUNDS, sizeof(double), at_cmp_double);
    qsort(r_kernels, ROUNDS, sizeof(double), at_cmp_double);
    *us_loop = r_loop[ROUNDS / 2];
    *us_kernels = r_kernels[ROUNDS / 2];
    free(k);
    free(v);
    free(q);
    free(tmp);
    free(o1);
    free(o2);
    free(att);
    kv_seq_free(&seq);
    kv_pool_free(&pool);
    return 0;
}

static int at_bench(void) {
    static const struct at_shape shapes[] = {
        {"stories110M", 12, 12, 64},
        {"SmolLM2-135M", 9, 3, 64},
        {"Gemma3-270M", 4, 1, 256},
    };
    static const int positions[] = {128, 512, 1024};
    const struct ops_kernels *sets[] = {&ops_sse2, &ops_avx2};
    int n_sets = host_cpu_avx2_missing() ? 1 : 2;
    printf("| shape (heads/KV heads x head_dim) | set | KV | positions | before us | after us | "
           "before / after |\n|---|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < ARRAY_SIZE(shapes); i++)
        for (int k = 0; k < n_sets; k++)
            for (int type = KV_TYPE_F16; type >= 0; type--)
                for (size_t p = 0; p < ARRAY_SIZE(positions); p++) {
                    const struct at_shape *sh = &shapes[i];
                    double a, b;
                    ops_select_kernels(sets[k]);
                    if (at_bench_one(sh, type, positions[p], &a, &b))
                        return 1;
                    printf("| %s (%d/%d x %d) | %s | %s | %d | %.1f | %.1f | %.2fx |\n", sh->name,
                           sh->n_heads, sh->n_kv_heads, sh->hd, sets[k]->name, kv_type_name(type),
                           positions[p], a, b, a / b);
                    fflush(stdout);
                }
    return failures ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "bench"))
        return at_bench();
    const struct ops_kernels *sets[] = {&ops_scalar, &ops_sse2, &ops_avx2};
    static const int hds[] = {2, 7, 8, 12, 20, 64, 72, 256, 260, 300, AT_MAX_HD};
    static const int nqs[] = {1, 3, AT_MAX_Q};
    static const int ns[] = {1, 5, 8, 16, AT_MAX_N};
    int n_sets = host_cpu_avx2_missing() ? 2 : 3;
    for (int k = 0; k < n_sets; k++) {
        ops_select_kernels(sets[k]);
        for (int type = 0; type < KV_TYPE_COUNT; type++)
            for (size_t h = 0; h < ARRAY_SIZE(hds); h++)
                for (size_t j = 0; j < ARRAY_SIZE(nqs); j++)
                    for (size_t m = 0; m < ARRAY_SIZE(ns); m++)
                        for (int wild = 0; wild <= (type == KV_TYPE_F16); wild++)
                            at_case(sets[k]->name, type, hds[h], nqs[j], ns[m], wild);
        at_all_halves(sets[k]->name);
    }
    printf("att_test: %d kernel sets%s\n", n_sets, n_sets < 3 ? " (no AVX2 on this CPU)" : "");
    if (failures)
        return 1;
    printf("att_test: all passed\n");
    return 0;
}
