/*
 * AVX2 dot products of the K-quants Q2_K..Q6_K (see wt_kquant.h): each chunk
 * of 32 values unpacked into one vector of bytes and multiplied into exact integer
 * sums, which wt_k_scale turns into floats exactly as the scalar kernels do, so the
 * AVX2, SSE2 and scalar sets give the same bits. The batched forms (dot_rows) decode
 * a super-block once for many inputs, as the SSE2 set's do, sixteen values a vector.
 * Compiled with AVX2 into .text.avx2; entered only through the AVX2 rows of the
 * weight-type table (ops_avx2.c).
 */
#include "llm/wt_avx2.h"

#include "llm/ops.h"
#include "llm/wt_kquant.h"

/* Bits `bit` (and up, under `mask`) of each of 32 bytes, moved to bit `to`. */
static inline __m256i wt_avx2_bits(__m256i v, int bit, int mask, int to) {
    __m256i b =
        _mm256_and_si256(_mm256_srl_epi16(v, _mm_cvtsi32_si128(bit)), _mm256_set1_epi8((char)mask));
    return _mm256_sll_epi16(b, _mm_cvtsi32_si128(to));
}

/* Integer sums of a Q4_K (qh NULL) or Q5_K super-block against its input (the
 * contract of wt_k45_sums): per chunk, sc times its dot in int32 lanes (below 2^31:
 * 32 values under 32 times inputs of 127 times scales under 64, eight chunks). */
static void wt_k45_sums_avx2(const uint8_t *scales, const uint8_t *qs, const uint8_t *qh,
                             const int16_t *x, const int16_t *bsums, int32_t *dot, int32_t *mins) {
    const __m256i low = _mm256_set1_epi8(15);
    __m256i hv = qh ? _mm256_loadu_si256((const __m256i *)qh) : _mm256_setzero_si256();
    __m256i acc = _mm256_setzero_si256();
    *mins = 0;
    for (int j = 0; j < 8; j++) {
        int sc, m;
        wt_k_scale_min(scales, j, &sc, &m);
        __m256i b = _mm256_loadu_si256((const __m256i *)(qs + (j / 2) * 32));
        __m256i v = _mm256_and_si256(j % 2 ? _mm256_srli_epi16(b, 4) : b, low);
        if (qh)
            v = _mm256_or_si256(v, wt_avx2_bits(hv, j, 1, 4));
        acc = _mm256_add_epi32(
            acc, _mm256_mullo_epi32(wt_avx2_madd32(v, x + 32 * j), _mm256_set1_epi32(sc)));
        *mins += m * (bsums[2 * j] + bsums[2 * j + 1]);
    }
    *dot = wt_avx2_hsum(acc);
}

float wt_dot_q4_k_avx2(const void *w, const void *x, int n) {
    return wt_k45_dot(w, x, n, false, wt_k45_sums_avx2);
}

float wt_dot_q5_k_avx2(const void *w, const void *x, int n) {
    return wt_k45_dot(w, x, n, true, wt_k45_sums_avx2);
}

/* Q6_K: chunk c (half h = c / 4, quarter kk = c % 4) holds values 128 h + 32 kk ..
 * +31, its two halves of 16 scaled by scales[8 h + 2 kk] and scales[8 h + 2 kk + 1];
 * per chunk the two halves' exact sums in int32 lanes, scaled, summed across chunks
 * (below 2^31: 16 values under 33 times 127 times 128, sixteen of them). */
