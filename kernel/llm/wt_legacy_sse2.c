/*
 * SSE2 dot products of Q4_1, Q5_0 and Q5_1 (see wt_legacy.h), single-input and
 * batched: each block's values unpacked once (into int16) and multiplied with the
 * inputs into exact integer sums, four blocks of one input or one block of four
 * inputs a vector, which wt_legacy_simd.h turns into the block terms and totals.
 * Compiled for SSE2 into .text.simd; entered only through the SSE2 rows of the
 * weight-type table (ops_sse2.c).
 */
#include <emmintrin.h>

#include "llm/ops.h"
#include "llm/quant.h"
#include "llm/wt_legacy.h"
#include "llm/wt_legacy_simd.h"
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

WT_LEGACY_DEFINE_SUMS4(sse2, __m128i, _mm_setzero_si128)

WT_LEGACY_DEFINE_KERNELS(sse2, q4_1, struct quant_q4_1, true)
WT_LEGACY_DEFINE_KERNELS(sse2, q5_0, struct quant_q5_0, false)
WT_LEGACY_DEFINE_KERNELS(sse2, q5_1, struct quant_q5_1, true)
