/*
 * AVX2 dot products of Q4_1, Q5_0 and Q5_1 (see wt_legacy.h), single-input and
 * batched: each block's 32 values unpacked once into two vectors of int16 and
 * multiplied with the inputs into exact integer sums, four blocks of one input or
 * one block of four inputs at a time, which wt_legacy_simd.h turns into the block
 * terms and totals as for the SSE2 kernels (wt_legacy_sse2.c), so both sets give
 * the same bits. Compiled with AVX2 into .text.avx2; entered only through the AVX2
 * rows of the weight-type table (ops_avx2.c).
 */
#include "llm/wt_avx2.h"

#include "llm/ops.h"
#include "llm/wt_legacy.h"
#include "llm/wt_legacy_simd.h"

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

/* One block unpacked: its 32 values as int16 (w[0] values 0-15, w[1] 16-31), its
 * scale and its offset (Q5_0: none, 0). */
struct wt_avx2_block {
    __m256i w[2];
    float d, m;
};

/* The 32 values (signed bytes, value i in byte i) widened into u->w. */
static inline void wt_avx2_widen(__m256i v, struct wt_avx2_block *u) {
    u->w[0] = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(v));
    u->w[1] = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(v, 1));
}

static inline void wt_avx2_unpack_q4_1(const struct quant_q4_1 *b, struct wt_avx2_block *u) {
    wt_avx2_widen(wt_avx2_nibbles(b->qs), u);
    u->d = wt_avx2_half(b->d);
    u->m = wt_avx2_half(b->m);
}

static inline void wt_avx2_unpack_q5_0(const struct quant_q5_0 *b, struct wt_avx2_block *u) {
    __m256i v = _mm256_or_si256(wt_avx2_nibbles(b->qs), wt_avx2_fifth_bits(b->qh));
    wt_avx2_widen(_mm256_sub_epi8(v, _mm256_set1_epi8(16)), u);
    u->d = wt_avx2_half(b->d);
    u->m = 0;
}

static inline void wt_avx2_unpack_q5_1(const struct quant_q5_1 *b, struct wt_avx2_block *u) {
    wt_avx2_widen(_mm256_or_si256(wt_avx2_nibbles(b->qs), wt_avx2_fifth_bits(b->qh)), u);
    u->d = wt_avx2_half(b->d);
    u->m = wt_avx2_half(b->m);
}

/* Exact int32 lanes of the block's 32 values times its inputs x, and when sum is
 * not NULL those of the inputs' sum (two inputs added as int16 first: exact). */
static inline __m256i wt_avx2_madd(const __m256i *w, const int16_t *x, __m256i *sum) {
    __m256i x0 = _mm256_loadu_si256((const __m256i *)x);
    __m256i x1 = _mm256_loadu_si256((const __m256i *)(x + 16));
    __m256i s = _mm256_add_epi32(_mm256_madd_epi16(w[0], x0), _mm256_madd_epi16(w[1], x1));
    if (sum)
        *sum = _mm256_madd_epi16(_mm256_add_epi16(x0, x1), _mm256_set1_epi16(1));
    return s;
}

/* r[j] = the lane sum of s[j], j < 4 (block sums: exact). */
static inline __m128i wt_avx2_lanes4(const __m256i *s) {
    __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(s[0], s[1]), _mm256_hadd_epi32(s[2], s[3]));
    return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

WT_LEGACY_DEFINE_SUMS4(avx2, __m256i, _mm256_setzero_si256)

WT_LEGACY_DEFINE_KERNELS(avx2, q4_1, struct quant_q4_1, true)
WT_LEGACY_DEFINE_KERNELS(avx2, q5_0, struct quant_q5_0, false)
WT_LEGACY_DEFINE_KERNELS(avx2, q5_1, struct quant_q5_1, true)

WT_AVX2_END