float wt_dot_q6_k_avx2(const void *wv, const void *xv, int n) {
    const struct wt_q6_k *b = wv;
    const struct ops_xk *x = xv;
    const __m256i low = _mm256_set1_epi8(15), bias = _mm256_set1_epi8(32);
    float s = 0;
    for (int k = 0; k < n / OPS_QK_K; k++) {
        const int16_t *xq = x->q + k * OPS_QK_K;
        __m256i acc = _mm256_setzero_si256();
        for (int c = 0; c < 8; c++) {
            int h = c / 4, kk = c % 4, at = 128 * h + 32 * kk;
            __m256i l = _mm256_loadu_si256((const __m256i *)(b[k].ql + 64 * h + 32 * (kk & 1)));
            l = _mm256_and_si256(kk >= 2 ? _mm256_srli_epi16(l, 4) : l, low);
            __m256i hb =
                wt_avx2_bits(_mm256_loadu_si256((const __m256i *)(b[k].qh + 32 * h)), 2 * kk, 3, 4);
            __m256i v = _mm256_sub_epi8(_mm256_or_si256(l, hb), bias);
            __m256i v0 = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(v));
            __m256i v1 = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(v, 1));
            __m256i s0 = _mm256_madd_epi16(v0, _mm256_loadu_si256((const __m256i *)(xq + at)));
            __m256i s1 = _mm256_madd_epi16(v1, _mm256_loadu_si256((const __m256i *)(xq + at + 16)));
            const int8_t *sc = b[k].scales + 8 * h + 2 * kk;
            acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(s0, _mm256_set1_epi32(sc[0])));
            acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(s1, _mm256_set1_epi32(sc[1])));
        }
        s += wt_k_scale(wt_avx2_half(b[k].d), 0.0f, x->d[k], wt_avx2_hsum(acc), 0);
    }
    return s;
}

/* Sub-blocks i and i + 1 (i even) of a Q2_K (hmask NULL) or Q3_K super-block: their
 * 32 values, sub-block i in bytes 0-15 (they share h and j; t is 0 and 1). */
static inline __m256i wt_k23_pair_avx2(const uint8_t *qs, const uint8_t *hmask, int i) {
    int h = i / 8, j = (i % 8) / 2;
    __m256i v = wt_avx2_bits(_mm256_loadu_si256((const __m256i *)(qs + 32 * h)), 2 * j, 3, 0);
    if (!hmask)
        return v;
    __m256i hb = wt_avx2_bits(_mm256_loadu_si256((const __m256i *)hmask), 4 * h + j, 1, 2);
    return _mm256_sub_epi8(_mm256_add_epi8(v, hb), _mm256_set1_epi8(4));
}

/* The exact sums of sub-blocks i and i + 1 times their 16 inputs each, scaled by
 * sc0 and sc1, in int32 lanes (below 2^31: 16 values under 8 times 127 times 32 or
 * 64, sixteen sub-blocks). */
static inline __m256i wt_k23_pair_sum(__m256i v, const int16_t *x, int sc0, int sc1) {
    __m256i s0 = _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm256_castsi256_si128(v)),
                                   _mm256_loadu_si256((const __m256i *)x));
    __m256i s1 = _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm256_extracti128_si256(v, 1)),
                                   _mm256_loadu_si256((const __m256i *)(x + 16)));
    return _mm256_add_epi32(_mm256_mullo_epi32(s0, _mm256_set1_epi32(sc0)),
                            _mm256_mullo_epi32(s1, _mm256_set1_epi32(sc1)));
}

float wt_dot_q2_k_avx2(const void *wv, const void *xv, int n) {
    const struct wt_q2_k *b = wv;
    const struct ops_xk *x = xv;
    float s = 0;
    for (int k = 0; k < n / OPS_QK_K; k++) {
        const int16_t *xq = x->q + k * OPS_QK_K, *bs = x->bsums + k * 16;
        __m256i acc = _mm256_setzero_si256();
        int32_t mins = 0;
        for (int i = 0; i < 16; i += 2) {
            __m256i v = wt_k23_pair_avx2(b[k].qs, NULL, i);
            acc = _mm256_add_epi32(
                acc, wt_k23_pair_sum(v, xq + 16 * i, b[k].scales[i] & 15, b[k].scales[i + 1] & 15));
            mins += (b[k].scales[i] >> 4) * bs[i] + (b[k].scales[i + 1] >> 4) * bs[i + 1];
        }
        s += wt_k_scale(wt_avx2_half(b[k].d), wt_avx2_half(b[k].dmin), x->d[k], wt_avx2_hsum(acc),
                        mins);
    }
    return s;
}

