/*
 * SSE2 dot product of BF16 weights (see wt_bf16.h): eight values a step widened to
 * float by moving them into the high halves, exact float products, summed in two
 * double lanes. Compiled for SSE2 into .text.simd; entered only through the SSE2
 * row of the weight-type table (ops_sse2.c).
 */
#include <emmintrin.h>

#include "llm/ops.h"
#include "llm/wt_bf16.h"

float wt_dot_bf16_sse2(const void *wv, const void *xv, int n) {
    const uint16_t *w = wv, *x = xv;
    const __m128i zero = _mm_setzero_si128();
    __m128d acc = _mm_setzero_pd();
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i wb = _mm_loadu_si128((const __m128i *)(w + i));
        __m128i xb = _mm_loadu_si128((const __m128i *)(x + i));
        __m128 p0 = _mm_mul_ps(_mm_castsi128_ps(_mm_unpacklo_epi16(zero, wb)),
                               _mm_castsi128_ps(_mm_unpacklo_epi16(zero, xb)));
        __m128 p1 = _mm_mul_ps(_mm_castsi128_ps(_mm_unpackhi_epi16(zero, wb)),
                               _mm_castsi128_ps(_mm_unpackhi_epi16(zero, xb)));
        acc = _mm_add_pd(acc, _mm_cvtps_pd(p0));
        acc = _mm_add_pd(acc, _mm_cvtps_pd(_mm_movehl_ps(p0, p0)));
        acc = _mm_add_pd(acc, _mm_cvtps_pd(p1));
        acc = _mm_add_pd(acc, _mm_cvtps_pd(_mm_movehl_ps(p1, p1)));
    }
    double lanes[2];
    _mm_storeu_pd(lanes, acc);
    double s = lanes[0] + lanes[1];
    for (; i < n; i++) {
        uint32_t a = (uint32_t)w[i] << 16, b = (uint32_t)x[i] << 16;
        float fa, fb;
        memcpy(&fa, &a, 4);
        memcpy(&fb, &b, 4);
        s += (double)(fa * fb);
    }
    return (float)s;
}
