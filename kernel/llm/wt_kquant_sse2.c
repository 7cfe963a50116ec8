/*
 * SSE2 dot products of the K-quants Q2_K..Q6_K (see wt_kquant.h): each chunk's values
 * unpacked sixteen at a time and multiplied into exact integer sums, which
 * wt_k_scale turns into floats exactly as the scalar kernels do, so both sets give
 * the same bits. Compiled for SSE2 into .text.simd; entered only through the SSE2
 * rows of the weight-type table (ops_sse2.c).
 */
#include "llm/ops.h"
#include "llm/wt_kquant.h"
#include "llm/wt_sse2.h"

/* Bit `bit` of each of 16 bytes, moved to bit `to`. */
static inline __m128i wt_k_bits(__m128i v, int bit, int mask, int to) {
    __m128i b = _mm_and_si128(_mm_srl_epi16(v, _mm_cvtsi32_si128(bit)), _mm_set1_epi8((char)mask));
    return _mm_sll_epi16(b, _mm_cvtsi32_si128(to));
}

/* Integer sums of a Q4_K (qh NULL) or Q5_K super-block against its input. */
static void wt_k45_sums_sse2(const uint8_t *scales, const uint8_t *qs, const uint8_t *qh,
                             const int16_t *x, const int16_t *bsums, int32_t *dot, int32_t *mins) {
    const __m128i low = _mm_set1_epi8(15);
    *dot = *mins = 0;
    for (int j = 0; j < 8; j++) {
        int sc, m;
        wt_k_scale_min(scales, j, &sc, &m);
        const uint8_t *p = qs + (j / 2) * 32;
        __m128i v[2];
        for (int h = 0; h < 2; h++) {
            __m128i b = _mm_loadu_si128((const __m128i *)(p + 16 * h));
            v[h] = _mm_and_si128(j % 2 ? _mm_srli_epi16(b, 4) : b, low);
            if (qh)
                v[h] = _mm_or_si128(
                    v[h], wt_k_bits(_mm_loadu_si128((const __m128i *)(qh + 16 * h)), j, 1, 4));
        }
        __m128i s =
            _mm_add_epi32(wt_sse2_madd16(v[0], x + 32 * j), wt_sse2_madd16(v[1], x + 32 * j + 16));
        *dot += sc * wt_sse2_hsum(s);
        *mins += m * (bsums[2 * j] + bsums[2 * j + 1]);
    }
}

float wt_dot_q4_k_sse2(const void *w, const void *x, int n) {
    return wt_k45_dot(w, x, n, false, wt_k45_sums_sse2);
}

float wt_dot_q5_k_sse2(const void *w, const void *x, int n) {
    return wt_k45_dot(w, x, n, true, wt_k45_sums_sse2);
}

float wt_dot_q6_k_sse2(const void *wv, const void *xv, int n) {
    const struct wt_q6_k *b = wv;
    const struct ops_xk *x = xv;
    const __m128i low = _mm_set1_epi8(15), bias = _mm_set1_epi8(32);
    float s = 0;
    for (int k = 0; k < n / OPS_QK_K; k++) {
        const int16_t *xq = x->q + k * OPS_QK_K;
        int32_t dot = 0;
        for (int c = 0; c < 8; c++) {
            int h = c / 4, kk = c % 4, at = 128 * h + 32 * kk;
            const uint8_t *ql = b[k].ql + 64 * h + 32 * (kk & 1), *qh = b[k].qh + 32 * h;
            for (int half = 0; half < 2; half++) {
                __m128i l = _mm_loadu_si128((const __m128i *)(ql + 16 * half));
                l = _mm_and_si128(kk >= 2 ? _mm_srli_epi16(l, 4) : l, low);
                __m128i hb =
                    wt_k_bits(_mm_loadu_si128((const __m128i *)(qh + 16 * half)), 2 * kk, 3, 4);
                __m128i v = _mm_sub_epi8(_mm_or_si128(l, hb), bias);
                int32_t acc = wt_sse2_hsum(wt_sse2_madd16(v, xq + at + 16 * half));
                dot += b[k].scales[8 * h + half + 2 * kk] * acc;
            }
        }
        s += wt_k_scale(wt_sse2_half(b[k].d), 0.0f, x->d[k], dot, 0);
    }
    return s;
}

/* The 16 values of sub-block i of a Q2_K (hmask NULL) or Q3_K super-block. */
static inline __m128i wt_k23_sub_sse2(const uint8_t *qs, const uint8_t *hmask, int i) {
    int h = i / 8, j = (i % 8) / 2, t = i % 2;
    __m128i v = wt_k_bits(_mm_loadu_si128((const __m128i *)(qs + 32 * h + 16 * t)), 2 * j, 3, 0);
    if (!hmask)
        return v;
    __m128i hb = wt_k_bits(_mm_loadu_si128((const __m128i *)(hmask + 16 * t)), 4 * h + j, 1, 2);
    return _mm_sub_epi8(_mm_add_epi8(v, hb), _mm_set1_epi8(4));
}

float wt_dot_q2_k_sse2(const void *wv, const void *xv, int n) {
    const struct wt_q2_k *b = wv;
    const struct ops_xk *x = xv;
    float s = 0;
    for (int k = 0; k < n / OPS_QK_K; k++) {
        const int16_t *xq = x->q + k * OPS_QK_K, *bs = x->bsums + k * 16;
        int32_t dot = 0, mins = 0;
        for (int i = 0; i < 16; i++) {
            __m128i v = wt_k23_sub_sse2(b[k].qs, NULL, i);
            dot += (b[k].scales[i] & 15) * wt_sse2_hsum(wt_sse2_madd16(v, xq + 16 * i));
            mins += (b[k].scales[i] >> 4) * bs[i];
        }
        s += wt_k_scale(wt_sse2_half(b[k].d), wt_sse2_half(b[k].dmin), x->d[k], dot, mins);
    }
    return s;
}

float wt_dot_q3_k_sse2(const void *wv, const void *xv, int n) {
    const struct wt_q3_k *b = wv;
    const struct ops_xk *x = xv;
    float s = 0;
    for (int k = 0; k < n / OPS_QK_K; k++) {
        const int16_t *xq = x->q + k * OPS_QK_K;
        int32_t dot = 0;
        for (int i = 0; i < 16; i++) {
            __m128i v = wt_k23_sub_sse2(b[k].qs, b[k].hmask, i);
            dot += wt_k3_scale(b[k].scales, i) * wt_sse2_hsum(wt_sse2_madd16(v, xq + 16 * i));
        }
        s += wt_k_scale(wt_sse2_half(b[k].d), 0.0f, x->d[k], dot, 0);
    }
    return s;
}
