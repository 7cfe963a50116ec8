/*
 * The float half of the SSE2 and AVX2 dot products of Q4_1, Q5_0 and Q5_1
 * (wt_legacy_sse2.c, wt_legacy_avx2.c; include only from files compiled for SSE2):
 * block terms from exact integer block sums, four a vector, and the single-input
 * and batched kernels built from a set's unpacking and integer sums.
 *
 * A block's term is the scalar set's wt_block_scale(_m): (d * xd) * dot, plus
 * (m * xd) * sum for the types with an offset, on SSE lanes (mul then add, never
 * fused); every input adds its block terms to a float total one after the other in
 * block order. So an input's result has the same bits from the single-input and
 * the batched kernel, whatever its batch, in both sets, and on the host (whose
 * scalar float math is SSE too) the scalar set's bits.
 */
#ifndef CLLM_LLM_WT_LEGACY_SIMD_H
#define CLLM_LLM_WT_LEGACY_SIMD_H

#include <emmintrin.h>

#include "llm/ops.h"
#include "llm/quant.h"

/* Inputs per pass of the batched kernels, four a vector: their blocks stay in L1
 * while a pass walks the weight row once. */
#define WT_LEGACY_ROWS 16

/* The terms of four blocks (or of one block for four inputs), lane by lane: d and
 * m the weight scales and offsets, xd the input scales, dot and sum the exact
 * integer sums; offset: the type has the m term. */
static inline __m128 wt_block_terms4(bool offset, __m128 d, __m128 m, __m128 xd, __m128i dot,
                                     __m128i sum) {
    __m128 t = _mm_mul_ps(_mm_mul_ps(d, xd), _mm_cvtepi32_ps(dot));
    if (!offset)
        return t;
    return _mm_add_ps(t, _mm_mul_ps(_mm_mul_ps(m, xd), _mm_cvtepi32_ps(sum)));
}

/* xd[0..c), c <= 4, one a lane, the lanes past c 0; step floats apart. */
static inline __m128 wt_lanes4(const float *xd, int c, size_t step) {
    if (c == 4 && step == 1)
        return _mm_loadu_ps(xd);
    if (c == 4)
        return _mm_set_ps(xd[3 * step], xd[2 * step], xd[step], xd[0]);
    return _mm_set_ps(c > 3 ? xd[3 * step] : 0, c > 2 ? xd[2 * step] : 0, c > 1 ? xd[step] : 0,
                      xd[0]);
}

/* The field f (d or m) of unpacked blocks u[0..3] in lanes 0..3. */
#define WT_FIELD4(u, f) _mm_set_ps((u)[3].f, (u)[2].f, (u)[1].f, (u)[0].f)

/* wt_SET_sums4: the exact sums of c <= 4 pairs of a block and an input, pair j
 * block u[j * ustep] with the input values at x + j * xstep, lane j (lanes past c
 * 0); when sum is not NULL the inputs' sums likewise. Four blocks of one input
 * (ustep 1, xstep QUANT_QK) or one block of four inputs (ustep 0, xstep n). Built
 * from the set's wt_SET_madd (a block's exact int32 lanes in VEC_T, and its inputs'
 * sum) and wt_SET_lanes4 (lane j the lane sum of vector j). */
#define WT_LEGACY_DEFINE_SUMS4(SET, VEC_T, ZERO)                                                   \
    static inline __m128i wt_##SET##_sums4(const struct wt_##SET##_block *u, int ustep,            \
                                           const int16_t *x, size_t xstep, int c, __m128i *sum) {  \
        VEC_T dot[4], xs[4];                                                                       \
        if (c == 4) { /* the common case, written out: the sums stay in registers */               \
            dot[0] = wt_##SET##_madd(u[0].w, x, sum ? &xs[0] : NULL);                              \
            dot[1] = wt_##SET##_madd(u[ustep].w, x + xstep, sum ? &xs[1] : NULL);                  \
            dot[2] = wt_##SET##_madd(u[2 * ustep].w, x + 2 * xstep, sum ? &xs[2] : NULL);          \
            dot[3] = wt_##SET##_madd(u[3 * ustep].w, x + 3 * xstep, sum ? &xs[3] : NULL);          \
        } else {                                                                                   \
            for (int j = 0; j < 4; j++) {                                                          \
                dot[j] = xs[j] = ZERO();                                                           \
                if (j < c)                                                                         \
                    dot[j] = wt_##SET##_madd(u[j * ustep].w, x + j * xstep, sum ? &xs[j] : NULL);  \
            }                                                                                      \
        }                                                                                          \
        if (sum)                                                                                   \
            *sum = wt_##SET##_lanes4(xs);                                                          \
        return wt_##SET##_lanes4(dot);                                                             \
    }

/* The single-input dot (ops.h dot) of blocks BLOCK_T: four blocks a step, unpacked
 * into UNPACKED_T (fields d, m) by UNPACK(block, &u); SUMS4 (see the sets' *_sums4)
 * gives their exact sums with the input, lane j block j; their terms go to the
 * total one at a time. */
