/*
 * SSE2 dot products of Q4_1, Q5_0 and Q5_1 (see wt_legacy.h), single-input and
 * batched: each block's values unpacked once and multiplied with the inputs into
 * exact integer sums, which wt_block_scale4 turns into floats four at a time (four
 * blocks of one input, or one block of four inputs) with the scalar kernels' float
 * operations; every input adds its block terms one after the other in block order,
 * so its result has the same bits in either kernel, whatever its batch. Compiled for
 * SSE2 into .text.simd; entered only through the SSE2 rows of the weight-type table
 * (ops_sse2.c).
 */
#include <emmintrin.h>

#include "llm/ops.h"
#include "llm/quant.h"
#include "llm/wt_legacy.h"
#include "llm/wt_sse2.h"

/* Inputs per pass of the batched kernels, four a vector: their blocks stay in L1
 * while the pass walks the row once. */
#define WT_SSE2_ROWS 16

/* Bits 0..15 of bits as sixteen bytes, 16 where the bit is set, else 0. */
static inline __m128i wt_sse2_fifth_bits(uint32_t bits) {
    const __m128i sel = _mm_set_epi8(-128, 64, 32, 16, 8, 4, 2, 1, -128, 64, 32, 16, 8, 4, 2, 1);
    const uint64_t spread = 0x0101010101010101ull;
    __m128i b = _mm_set_epi64x((long long)(((bits >> 8) & 0xff) * spread),
                               (long long)((bits & 0xff) * spread));
    __m128i set = _mm_cmpeq_epi8(_mm_and_si128(b, sel), sel);
    return _mm_and_si128(set, _mm_set1_epi8(16));
}

/* Values 0..15 and 16..31 of a 4-bit block (qs: 16 bytes) as two vectors of bytes. */
static inline void wt_sse2_nibbles(const uint8_t *qs, __m128i *lo, __m128i *hi) {
    const __m128i mask = _mm_set1_epi8(15);
    __m128i v = _mm_loadu_si128((const __m128i *)qs);
    *lo = _mm_and_si128(v, mask);
    *hi = _mm_and_si128(_mm_srli_epi16(v, 4), mask);
}

/* The 5-bit values of a block, minus bias. */
static inline void wt_sse2_q5(const uint8_t *qh4, const uint8_t *qs, int bias, __m128i *lo,
                              __m128i *hi) {
    uint32_t qh;
    memcpy(&qh, qh4, 4);
    wt_sse2_nibbles(qs, lo, hi);
    __m128i b = _mm_set1_epi8((char)bias);
    *lo = _mm_sub_epi8(_mm_or_si128(*lo, wt_sse2_fifth_bits(qh)), b);
    *hi = _mm_sub_epi8(_mm_or_si128(*hi, wt_sse2_fifth_bits(qh >> 16)), b);
}

/* One block unpacked: its 32 values as int16 (w[0] values 0-7, ..., w[3] 24-31), its
 * scale and its offset (Q5_0: none, 0). */
struct wt_sse2_block {
    __m128i w[4];
    float d, m;
};

/* Values 0-15 (lo) and 16-31 (hi), signed bytes, widened into u->w. */
static inline void wt_sse2_widen(__m128i lo, __m128i hi, struct wt_sse2_block *u) {
    u->w[0] = _mm_srai_epi16(_mm_unpacklo_epi8(lo, lo), 8);
    u->w[1] = _mm_srai_epi16(_mm_unpackhi_epi8(lo, lo), 8);
    u->w[2] = _mm_srai_epi16(_mm_unpacklo_epi8(hi, hi), 8);
    u->w[3] = _mm_srai_epi16(_mm_unpackhi_epi8(hi, hi), 8);
}

static inline void wt_sse2_unpack_q4_1(const struct quant_q4_1 *b, struct wt_sse2_block *u) {
    __m128i lo, hi;
    wt_sse2_nibbles(b->qs, &lo, &hi);
    wt_sse2_widen(lo, hi, u);
    u->d = wt_sse2_half(b->d);
    u->m = wt_sse2_half(b->m);
}

static inline void wt_sse2_unpack_q5_0(const struct quant_q5_0 *b, struct wt_sse2_block *u) {
    __m128i lo, hi;
    wt_sse2_q5(b->qh, b->qs, 16, &lo, &hi);
    wt_sse2_widen(lo, hi, u);
    u->d = wt_sse2_half(b->d);
    u->m = 0;
}

