/*
 * SSE2 dot products of the K-quants Q2_K..Q6_K (see wt_kquant.h): each chunk's values
 * unpacked sixteen at a time and multiplied into exact integer sums, which
 * wt_k_scale turns into floats exactly as the scalar kernels do, so both sets give
 * the same bits. The batched forms (dot_rows, for prompts) decode a super-block once
 * into its values times their scales and take every input's sums from that
 * (wt_k_rows drives them). Compiled for SSE2 into .text.simd; entered only through
 * the SSE2 rows of the weight-type table (ops_sse2.c).
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

/* One super-block decoded for the dot_rows kernels: its 256 values times their
 * scales as int16, w[t] holding values 8 t .. 8 t + 7 (at most 32 * 128 in
 * magnitude, Q6_K's), and the mins of its 16 input sums as int16 (mv[0] sums 0-7,
 * mv[1] sums 8-15; zero for Q6_K and Q3_K). A block's integer sums are then one
 * multiply-add per 8 values and input: the same integers as the dot's, since
 * sc * sum(q * x) = sum((sc * q) * x) exactly (every sum below 2^31). */
struct wt_k_dec_sse2 {
    __m128i w[32];
    __m128i mv[2];
};

/* 16 signed bytes v times sc, as two vectors of 8 int16 (values 0-7, 8-15). */
static inline void wt_k_put16_sse2(__m128i *w, __m128i v, int sc) {
    const __m128i s = _mm_set1_epi16((int16_t)sc);
    w[0] = _mm_mullo_epi16(_mm_srai_epi16(_mm_unpacklo_epi8(v, v), 8), s);
    w[1] = _mm_mullo_epi16(_mm_srai_epi16(_mm_unpackhi_epi8(v, v), 8), s);
}

/* Exact int32 lanes of a decoded block times one input's 256 values. */
static inline __m128i wt_k_dec_madd_sse2(const struct wt_k_dec_sse2 *dec, const int16_t *x) {
    __m128i a = _mm_setzero_si128();
    for (int t = 0; t < 32; t++)
        a = _mm_add_epi32(a,
                          _mm_madd_epi16(dec->w[t], _mm_loadu_si128((const __m128i *)(x + 8 * t))));
    return a;
}

/* Exact int32 lanes of the mins times one input's 16 sums. */
static inline __m128i wt_k_dec_mins_sse2(const struct wt_k_dec_sse2 *dec, const int16_t *bs) {
    __m128i s = _mm_madd_epi16(dec->mv[0], _mm_loadu_si128((const __m128i *)bs));
    return _mm_add_epi32(s, _mm_madd_epi16(dec->mv[1], _mm_loadu_si128((const __m128i *)(bs + 8))));
}

/* Lane j of the result: the sum of the lanes of the j-th argument (one block's
 * sums each, below 2^31). */
static inline __m128i wt_k_sum4_sse2(__m128i a, __m128i b, __m128i c, __m128i d) {
    __m128i ab = _mm_add_epi32(_mm_unpacklo_epi32(a, b), _mm_unpackhi_epi32(a, b));
    __m128i cd = _mm_add_epi32(_mm_unpacklo_epi32(c, d), _mm_unpackhi_epi32(c, d));
    return _mm_add_epi32(_mm_unpacklo_epi64(ab, cd), _mm_unpackhi_epi64(ab, cd));
}

/* The sums of a decoded block against m inputs (see wt_k_rows_fn): four inputs at a
 * time share each weight load, and their sums come out of one lane fold. */