float wt_dot_q3_k_avx2(const void *wv, const void *xv, int n) {
    const struct wt_q3_k *b = wv;
    const struct ops_xk *x = xv;
    float s = 0;
    for (int k = 0; k < n / OPS_QK_K; k++) {
        const int16_t *xq = x->q + k * OPS_QK_K;
        __m256i acc = _mm256_setzero_si256();
        for (int i = 0; i < 16; i += 2) {
            __m256i v = wt_k23_pair_avx2(b[k].qs, b[k].hmask, i);
            acc = _mm256_add_epi32(acc, wt_k23_pair_sum(v, xq + 16 * i, wt_k3_scale(b[k].scales, i),
                                                        wt_k3_scale(b[k].scales, i + 1)));
        }
        s += wt_k_scale(wt_avx2_half(b[k].d), 0.0f, x->d[k], wt_avx2_hsum(acc), 0);
    }
    return s;
}

/* One super-block decoded for the dot_rows kernels (as the SSE2 set's
 * wt_k_dec_sse2, 16 values a vector): its 256 values times their scales as int16,
 * w[t] holding values 16 t .. 16 t + 15, and the mins of its 16 input sums (zero
 * for Q6_K and Q3_K). The integer sums are the dot's, exactly. */
struct wt_k_dec_avx2 {
    __m256i w[16];
    __m256i mv;
};

/* 32 signed bytes v, the first 16 times sc0 and the others times sc1, as int16. */
static inline void wt_k_put32_avx2(__m256i *w, __m256i v, int sc0, int sc1) {
    w[0] = _mm256_mullo_epi16(_mm256_cvtepi8_epi16(_mm256_castsi256_si128(v)),
                              _mm256_set1_epi16((int16_t)sc0));
    w[1] = _mm256_mullo_epi16(_mm256_cvtepi8_epi16(_mm256_extracti128_si256(v, 1)),
                              _mm256_set1_epi16((int16_t)sc1));
}

/* Exact int32 lanes of a decoded block times one input's 256 values. */
static inline __m256i wt_k_dec_madd_avx2(const struct wt_k_dec_avx2 *dec, const int16_t *x) {
    __m256i a = _mm256_setzero_si256();
    for (int t = 0; t < 16; t++)
        a = _mm256_add_epi32(
            a, _mm256_madd_epi16(dec->w[t], _mm256_loadu_si256((const __m256i *)(x + 16 * t))));
    return a;
}

/* Lane j of the result: the sum of the lanes of the j-th argument (one block's
 * sums each, below 2^31). */
static inline __m128i wt_k_sum4_avx2(__m256i a, __m256i b, __m256i c, __m256i d) {
    __m128i a4 = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
    __m128i b4 = _mm_add_epi32(_mm256_castsi256_si128(b), _mm256_extracti128_si256(b, 1));
    __m128i c4 = _mm_add_epi32(_mm256_castsi256_si128(c), _mm256_extracti128_si256(c, 1));
    __m128i d4 = _mm_add_epi32(_mm256_castsi256_si128(d), _mm256_extracti128_si256(d, 1));
    __m128i ab = _mm_add_epi32(_mm_unpacklo_epi32(a4, b4), _mm_unpackhi_epi32(a4, b4));
    __m128i cd = _mm_add_epi32(_mm_unpacklo_epi32(c4, d4), _mm_unpackhi_epi32(c4, d4));
    return _mm_add_epi32(_mm_unpacklo_epi64(ab, cd), _mm_unpackhi_epi64(ab, cd));
}

/* The sums of a decoded block against m inputs (see wt_k_rows_fn): four inputs at a
 * time share each weight load, and their sums come out of one lane fold. */
