/*
 * The float half of the SSE2 and AVX2 dot products of Q4_1, Q5_0 and Q5_1
 * (wt_legacy_sse2.c, wt_legacy_avx2.c; include only from files compiled for SSE2):
 * block terms from exact integer block sums, four a vector, and the single-input
 * and batched kernels built from a set's unpacking and integer sums.
 *
 * A block's term is the scalar set's wt_block_scale(_m): (d * xd) * dot, plus
 * (m * xd) * sum for the types with an offset, on SSE lanes (mul then add, never
 * fused); every input adds its block terms to a float total one after the other in
 * block order. So one input's result has the same bits in both kernels, whatever
 * its batch, in both sets, and on the host (whose scalar float math is SSE too)
 * the scalar set's bits.
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
    return _mm_set_ps(c > 3 ? xd[3 * step] : 0, c > 2 ? xd[2 * step] : 0, c > 1 ? xd[step] : 0,
                      xd[0]);
}

/* The field f (d or m) of unpacked blocks u[0..3] in lanes 0..3. */
#define WT_FIELD4(u, f) _mm_set_ps((u)[3].f, (u)[2].f, (u)[1].f, (u)[0].f)

/* The single-input dot (ops.h dot) of blocks BLOCK_T: four blocks a step, unpacked
 * into UNPACKED_T (fields d, m) by UNPACK(block, &u); DOTS4(u, kb, x, sum) gives
 * the exact sums of blocks u[0..kb) with their inputs x, lane j block j (and when
 * sum is not NULL the inputs' sums); their terms go to the total one at a time. */
#define WT_LEGACY_DEFINE_DOT(NAME, BLOCK_T, UNPACKED_T, UNPACK, DOTS4, OFFSET)                     \
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
            __m128i dot = DOTS4(u, kb, x->q + k * QUANT_QK, (OFFSET) ? &sum : NULL);               \
            __m128 xd = wt_lanes4(x->d + k, kb, 1);                                                \
            _mm_storeu_ps(                                                                         \
                t, wt_block_terms4(OFFSET, WT_FIELD4(u, d), WT_FIELD4(u, m), xd, dot, sum));       \
            for (int j = 0; j < kb; j++)                                                           \
                s += t[j];                                                                         \
        }                                                                                          \
        return s;                                                                                  \
    }

/* The batched dot (ops.h dot_rows): per pass of up to WT_LEGACY_ROWS inputs each
 * block unpacked once; INPUTS4(&u, x, c, n, sum) gives the exact sums of block u
 * with inputs 0..c) (x their values, n apart), lane i input i; the four inputs'
 * terms go to their totals. */
#define WT_LEGACY_DEFINE_ROWS(NAME, BLOCK_T, UNPACKED_T, UNPACK, INPUTS4, OFFSET)                  \
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
            for (int k = 0; k < nb; k++) {                                                         \
                UNPACKED_T u;                                                                      \
                _mm_prefetch((const char *)(b + k) + OPS_PREFETCH_BYTES, _MM_HINT_T0);             \
                UNPACK(b + k, &u);                                                                 \
                __m128 d = _mm_set1_ps(u.d), mo = _mm_set1_ps(u.m);                                \
                for (int g = 0; g * 4 < m; g++) {                                                  \
                    const size_t i = (size_t)g * 4;                                                \
                    const int c = MIN(4, m - 4 * g);                                               \
                    __m128i sum = _mm_setzero_si128();                                             \
                    __m128i dot =                                                                  \
                        INPUTS4(&u, xq + i * n + k * QUANT_QK, c, n, (OFFSET) ? &sum : NULL);      \
                    __m128 xdv = wt_lanes4(xd + i * nb + k, c, (size_t)nb);                        \
                    total[g] =                                                                     \
                        _mm_add_ps(total[g], wt_block_terms4(OFFSET, d, mo, xdv, dot, sum));       \
                }                                                                                  \
            }                                                                                      \
            for (int g = 0; g < WT_LEGACY_ROWS / 4; g++)                                           \
                _mm_storeu_ps(t + 4 * g, total[g]);                                                \
            for (int i = 0; i < m; i++)                                                            \
                out[(size_t)(i0 + i) * stride] = t[i];                                             \
        }                                                                                          \
    }

#endif