static inline void wt_sse2_unpack_q5_1(const struct quant_q5_1 *b, struct wt_sse2_block *u) {
    __m128i lo, hi;
    wt_sse2_q5(b->qh, b->qs, 0, &lo, &hi);
    wt_sse2_widen(lo, hi, u);
    u->d = wt_sse2_half(b->d);
    u->m = wt_sse2_half(b->m);
}

/* Exact int32 lanes of the block's 32 values times its inputs x, and when sum is
 * not NULL those of the inputs' sum (four inputs of at most 127 in magnitude added
 * as int16 first: exact). */
static inline __m128i wt_sse2_madd(const __m128i *w, const int16_t *x, __m128i *sum) {
    __m128i x0 = _mm_loadu_si128((const __m128i *)x);
    __m128i x1 = _mm_loadu_si128((const __m128i *)(x + 8));
    __m128i x2 = _mm_loadu_si128((const __m128i *)(x + 16));
    __m128i x3 = _mm_loadu_si128((const __m128i *)(x + 24));
    __m128i s = _mm_add_epi32(_mm_madd_epi16(w[0], x0), _mm_madd_epi16(w[1], x1));
    s = _mm_add_epi32(s, _mm_add_epi32(_mm_madd_epi16(w[2], x2), _mm_madd_epi16(w[3], x3)));
    if (sum) {
        __m128i t = _mm_add_epi16(_mm_add_epi16(x0, x1), _mm_add_epi16(x2, x3));
        *sum = _mm_madd_epi16(t, _mm_set1_epi16(1));
    }
    return s;
}

/* r[j] = the lane sum of s[j], j < 4 (block sums: exact). */
static inline __m128i wt_sse2_lanes4(const __m128i *s) {
    __m128i t0 = _mm_add_epi32(_mm_unpacklo_epi32(s[0], s[1]), _mm_unpackhi_epi32(s[0], s[1]));
    __m128i t1 = _mm_add_epi32(_mm_unpacklo_epi32(s[2], s[3]), _mm_unpackhi_epi32(s[2], s[3]));
    return _mm_add_epi32(_mm_unpacklo_epi64(t0, t1), _mm_unpackhi_epi64(t0, t1));
}

/* One input (x, xd from block 0) against blocks u[0..kb), kb <= 4: their terms, lane
 * j block j (lanes past kb 0). */
static inline __m128 wt_sse2_terms_blocks(const struct wt_sse2_block *u, int kb, bool offset,
                                          const int16_t *x, const float *xd) {
    __m128i dot[4], sum[4];
    for (int j = 0; j < 4; j++) {
        dot[j] = sum[j] = _mm_setzero_si128();
        if (j < kb)
            dot[j] = wt_sse2_madd(u[j].w, x + j * QUANT_QK, offset ? &sum[j] : NULL);
    }
    __m128 xdv =
        kb == 4 ? _mm_loadu_ps(xd) : _mm_set_ps(0, kb > 2 ? xd[2] : 0, kb > 1 ? xd[1] : 0, xd[0]);
    __m128 d = _mm_set_ps(u[3].d, u[2].d, u[1].d, u[0].d);
    if (!offset)
        return wt_block_scale4(d, xdv, wt_sse2_lanes4(dot));
    __m128 m = _mm_set_ps(u[3].m, u[2].m, u[1].m, u[0].m);
    return wt_block_scale4_m(d, m, xdv, wt_sse2_lanes4(dot), wt_sse2_lanes4(sum));
}

/* c <= 4 inputs (x, xd at block u: input i n and nb further on) against block u: its
 * terms, lane i input i (lanes past c 0). */
static inline __m128 wt_sse2_terms_inputs(const struct wt_sse2_block *u, bool offset,
                                          const int16_t *x, const float *xd, int c, int n, int nb) {
    __m128i dot[4], sum[4];
    for (int i = 0; i < 4; i++) {
        dot[i] = sum[i] = _mm_setzero_si128();
        if (i < c)
            dot[i] = wt_sse2_madd(u->w, x + (size_t)i * n, offset ? &sum[i] : NULL);
    }
    __m128 xdv = _mm_set_ps(c > 3 ? xd[3 * (size_t)nb] : 0, c > 2 ? xd[2 * (size_t)nb] : 0,
                            c > 1 ? xd[nb] : 0, xd[0]);
    __m128 d = _mm_set1_ps(u->d);
    if (!offset)
        return wt_block_scale4(d, xdv, wt_sse2_lanes4(dot));
    return wt_block_scale4_m(d, _mm_set1_ps(u->m), xdv, wt_sse2_lanes4(dot), wt_sse2_lanes4(sum));
}

/* The single-input dot: four blocks a step, their terms in one vector, added to the
 * float total one after the other. UNPACK fills a struct wt_sse2_block from a block;
 * OFFSET: the type has the m term. */