static void wt_k_dec_sums_avx2(const struct wt_k_dec_avx2 *dec, const int16_t *x,
                               const int16_t *bsums, int m, int n, int32_t *dot, int32_t *mins) {
    const size_t bn = (size_t)n / 16;
    int i = 0;
    for (; i + 4 <= m; i += 4) {
        const int16_t *x0 = x + (size_t)i * n, *x1 = x0 + n, *x2 = x1 + n, *x3 = x2 + n;
        __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
        for (int t = 0; t < 16; t++) {
            __m256i w = dec->w[t];
            a0 = _mm256_add_epi32(
                a0, _mm256_madd_epi16(w, _mm256_loadu_si256((const __m256i *)(x0 + 16 * t))));
            a1 = _mm256_add_epi32(
                a1, _mm256_madd_epi16(w, _mm256_loadu_si256((const __m256i *)(x1 + 16 * t))));
            a2 = _mm256_add_epi32(
                a2, _mm256_madd_epi16(w, _mm256_loadu_si256((const __m256i *)(x2 + 16 * t))));
            a3 = _mm256_add_epi32(
                a3, _mm256_madd_epi16(w, _mm256_loadu_si256((const __m256i *)(x3 + 16 * t))));
        }
        _mm_storeu_si128((__m128i *)(dot + i), wt_k_sum4_avx2(a0, a1, a2, a3));
        const int16_t *bs = bsums + (size_t)i * bn;
        __m256i b0 = _mm256_madd_epi16(dec->mv, _mm256_loadu_si256((const __m256i *)bs));
        __m256i b1 = _mm256_madd_epi16(dec->mv, _mm256_loadu_si256((const __m256i *)(bs + bn)));
        __m256i b2 = _mm256_madd_epi16(dec->mv, _mm256_loadu_si256((const __m256i *)(bs + 2 * bn)));
        __m256i b3 = _mm256_madd_epi16(dec->mv, _mm256_loadu_si256((const __m256i *)(bs + 3 * bn)));
        _mm_storeu_si128((__m128i *)(mins + i), wt_k_sum4_avx2(b0, b1, b2, b3));
    }
    for (; i < m; i++) {
        dot[i] = wt_avx2_hsum(wt_k_dec_madd_avx2(dec, x + (size_t)i * n));
        mins[i] = wt_avx2_hsum(_mm256_madd_epi16(
            dec->mv, _mm256_loadu_si256((const __m256i *)(bsums + (size_t)i * bn))));
    }
}

/* A Q4_K (qh NULL) or Q5_K super-block decoded: chunk j's values times sc, its
 * two input sums' mins m. */
static void wt_k45_decode_avx2(const uint8_t *scales, const uint8_t *qs, const uint8_t *qh,
                               struct wt_k_dec_avx2 *dec) {
    const __m256i low = _mm256_set1_epi8(15);
    __m256i hv = qh ? _mm256_loadu_si256((const __m256i *)qh) : _mm256_setzero_si256();
    int16_t mv[16];
    for (int j = 0; j < 8; j++) {
        int sc, m;
        wt_k_scale_min(scales, j, &sc, &m);
        mv[2 * j] = mv[2 * j + 1] = (int16_t)m;
        __m256i b = _mm256_loadu_si256((const __m256i *)(qs + (j / 2) * 32));
        __m256i v = _mm256_and_si256(j % 2 ? _mm256_srli_epi16(b, 4) : b, low);
        if (qh)
            v = _mm256_or_si256(v, wt_avx2_bits(hv, j, 1, 4));
        wt_k_put32_avx2(dec->w + 2 * j, v, sc, sc);
    }
    dec->mv = _mm256_loadu_si256((const __m256i *)mv);
}

static void wt_q4_k_sums_avx2(const uint8_t *b, const int16_t *x, const int16_t *bsums, int m,
                              int n, int32_t *dot, int32_t *mins) {
    const struct wt_q4_k *q = (const struct wt_q4_k *)b;
    struct wt_k_dec_avx2 dec;
    wt_k45_decode_avx2(q->scales, q->qs, NULL, &dec);
    wt_k_dec_sums_avx2(&dec, x, bsums, m, n, dot, mins);
}

static void wt_q5_k_sums_avx2(const uint8_t *b, const int16_t *x, const int16_t *bsums, int m,
                              int n, int32_t *dot, int32_t *mins) {
    const struct wt_q5_k *q = (const struct wt_q5_k *)b;
    struct wt_k_dec_avx2 dec;
    wt_k45_decode_avx2(q->scales, q->qs, q->qh, &dec);
    wt_k_dec_sums_avx2(&dec, x, bsums, m, n, dot, mins);
}

