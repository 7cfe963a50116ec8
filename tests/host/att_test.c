/*
 * The attention kernels (ops.h ops_att_scores / ops_att_values, kernel/llm/ops_att.h) of
 * every kernel set the host runs, against the calls they replace: a score must be the
 * bits of the set's ops_dot of the query and the K row read back as floats, times the
 * scale; a weighted sum the bits of one ops_axpy a position, in order. Random rows of
 * F32 and of halves (random bit patterns: subnormals, inf and NaN included) at head
 * sizes with and without tails of 8 and 4, above the kernels' 256-column buffer, query
 * groups of 1 to 9 heads and runs of 1 to 17 positions; then every half once. Built
 * under ASan/UBSan by tests/test_att_host.py; prints "att_test: all passed".
 */
#include <stdlib.h>
#include <string.h>

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

int main(void) {
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