#define WT_SSE2_DEFINE_DOT(NAME, BLOCK_T, UNPACK, OFFSET)                                          \
    float NAME(const void *wv, const void *xv, int n) {                                            \
        const BLOCK_T *b = wv;                                                                     \
        const struct ops_xq *x = xv;                                                               \
        const int nb = n / QUANT_QK;                                                               \
        float s = 0;                                                                               \
        for (int k = 0; k < nb; k += 4) {                                                          \
            const int kb = MIN(4, nb - k);                                                         \
            struct wt_sse2_block u[4];                                                             \
            float t[4];                                                                            \
            _mm_prefetch((const char *)(b + k) + OPS_PREFETCH_BYTES, _MM_HINT_T0);                 \
            for (int j = 0; j < 4; j++)                                                            \
                u[j].d = u[j].m = 0; /* the lanes past kb */                                       \
            for (int j = 0; j < kb; j++)                                                           \
                UNPACK(b + k + j, &u[j]);                                                          \
            _mm_storeu_ps(t, wt_sse2_terms_blocks(u, kb, OFFSET, x->q + k * QUANT_QK, x->d + k));  \
            for (int j = 0; j < kb; j++)                                                           \
                s += t[j];                                                                         \
        }                                                                                          \
        return s;                                                                                  \
    }

/* The batched dot (ops.h dot_rows): per pass of up to WT_SSE2_ROWS inputs, each
 * block unpacked once and its terms taken for four inputs a vector, added to their
 * totals in block order. */
#define WT_SSE2_DEFINE_ROWS(NAME, BLOCK_T, UNPACK, OFFSET)                                         \
    void NAME(const void *wv, const void *xv, int nx, int n, float *out, int stride) {             \
        const BLOCK_T *b = wv;                                                                     \
        const struct ops_xq *x = xv;                                                               \
        const int nb = n / QUANT_QK;                                                               \
        for (int i0 = 0; i0 < nx; i0 += WT_SSE2_ROWS) {                                            \
            const int m = MIN(WT_SSE2_ROWS, nx - i0);                                              \
            const int16_t *xq = x->q + (size_t)i0 * (size_t)n;                                     \
            const float *xd = x->d + (size_t)i0 * (size_t)nb;                                      \
            __m128 total[WT_SSE2_ROWS / 4];                                                        \
            float t[WT_SSE2_ROWS];                                                                 \
            for (int g = 0; g < WT_SSE2_ROWS / 4; g++)                                             \
                total[g] = _mm_setzero_ps();                                                       \
            for (int k = 0; k < nb; k++) {                                                         \
                struct wt_sse2_block u;                                                            \
                _mm_prefetch((const char *)(b + k) + OPS_PREFETCH_BYTES, _MM_HINT_T0);             \
                UNPACK(b + k, &u);                                                                 \
                for (int g = 0; g * 4 < m; g++) {                                                  \
                    const size_t i = (size_t)g * 4;                                                \
                    __m128 s = wt_sse2_terms_inputs(&u, OFFSET, xq + i * n + k * QUANT_QK,         \
                                                    xd + i * nb + k, MIN(4, m - 4 * g), n, nb);    \
                    total[g] = _mm_add_ps(total[g], s);                                            \
                }                                                                                  \
            }                                                                                      \
            for (int g = 0; g < WT_SSE2_ROWS / 4; g++)                                             \
                _mm_storeu_ps(t + 4 * g, total[g]);                                                \
            for (int i = 0; i < m; i++)                                                            \
                out[(size_t)(i0 + i) * stride] = t[i];                                             \
        }                                                                                          \
    }

WT_SSE2_DEFINE_DOT(wt_dot_q4_1_sse2, struct quant_q4_1, wt_sse2_unpack_q4_1, true)
WT_SSE2_DEFINE_DOT(wt_dot_q5_0_sse2, struct quant_q5_0, wt_sse2_unpack_q5_0, false)
WT_SSE2_DEFINE_DOT(wt_dot_q5_1_sse2, struct quant_q5_1, wt_sse2_unpack_q5_1, true)
WT_SSE2_DEFINE_ROWS(wt_dot_q4_1_rows_sse2, struct quant_q4_1, wt_sse2_unpack_q4_1, true)
WT_SSE2_DEFINE_ROWS(wt_dot_q5_0_rows_sse2, struct quant_q5_0, wt_sse2_unpack_q5_0, false)
WT_SSE2_DEFINE_ROWS(wt_dot_q5_1_rows_sse2, struct quant_q5_1, wt_sse2_unpack_q5_1, true)