static void wt_k_dec_sums_sse2(const struct wt_k_dec_sse2 *dec, const int16_t *x,
                               const int16_t *bsums, int m, int n, int32_t *dot, int32_t *mins) {
    const size_t bn = (size_t)n / 16;
    int i = 0;
    for (; i + 4 <= m; i += 4) {
        const int16_t *x0 = x + (size_t)i * n, *x1 = x0 + n, *x2 = x1 + n, *x3 = x2 + n;
        __m128i a0 = _mm_setzero_si128(), a1 = a0, a2 = a0, a3 = a0;
        for (int t = 0; t < 32; t++) {
            __m128i w = dec->w[t];
            a0 = _mm_add_epi32(a0,
                               _mm_madd_epi16(w, _mm_loadu_si128((const __m128i *)(x0 + 8 * t))));
            a1 = _mm_add_epi32(a1,
                               _mm_madd_epi16(w, _mm_loadu_si128((const __m128i *)(x1 + 8 * t))));
            a2 = _mm_add_epi32(a2,
                               _mm_madd_epi16(w, _mm_loadu_si128((const __m128i *)(x2 + 8 * t))));
            a3 = _mm_add_epi32(a3,
                               _mm_madd_epi16(w, _mm_loadu_si128((const __m128i *)(x3 + 8 * t))));
        }
        _mm_storeu_si128((__m128i *)(dot + i), wt_k_sum4_sse2(a0, a1, a2, a3));
        const int16_t *bs = bsums + (size_t)i * bn;
        _mm_storeu_si128((__m128i *)(mins + i),
                         wt_k_sum4_sse2(wt_k_dec_mins_sse2(dec, bs),
                                        wt_k_dec_mins_sse2(dec, bs + bn),
                                        wt_k_dec_mins_sse2(dec, bs + 2 * bn),
                                        wt_k_dec_mins_sse2(dec, bs + 3 * bn)));
    }
    for (; i < m; i++) {
        dot[i] = wt_sse2_hsum(wt_k_dec_madd_sse2(dec, x + (size_t)i * n));
        mins[i] = wt_sse2_hsum(wt_k_dec_mins_sse2(dec, bsums + (size_t)i * bn));
    }
}

/* A Q4_K (qh NULL) or Q5_K super-block decoded: chunk j's values times sc, its
 * two input sums' mins m. */
static void wt_k45_decode_sse2(const uint8_t *scales, const uint8_t *qs, const uint8_t *qh,
                               struct wt_k_dec_sse2 *dec) {
    const __m128i low = _mm_set1_epi8(15);
    int16_t mv[16];
    for (int j = 0; j < 8; j++) {
        int sc, m;
        wt_k_scale_min(scales, j, &sc, &m);
        mv[2 * j] = mv[2 * j + 1] = (int16_t)m;
        const uint8_t *p = qs + (j / 2) * 32;
        for (int h = 0; h < 2; h++) {
            __m128i b = _mm_loadu_si128((const __m128i *)(p + 16 * h));
            __m128i v = _mm_and_si128(j % 2 ? _mm_srli_epi16(b, 4) : b, low);
            if (qh)
                v = _mm_or_si128(
                    v, wt_k_bits(_mm_loadu_si128((const __m128i *)(qh + 16 * h)), j, 1, 4));
            wt_k_put16_sse2(dec->w + 4 * j + 2 * h, v, sc);
        }
    }
    dec->mv[0] = _mm_loadu_si128((const __m128i *)mv);
    dec->mv[1] = _mm_loadu_si128((const __m128i *)(mv + 8));
}

static void wt_q4_k_sums_sse2(const uint8_t *b, const int16_t *x, const int16_t *bsums, int m,
                              int n, int32_t *dot, int32_t *mins) {
    const struct wt_q4_k *q = (const struct wt_q4_k *)b;
    struct wt_k_dec_sse2 dec;
    wt_k45_decode_sse2(q->scales, q->qs, NULL, &dec);
    wt_k_dec_sums_sse2(&dec, x, bsums, m, n, dot, mins);
}

static void wt_q5_k_sums_sse2(const uint8_t *b, const int16_t *x, const int16_t *bsums, int m,
                              int n, int32_t *dot, int32_t *mins) {
    const struct wt_q5_k *q = (const struct wt_q5_k *)b;
    struct wt_k_dec_sse2 dec;
    wt_k45_decode_sse2(q->scales, q->qs, q->qh, &dec);
    wt_k_dec_sums_sse2(&dec, x, bsums, m, n, dot, mins);
}

