/*
 * AVX2 dot product of BF16 weights (see wt_bf16.h): eight values a step widened to
 * float (zero-extended, shifted into the high halves), exact float products, added
 * in double to the SSE2 kernel's two lanes in its order, so both sets give the same
 * bits. Compiled with AVX2 into .text.avx2; entered only through the AVX2 row of the
 * weight-type table (ops_avx2.c).
 */
#include "llm/wt_avx2.h"

#include "llm/ops.h"
#include "llm/wt_bf16.h"

/* Eight bfloat16 values as floats (exact). */
static inline __m256 wt_avx2_bf16x8(const uint16_t *p) {
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

float wt_dot_bf16_avx2(const void *wv, const void *xv, int n) {
    const uint16_t *w = wv, *x = xv;
    __m128d acc = _mm_setzero_pd();
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 p = _mm256_mul_ps(wt_avx2_bf16x8(w + i), wt_avx2_bf16x8(x + i));
        __m256d d0 = _mm256_cvtps_pd(_mm256_castps256_ps128(p));
        __m256d d1 = _mm256_cvtps_pd(_mm256_extractf128_ps(p, 1));
        acc = _mm_add_pd(acc, _mm256_castpd256_pd128(d0));
        acc = _mm_add_pd(acc, _mm256_extractf128_pd(d0, 1));
        acc = _mm_add_pd(acc, _mm256_castpd256_pd128(d1));
        acc = _mm_add_pd(acc, _mm256_extractf128_pd(d1, 1));
    }
    double lanes[2];
    _mm_storeu_pd(lanes, acc);
    double s = lanes[0] + lanes[1];
    for (; i < n; i++) {
        uint32_t a = (uint32_t)w[i] << 16, b = (uint32_t)x[i] << 16;
        float fa, fb;
        memcpy(&fa, &a, 4);
        memcpy(&fb, &b, 4);
        float p = fa * fb;
        s += (double)p;
    }
    return (float)s;
}

WT_AVX2_END
