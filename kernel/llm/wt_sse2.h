/*
 * Small SSE2 helpers shared by the weight-type kernels (wt_*_sse2.c): include only
 * from files compiled for SSE2 (*_sse2.c, linked into .text.simd).
 */
#ifndef CLLM_LLM_WT_SSE2_H
#define CLLM_LLM_WT_SSE2_H

#include <emmintrin.h>

#include "llm/quant.h"

static inline float wt_sse2_half(uint16_t h) {
    return quant_f16_table ? quant_f16_table[h] : quant_f16_to_f32(h);
}

/* The sum of the four int32 lanes of s. */
static inline int32_t wt_sse2_hsum(__m128i s) {
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

/* Exact sum of 16 signed bytes v times 16 int16 inputs x, as int32 lanes. */
static inline __m128i wt_sse2_madd16(__m128i v, const int16_t *x) {
    __m128i v0 = _mm_srai_epi16(_mm_unpacklo_epi8(v, v), 8);
    __m128i v1 = _mm_srai_epi16(_mm_unpackhi_epi8(v, v), 8);
    __m128i s = _mm_madd_epi16(v0, _mm_loadu_si128((const __m128i *)x));
    return _mm_add_epi32(s, _mm_madd_epi16(v1, _mm_loadu_si128((const __m128i *)(x + 8))));
}

#endif
