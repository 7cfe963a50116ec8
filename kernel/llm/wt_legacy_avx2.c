/*
 * AVX2 dot products of Q4_1, Q5_0 and Q5_1 (see wt_legacy.h): each block's 32 values
 * unpacked into one vector of bytes and multiplied into exact integer sums, which
 * wt_block_scale turns into floats exactly as the scalar kernels do, block after
 * block, so the AVX2, SSE2 and scalar sets give the same bits. Compiled with AVX2
 * into .text.avx2; entered only through the AVX2 rows of the weight-type table
 * (ops_avx2.c).
 */
#include "llm/wt_avx2.h"

#include "llm/ops.h"
#include "llm/wt_legacy.h"

/* The 32 4-bit values of a block (qs: 16 bytes): value i in byte i. */
static inline __m256i wt_avx2_nibbles(const uint8_t *qs) {
    const __m128i mask = _mm_set1_epi8(15);
    __m128i v = _mm_loadu_si128((const __m128i *)qs);
    __m128i lo = _mm_and_si128(v, mask), hi = _mm_and_si128(_mm_srli_epi16(v, 4), mask);
    return _mm256_set_m128i(hi, lo);
}

/* Bit i of the 32 bits at qh4 as byte i: 16 where it is set, else 0. */
static inline __m256i wt_avx2_fifth_bits(const uint8_t *qh4) {
    uint32_t qh;
    memcpy(&qh, qh4, 4);
    const __m256i which =
        _mm256_set_epi64x(0x0303030303030303ll, 0x0202020202020202ll, 0x0101010101010101ll, 0);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    __m256i b = _mm256_shuffle_epi8(_mm256_set1_epi32((int)qh), which); /* byte i: qh byte i/8 */
    b = _mm256_cmpeq_epi8(_mm256_and_si256(b, bit), bit);
    return _mm256_and_si256(b, _mm256_set1_epi8(16));
}

/* The sum of the 32 inputs of a block. */
static inline int32_t wt_avx2_xsum(const int16_t *x) {
    const __m256i one = _mm256_set1_epi16(1);
    __m256i s = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)x), one);
    s = _mm256_add_epi32(s, _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(x + 16)), one));
    return wt_avx2_hsum(s);
}

float wt_dot_q4_1_avx2(const void *wv, const void *xv, int n) {
    const struct quant_q4_1 *b = wv;
    const struct ops_xq *x = xv;
    float s = 0;
    for (int k = 0; k < n / QUANT_QK; k++) {
        const int16_t *xq = x->q + k * QUANT_QK;
        int32_t dot = wt_avx2_hsum(wt_avx2_madd32(wt_avx2_nibbles(b[k].qs), xq));
        s += wt_block_scale_m(wt_avx2_half(b[k].d), wt_avx2_half(b[k].m), x->d[k], dot,
                              wt_avx2_xsum(xq));
    }
    return s;
}

float wt_dot_q5_0_avx2(const void *wv, const void *xv, int n) {
    const struct quant_q5_0 *b = wv;
    const struct ops_xq *x = xv;
    const __m256i bias = _mm256_set1_epi8(16);
    float s = 0;
    for (int k = 0; k < n / QUANT_QK; k++) {
        __m256i v = _mm256_or_si256(wt_avx2_nibbles(b[k].qs), wt_avx2_fifth_bits(b[k].qh));
        int32_t dot = wt_avx2_hsum(wt_avx2_madd32(_mm256_sub_epi8(v, bias), x->q + k * QUANT_QK));
        s += wt_block_scale(wt_avx2_half(b[k].d), x->d[k], dot);
    }
    return s;
}

float wt_dot_q5_1_avx2(const void *wv, const void *xv, int n) {
    const struct quant_q5_1 *b = wv;
    const struct ops_xq *x = xv;
    float s = 0;
    for (int k = 0; k < n / QUANT_QK; k++) {
        const int16_t *xq = x->q + k * QUANT_QK;
        __m256i v = _mm256_or_si256(wt_avx2_nibbles(b[k].qs), wt_avx2_fifth_bits(b[k].qh));
        int32_t dot = wt_avx2_hsum(wt_avx2_madd32(v, xq));
        s += wt_block_scale_m(wt_avx2_half(b[k].d), wt_avx2_half(b[k].m), x->d[k], dot,
                              wt_avx2_xsum(xq));
    }
    return s;
}

WT_AVX2_END