#define WT_LEGACY_DEFINE_DOT(NAME, BLOCK_T, UNPACKED_T, UNPACK, SUMS4, OFFSET)                     \
    float NAME(const void *wv, const void *xv, int n) {                                            \
        const BLOCK_T *b = wv;                                                                     \
        const struct ops_xq *x = xv;                                                               \
        const int nb = n / QUANT_QK;                                                               \
        float s = 0;                                                                               \
        for (int k = 0; k < nb; k += 4) {                                                          \
            const int kb = MIN(4, nb - k);                                                         \
            UNPACKED_T u[4];                                                                       \
            __m128i sum = _mm_setzero_si128();                                                     \
            float t[4];                                                                            \
            _mm_prefetch((const char *)(b + k) + OPS_PREFETCH_BYTES, _MM_HINT_T0);                 \
            for (int j = 0; j < 4; j++)                                                            \
                u[j].d = u[j].m = 0; /* the lanes past kb */                                       \
            for (int j = 0; j < kb; j++)                                                           \
                UNPACK(b + k + j, &u[j]);                                                          \
            __m128i dot = SUMS4(u, 1, x->q + k * QUANT_QK, QUANT_QK, kb, (OFFSET) ? &sum : NULL);  \
            __m128 xd = wt_lanes4(x->d + k, kb, 1);                                                \
            _mm_storeu_ps(                                                                         \
                t, wt_block_terms4(OFFSET, WT_FIELD4(u, d), WT_FIELD4(u, m), xd, dot, sum));       \
            for (int j = 0; j < kb; j++)                                                           \
                s += t[j];                                                                         \
        }                                                                                          \
        return s;                                                                                  \
    }

/* Blocks unpacked at a time by the batched kernels, then used for each input. */
#define WT_LEGACY_SPAN 8

/* The batched dot (ops.h dot_rows): per pass of up to WT_LEGACY_ROWS inputs, the
 * row's blocks unpacked WT_LEGACY_SPAN at a time, and their terms taken for four
 * inputs a vector (SUMS4 with one block and four inputs), added to the inputs'
 * totals in block order. */
#define WT_LEGACY_DEFINE_ROWS(NAME, BLOCK_T, UNPACKED_T, UNPACK, SUMS4, OFFSET)                    \
    void NAME(const void *wv, const void *xv, int nx, int n, float *out, int stride) {             \
        const BLOCK_T *b = wv;                                                                     \
        const struct ops_xq *x = xv;                                                               \
        const int nb = n / QUANT_QK;                                                               \
        for (int i0 = 0; i0 < nx; i0 += WT_LEGACY_ROWS) {                                          \
            const int m = MIN(WT_LEGACY_ROWS, nx - i0);                                            \
            const int16_t *xq = x->q + (size_t)i0 * (size_t)n;                                     \
            const float *xd = x->d + (size_t)i0 * (size_t)nb;                                      \
            __m128 total[WT_LEGACY_ROWS / 4];                                                      \
            float t[WT_LEGACY_ROWS];                                                               \
            for (int g = 0; g < WT_LEGACY_ROWS / 4; g++)                                           \
                total[g] = _mm_setzero_ps();                                                       \
            for (int k0 = 0; k0 < nb; k0 += WT_LEGACY_SPAN) {                                      \
                const int kn = MIN(WT_LEGACY_SPAN, nb - k0);                                       \
                UNPACKED_T u[WT_LEGACY_SPAN];                                                      \
                for (int j = 0; j < kn; j++) {                                                     \
                    _mm_prefetch((const char *)(b + k0 + j) + OPS_PREFETCH_BYTES, _MM_HINT_T0);    \
                    UNPACK(b + k0 + j, &u[j]);                                                     \
                }                                                                                  \
                for (int g = 0; g * 4 < m; g++) {                                                  \
                    const int c = MIN(4, m - 4 * g);                                               \
                    const int16_t *xg = xq + (size_t)g * 4 * n + k0 * QUANT_QK;                    \
                    const float *dg = xd + (size_t)g * 4 * nb + k0;                                \
                    __m128 acc = total[g];                                                         \
                    for (int j = 0; j < kn; j++) {                                                 \
                        __m128i sum = _mm_setzero_si128();                                         \
                        __m128i dot = SUMS4(u + j, 0, xg + j * QUANT_QK, (size_t)n, c,             \
                                            (OFFSET) ? &sum : NULL);                               \
                        __m128 d = _mm_set1_ps(u[j].d), mo = _mm_set1_ps(u[j].m);                  \
                        __m128 xdv = wt_lanes4(dg + j, c, (size_t)nb);                             \
                        acc = _mm_add_ps(acc, wt_block_terms4(OFFSET, d, mo, xdv, dot, sum));      \
                    }                                                                              \
                    total[g] = acc;                                                                \
                }                                                                                  \
            }                                                                                      \
            for (int g = 0; g < WT_LEGACY_ROWS / 4; g++)                                           \
                _mm_storeu_ps(t + 4 * g, total[g]);                                                \
            for (int i = 0; i < m; i++)                                                            \
                out[(size_t)(i0 + i) * stride] = t[i];                                             \
        }                                                                                          \
    }

/* A set's two kernels of type T (blocks BLOCK_T, OFFSET: with the m term):
 * wt_dot_T_SET and wt_dot_T_rows_SET, from its struct wt_SET_block, wt_SET_unpack_T
 * and wt_SET_sums4. */
#define WT_LEGACY_DEFINE_KERNELS(SET, T, BLOCK_T, OFFSET)                                          \
    WT_LEGACY_DEFINE_DOT(wt_dot_##T##_##SET, BLOCK_T, struct wt_##SET##_block,                     \
                         wt_##SET##_unpack_##T, wt_##SET##_sums4, OFFSET)                          \
    WT_LEGACY_DEFINE_ROWS(wt_dot_##T##_rows_##SET, BLOCK_T, struct wt_##SET##_block,               \
                          wt_##SET##_unpack_##T, wt_##SET##_sums4, OFFSET)

#endif
