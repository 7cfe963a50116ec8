/*
 * SSE2 dot products of Q4_1, Q5_0 and Q5_1 (see wt_legacy.h): the block's values
 * unpacked and multiplied sixteen at a time into exact integer sums, which
 * wt_block_scale turns into floats exactly as the scalar kernels do, so both sets
 * give the same bits. Compiled for SSE2 into .text.simd; entered only through the
 * SSE2 rows of the weight-type table (ops_sse2.c).
 */
#include <emmintrin.h>

#include "llm/ops.h"
#include "llm/quant.h"
#include "llm/wt_legacy.h"
#include "llm/wt_sse2.h"

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

/* The block's dot with x (32 inputs) and, when sum is not NULL, the inputs' sum. */
static inline int32_t wt_sse2_block(__m128i lo, __m128i hi, const int16_t *x, int32_t *sum) {
    int32_t dot = wt_sse2_hsum(_mm_add_epi32(wt_sse2_madd16(lo, x), wt_sse2_madd16(hi, x + 16)));
    if (sum) {
        const __m128i one = _mm_set1_epi16(1);
        __m128i s = _mm_madd_epi16(_mm_loadu_si128((const __m128i *)x), one);
        for (int i = 8; i < QUANT_QK; i += 8)
            s = _mm_add_epi32(s, _mm_madd_epi16(_mm_loadu_si128((const __m128i *)(x + i)), one));
        *sum = wt_sse2_hsum(s);
    }
    return dot;
}

float wt_dot_q4_1_sse2(const void *wv, const void *xv, int n) {
    const struct quant_q4_1 *b = wv;
    const struct ops_xq *x = xv;
    float s = 0;
    for (int k = 0; k < n / QUANT_QK; k++) {
        __m128i lo, hi;
        int32_t sum;
        wt_sse2_nibbles(b[k].qs, &lo, &hi);
        int32_t dot = wt_sse2_block(lo, hi, x->q + k * QUANT_QK, &sum);
        s += wt_block_scale_m(wt_sse2_half(b[k].d), wt_sse2_half(b[k].m), x->d[k], dot, sum);
    }
    return s;
}

float wt_dot_q5_0_sse2(const void *wv, const void *xv, int n) {
    const struct quant_q5_0 *b = wv;
    const struct ops_xq *x = xv;
    float s = 0;
    for (int k = 0; k < n / QUANT_QK; k++) {
        __m128i lo, hi;
        wt_sse2_q5(b[k].qh, b[k].qs, 16, &lo, &hi);
        int32_t dot = wt_sse2_block(lo, hi, x->q + k * QUANT_QK, NULL);
        s += wt_block_scale(wt_sse2_half(b[k].d), x->d[k], dot);
    }
    return s;
}

float wt_dot_q5_1_sse2(const void *wv, const void *xv, int n) {
    const struct quant_q5_1 *b = wv;
    const struct ops_xq *x = xv;
    float s = 0;
    for (int k = 0; k < n / QUANT_QK; k++) {
        __m128i lo, hi;
        int32_t sum;
        wt_sse2_q5(b[k].qh, b[k].qs, 0, &lo, &hi);
        int32_t dot = wt_sse2_block(lo, hi, x->q + k * QUANT_QK, &sum);
        s += wt_block_scale_m(wt_sse2_half(b[k].d), wt_sse2_half(b[k].m), x->d[k], dot, sum);
    }
    return s;
}