/* Q6_K: chunk c's two halves of 16 (values - 32) times their int8 scales. */
static void wt_q6_k_sums_sse2(const uint8_t *bv, const int16_t *x, const int16_t *bsums, int m,
                              int n, int32_t *dot, int32_t *mins) {
    const struct wt_q6_k *b = (const struct wt_q6_k *)bv;
    const __m128i low = _mm_set1_epi8(15), bias = _mm_set1_epi8(32);
    struct wt_k_dec_sse2 dec;
    for (int c = 0; c < 8; c++) {
        int h = c / 4, kk = c % 4, at = 128 * h + 32 * kk;
        const uint8_t *ql = b->ql + 64 * h + 32 * (kk & 1), *qh = b->qh + 32 * h;
        for (int half = 0; half < 2; half++) {
            __m128i l = _mm_loadu_si128((const __m128i *)(ql + 16 * half));
            l = _mm_and_si128(kk >= 2 ? _mm_srli_epi16(l, 4) : l, low);
            __m128i hb =
                wt_k_bits(_mm_loadu_si128((const __m128i *)(qh + 16 * half)), 2 * kk, 3, 4);
            wt_k_put16_sse2(dec.w + (at + 16 * half) / 8, _mm_sub_epi8(_mm_or_si128(l, hb), bias),
                            b->scales[8 * h + half + 2 * kk]);
        }
    }
    dec.mv[0] = dec.mv[1] = _mm_setzero_si128();
    wt_k_dec_sums_sse2(&dec, x, bsums, m, n, dot, mins);
}

/* Q2_K: sub-block i's values times scales[i] & 15, its input sum's min scales[i] >> 4. */
static void wt_q2_k_sums_sse2(const uint8_t *bv, const int16_t *x, const int16_t *bsums, int m,
                              int n, int32_t *dot, int32_t *mins) {
    const struct wt_q2_k *b = (const struct wt_q2_k *)bv;
    struct wt_k_dec_sse2 dec;
    for (int i = 0; i < 16; i++)
        wt_k_put16_sse2(dec.w + 2 * i, wt_k23_sub_sse2(b->qs, NULL, i), b->scales[i] & 15);
    __m128i mv = wt_k_bits(_mm_loadu_si128((const __m128i *)b->scales), 4, 15, 0);
    dec.mv[0] = _mm_unpacklo_epi8(mv, _mm_setzero_si128());
    dec.mv[1] = _mm_unpackhi_epi8(mv, _mm_setzero_si128());
    wt_k_dec_sums_sse2(&dec, x, bsums, m, n, dot, mins);
}

/* Q3_K: sub-block i's values times its signed 6-bit scale. */
static void wt_q3_k_sums_sse2(const uint8_t *bv, const int16_t *x, const int16_t *bsums, int m,
                              int n, int32_t *dot, int32_t *mins) {
    const struct wt_q3_k *b = (const struct wt_q3_k *)bv;
    struct wt_k_dec_sse2 dec;
    for (int i = 0; i < 16; i++)
        wt_k_put16_sse2(dec.w + 2 * i, wt_k23_sub_sse2(b->qs, b->hmask, i),
                        wt_k3_scale(b->scales, i));
    dec.mv[0] = dec.mv[1] = _mm_setzero_si128();
    wt_k_dec_sums_sse2(&dec, x, bsums, m, n, dot, mins);
}

void wt_dot_q4_k_rows_sse2(const void *w, const void *x, int nx, int n, float *out, int stride) {
    wt_k45_dot_rows(w, x, nx, n, out, stride, false, wt_q4_k_sums_sse2);
}

void wt_dot_q5_k_rows_sse2(const void *w, const void *x, int nx, int n, float *out, int stride) {
    wt_k45_dot_rows(w, x, nx, n, out, stride, true, wt_q5_k_sums_sse2);
}

void wt_dot_q6_k_rows_sse2(const void *w, const void *x, int nx, int n, float *out, int stride) {
    wt_k_rows(w, sizeof(struct wt_q6_k), offsetof(struct wt_q6_k, d), -1, x, nx, n, out, stride,
              wt_q6_k_sums_sse2);
}

void wt_dot_q2_k_rows_sse2(const void *w, const void *x, int nx, int n, float *out, int stride) {
    wt_k_rows(w, sizeof(struct wt_q2_k), offsetof(struct wt_q2_k, d),
              offsetof(struct wt_q2_k, dmin), x, nx, n, out, stride, wt_q2_k_sums_sse2);
}

void wt_dot_q3_k_rows_sse2(const void *w, const void *x, int nx, int n, float *out, int stride) {
    wt_k_rows(w, sizeof(struct wt_q3_k), offsetof(struct wt_q3_k, d), -1, x, nx, n, out, stride,
              wt_q3_k_sums_sse2);
}