/* Q6_K: chunk c's 32 values - 32, its halves times scales[8 h + 2 kk] and the next. */
static void wt_q6_k_sums_avx2(const uint8_t *bv, const int16_t *x, const int16_t *bsums, int m,
                              int n, int32_t *dot, int32_t *mins) {
    const struct wt_q6_k *b = (const struct wt_q6_k *)bv;
    const __m256i low = _mm256_set1_epi8(15), bias = _mm256_set1_epi8(32);
    struct wt_k_dec_avx2 dec;
    for (int c = 0; c < 8; c++) {
        int h = c / 4, kk = c % 4;
        __m256i l = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h + 32 * (kk & 1)));
        l = _mm256_and_si256(kk >= 2 ? _mm256_srli_epi16(l, 4) : l, low);
        __m256i hb =
            wt_avx2_bits(_mm256_loadu_si256((const __m256i *)(b->qh + 32 * h)), 2 * kk, 3, 4);
        const int8_t *sc = b->scales + 8 * h + 2 * kk;
        wt_k_put32_avx2(dec.w + 8 * h + 2 * kk, _mm256_sub_epi8(_mm256_or_si256(l, hb), bias),
                        sc[0], sc[1]);
    }
    dec.mv = _mm256_setzero_si256();
    wt_k_dec_sums_avx2(&dec, x, bsums, m, n, dot, mins);
}

/* Q2_K: sub-block i's values times scales[i] & 15, its input sum's min scales[i] >> 4. */
static void wt_q2_k_sums_avx2(const uint8_t *bv, const int16_t *x, const int16_t *bsums, int m,
                              int n, int32_t *dot, int32_t *mins) {
    const struct wt_q2_k *b = (const struct wt_q2_k *)bv;
    struct wt_k_dec_avx2 dec;
    for (int i = 0; i < 16; i += 2)
        wt_k_put32_avx2(dec.w + i, wt_k23_pair_avx2(b->qs, NULL, i), b->scales[i] & 15,
                        b->scales[i + 1] & 15);
    __m128i s = _mm_loadu_si128((const __m128i *)b->scales);
    dec.mv = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(s, 4), _mm_set1_epi8(15)));
    wt_k_dec_sums_avx2(&dec, x, bsums, m, n, dot, mins);
}

/* Q3_K: sub-block i's values times its signed 6-bit scale. */
static void wt_q3_k_sums_avx2(const uint8_t *bv, const int16_t *x, const int16_t *bsums, int m,
                              int n, int32_t *dot, int32_t *mins) {
    const struct wt_q3_k *b = (const struct wt_q3_k *)bv;
    struct wt_k_dec_avx2 dec;
    for (int i = 0; i < 16; i += 2)
        wt_k_put32_avx2(dec.w + i, wt_k23_pair_avx2(b->qs, b->hmask, i), wt_k3_scale(b->scales, i),
                        wt_k3_scale(b->scales, i + 1));
    dec.mv = _mm256_setzero_si256();
    wt_k_dec_sums_avx2(&dec, x, bsums, m, n, dot, mins);
}

void wt_dot_q4_k_rows_avx2(const void *w, const void *x, int nx, int n, float *out, int stride) {
    wt_k45_dot_rows(w, x, nx, n, out, stride, false, wt_q4_k_sums_avx2);
}

void wt_dot_q5_k_rows_avx2(const void *w, const void *x, int nx, int n, float *out, int stride) {
    wt_k45_dot_rows(w, x, nx, n, out, stride, true, wt_q5_k_sums_avx2);
}

void wt_dot_q6_k_rows_avx2(const void *w, const void *x, int nx, int n, float *out, int stride) {
    wt_k_rows(w, sizeof(struct wt_q6_k), offsetof(struct wt_q6_k, d), -1, x, nx, n, out, stride,
              wt_q6_k_sums_avx2);
}

void wt_dot_q2_k_rows_avx2(const void *w, const void *x, int nx, int n, float *out, int stride) {
    wt_k_rows(w, sizeof(struct wt_q2_k), offsetof(struct wt_q2_k, d),
              offsetof(struct wt_q2_k, dmin), x, nx, n, out, stride, wt_q2_k_sums_avx2);
}

void wt_dot_q3_k_rows_avx2(const void *w, const void *x, int nx, int n, float *out, int stride) {
    wt_k_rows(w, sizeof(struct wt_q3_k), offsetof(struct wt_q3_k, d), -1, x, nx, n, out, stride,
              wt_q3_k_sums_avx2);
}

WT_AVX2_END
