/*
 * AVX2 dot products of the K-quants Q2_K..Q6_K (see wt_kquant.h) on the int8 copy of
 * the Q8_K input (struct ops_xk's q8). Each chunk of 32 values is unpacked into one
 * vector of unsigned bytes (the type's offset left out: Q6_K 0..63, Q3_K 0..7) and
 * multiplied with the input bytes by vpmaddubsw into int16 pair sums, then by the
 * broadcast int16 sub-block scale with vpmaddwd into int32 lanes; the offset comes
 * back exactly as offset times scale times the input's sums of 16 (bsums). The
 * integer sums are exact and wt_k_scale turns them into floats as the scalar kernels
 * do, so the AVX2, SSE2 and scalar sets give the same bits. The batched forms
 * (dot_rows) decode a super-block once (bytes, scale vectors, mins, offsets) for up to
 * WT_K_ROWS inputs. Compiled with AVX2 into .text.avx2; entered only through the AVX2
 * rows of the weight-type table (ops_avx2.c).
 *
 * vpmaddubsw saturates its pair sums at int16; the largest pair is two weights at the
 * type's top times two inputs of magnitude 127 (Q8_K: |q| <= 127): Q2_K 2 * 3 * 127 =
 * 762, Q3_K 2 * 7 * 127 = 1778, Q4_K 2 * 15 * 127 = 3810, Q5_K 2 * 31 * 127 = 7874,
 * Q6_K 2 * 63 * 127 = 16002, all below 32767, so none saturates.
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

/* 32 unsigned weight bytes u times the 32 int8 inputs at x: 16 exact int16 pair
 * sums (bounds in the note at the top). */
static inline __m256i wt_k_maddubs(__m256i u, const int8_t *x) {
    return _mm256_maddubs_epi16(u, _mm256_loadu_si256((const __m256i *)x));
}

/* The scale vector of a chunk of two sub-blocks of 16: sc16 holds 16 int16 scales
 * in sub-block order (lane h: sub-blocks 8 h .. 8 h + 7); the result has the scale of
 * sub-block 8 h + 2 j in its low 128 bits and that of 8 h + 2 j + 1 in its high
 * 128 bits, eight times each, lined up with vpmaddubsw's pair sums of the chunk. */
static inline __m256i wt_k_pair_scale(__m256i sc16, int h, int j) {
    __m256i lane = h ? _mm256_permute2x128_si256(sc16, sc16, 0x11)
                     : _mm256_permute2x128_si256(sc16, sc16, 0x00);
    /* byte pairs 2w, 2w + 1 pick int16 w */
    __m256i pick = _mm256_set_m128i(_mm_set1_epi16((int16_t)(0x0100 + 0x0202 * (2 * j + 1))),
                                    _mm_set1_epi16((int16_t)(0x0100 + 0x0202 * (2 * j))));
    return _mm256_shuffle_epi8(lane, pick);
}

/* Lanes 0 and 1 of the result: the sums of the eight lanes of a and of b. */
static inline __m128i wt_k_hsum2(__m256i a, __m256i b) {
    __m256i h = _mm256_hadd_epi32(a, b); /* a01 a23 b01 b23 | a45 a67 b45 b67 */
    __m128i t = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
    return _mm_hadd_epi32(t, t);
}

/* The eight 6-bit scales (bytes 0-7) and mins (bytes 8-15) of a Q4_K/Q5_K
 * super-block (wt_k_scale_min, four bytes at a time): scales[12] as three words
 * w0..w2, scales 0-3 = w0 & 63, mins 0-3 = w1 & 63, scales 4-7 = the low nibbles of
 * w2 with bits 6-7 of w0 above them, mins 4-7 = the high nibbles of w2 with bits 6-7
 * of w1 above them. */
static inline __m128i wt_k45_scale_min_avx2(const uint8_t *scales) {
    uint32_t w[3];
    memcpy(w, scales, 12);
    const uint32_t m6 = 0x3f3f3f3fu, m4 = 0x0f0f0f0fu, m2 = 0x03030303u;
    uint32_t sc_lo = w[0] & m6, mn_lo = w[1] & m6;
    uint32_t sc_hi = (w[2] & m4) | ((w[0] >> 6) & m2) << 4;
    uint32_t mn_hi = ((w[2] >> 4) & m4) | ((w[1] >> 6) & m2) << 4;
    return _mm_set_epi32((int)mn_hi, (int)mn_lo, (int)sc_hi, (int)sc_lo);
}

/* Chunks 2 p and 2 p + 1 (p < 4) of a Q4_K (has_qh false) or Q5_K super-block as
 * unsigned bytes (Q4_K 0..15, Q5_K 0..31): the low and high nibbles of qs + 32 p,
 * Q5_K adding bits 2 p and 2 p + 1 of hv (its qh loaded) as 16. */
static inline void wt_k45_pair_avx2(const uint8_t *qs, __m256i hv, bool has_qh, int p, __m256i *lo,
                                    __m256i *hi) {
    const __m256i low = _mm256_set1_epi8(15);
    __m256i b = _mm256_loadu_si256((const __m256i *)(qs + 32 * p));
    *lo = _mm256_and_si256(b, low);
    *hi = _mm256_and_si256(_mm256_srli_epi16(b, 4), low);
    if (has_qh) {
        *lo = _mm256_or_si256(*lo, wt_avx2_bits(hv, 2 * p, 1, 4));
        *hi = _mm256_or_si256(*hi, wt_avx2_bits(hv, 2 * p + 1, 1, 4));
    }
}

/* Scale j of the eight int16 scales sc (in both 128-bit lanes), in every int16 lane. */
static inline __m256i wt_k45_scale_at(__m256i sc, int j) {
    return _mm256_shuffle_epi8(sc, _mm256_set1_epi16((int16_t)(0x0100 + 0x0202 * j)));
}

/* The eight scales of sm (wt_k45_scale_min_avx2) as int16, in both lanes. */
static inline __m256i wt_k45_scales16(__m128i sm) {
    __m256i sc = _mm256_cvtepu8_epi16(sm);
    return _mm256_permute2x128_si256(sc, sc, 0x00);
}

/* The eight mins of sm as int16, each twice (min j at 2 j and 2 j + 1, against the
 * input's sums of 16). */
static inline __m256i wt_k45_mins16(__m128i sm) {
    return _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(sm, sm));
}

/* The sums of Q4_K (has_qh false) or Q5_K super-blocks k0 .. k0 + m - 1 of row w (the
 * contract of wt_k45_blocks8_fn): per chunk the pair sums times sc in int32 lanes (each
 * lane below 2^31: eight chunks of two pairs under 7874 times scales under 64); mins
 * from the input's sums of 16 against each chunk's min. */
static inline void wt_k45_blocks8_avx2(const uint8_t *w, bool has_qh, const struct ops_xk *x,
                                       int k0, int m, int32_t *dot, int32_t *mins, float *d,
                                       float *dmin) {
    const size_t bytes = has_qh ? sizeof(struct wt_q5_k) : sizeof(struct wt_q4_k);
    for (int i = 0; i < m; i++) {
        const int k = k0 + i;
        const uint8_t *b = w + (size_t)k * bytes, *qs = b + 16 + (has_qh ? 32 : 0);
        const int8_t *xq = x->q8 + (size_t)k * OPS_QK_K;
        __m256i hv =
            has_qh ? _mm256_loadu_si256((const __m256i *)(b + 16)) : _mm256_setzero_si256();
        __m128i sm = wt_k45_scale_min_avx2(b + 4);
        __m256i sc = wt_k45_scales16(sm);
        __m256i a0 = _mm256_setzero_si256(), a1 = a0;
        for (int p = 0; p < 4; p++) {
            __m256i lo, hi;
            wt_k45_pair_avx2(qs, hv, has_qh, p, &lo, &hi);
            a0 = _mm256_add_epi32(
                a0, _mm256_madd_epi16(wt_k_maddubs(lo, xq + 64 * p), wt_k45_scale_at(sc, 2 * p)));
            a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(wt_k_maddubs(hi, xq + 64 * p + 32),
                                                        wt_k45_scale_at(sc, 2 * p + 1)));
        }
        __m256i ms = _mm256_madd_epi16(
            wt_k45_mins16(sm), _mm256_loadu_si256((const __m256i *)(x->bsums + (size_t)k * 16)));
        __m128i t = wt_k_hsum2(_mm256_add_epi32(a0, a1), ms);
        dot[i] = _mm_cvtsi128_si32(t);
        mins[i] = _mm_extract_epi32(t, 1);
        const struct wt_q4_k *h = (const struct wt_q4_k *)b; /* d, dmin first in Q5_K too */
        d[i] = wt_avx2_half(h->d);
        dmin[i] = wt_avx2_half(h->dmin);
    }
}

static void wt_k4_blocks8_avx2(const uint8_t *w, const struct ops_xk *x, int k0, int m,
                               int32_t *dot, int32_t *mins, float *d, float *dmin) {
    wt_k45_blocks8_avx2(w, false, x, k0, m, dot, mins, d, dmin);
}

static void wt_k5_blocks8_avx2(const uint8_t *w, const struct ops_xk *x, int k0, int m,
                               int32_t *dot, int32_t *mins, float *d, float *dmin) {
    wt_k45_blocks8_avx2(w, true, x, k0, m, dot, mins, d, dmin);
}

float wt_dot_q4_k_avx2(const void *w, const void *x, int n) {
    return wt_k45_dot8(w, x, n, false, wt_k4_blocks8_avx2);
}

float wt_dot_q5_k_avx2(const void *w, const void *x, int n) {
    return wt_k45_dot8(w, x, n, true, wt_k5_blocks8_avx2);
}

/* Half h of a Q6_K super-block, values 128 h .. 128 h + 127, as four chunks of 32
 * unsigned bytes 0..63 (the stored values, before their - 32): chunk kk holds values
 * 128 h + 32 kk .., the low (kk < 2) or high nibbles of ql + 64 h + 32 (kk & 1) with
 * bits 2 kk, 2 kk + 1 of qh + 32 h above them. */
static inline void wt_k6_half_avx2(const struct wt_q6_k *b, int h, __m256i u[4]) {
    const __m256i low = _mm256_set1_epi8(15), top = _mm256_set1_epi8(0x30);
    __m256i ql0 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h));
    __m256i ql1 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h + 32));
    __m256i qh = _mm256_loadu_si256((const __m256i *)(b->qh + 32 * h));
    u[0] = _mm256_or_si256(_mm256_and_si256(ql0, low),
                           _mm256_and_si256(_mm256_slli_epi16(qh, 4), top));
    u[1] = _mm256_or_si256(_mm256_and_si256(ql1, low),
                           _mm256_and_si256(_mm256_slli_epi16(qh, 2), top));
    u[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low),
                           _mm256_and_si256(qh, top));
    u[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low),
                           _mm256_and_si256(_mm256_srli_epi16(qh, 2), top));
}

/* Q6_K times one input, streamed (no decoded block): value l + 32 kk of half h has
 * scale 8 h + 2 kk + l / 16, so each chunk is a pair of sub-blocks in order and takes
 * wt_k_pair_scale(sc16, h, kk); the offset - 32 comes back as - 32 * scale * bsum
 * (|32 * scale| <= 4096 fits int16). Lanes below 2^31: eight chunks of two pairs under
 * 16002 times |scale| <= 128, and two sums under 2032 times 4096. */
float wt_dot_q6_k_avx2(const void *wv, const void *xv, int n) {
    const struct wt_q6_k *b = wv;
    const struct ops_xk *x = xv;
    float s = 0;
    for (int k = 0; k < n / OPS_QK_K; k++) {
        const int8_t *xq = x->q8 + (size_t)k * OPS_QK_K;
        __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b[k].scales));
        __m256i ov = _mm256_mullo_epi16(sc16, _mm256_set1_epi16(-32));
        __m256i a0 =
            _mm256_madd_epi16(ov, _mm256_loadu_si256((const __m256i *)(x->bsums + 16 * k)));
        __m256i a1 = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            __m256i u[4];
            wt_k6_half_avx2(&b[k], h, u);
            const int8_t *xh = xq + 128 * h;
            a0 = _mm256_add_epi32(
                a0, _mm256_madd_epi16(wt_k_maddubs(u[0], xh), wt_k_pair_scale(sc16, h, 0)));
            a1 = _mm256_add_epi32(
                a1, _mm256_madd_epi16(wt_k_maddubs(u[1], xh + 32), wt_k_pair_scale(sc16, h, 1)));
            a0 = _mm256_add_epi32(
                a0, _mm256_madd_epi16(wt_k_maddubs(u[2], xh + 64), wt_k_pair_scale(sc16, h, 2)));
            a1 = _mm256_add_epi32(
                a1, _mm256_madd_epi16(wt_k_maddubs(u[3], xh + 96), wt_k_pair_scale(sc16, h, 3)));
        }
        s += wt_k_scale(wt_avx2_half(b[k].d), 0.0f, x->d[k], wt_avx2_hsum(_mm256_add_epi32(a0, a1)),
                        0);
    }
    return s;
}

/* Sub-block i of a Q2_K (hmask NULL) or Q3_K super-block and the next (i even, the
 * pair h = i / 8, j = (i % 8) / 2): their 32 values as unsigned bytes, sub-block i in
 * bytes 0-15 (Q2_K: 0..3; Q3_K 0..7, the stored value before its - 4). */
static inline __m256i wt_k23_pair_avx2(const uint8_t *qs, const uint8_t *hmask, int i) {
    int h = i / 8, j = (i % 8) / 2;
    __m256i v = wt_avx2_bits(_mm256_loadu_si256((const __m256i *)(qs + 32 * h)), 2 * j, 3, 0);
    if (!hmask)
        return v;
    return _mm256_or_si256(
        v, wt_avx2_bits(_mm256_loadu_si256((const __m256i *)hmask), 4 * h + j, 1, 2));
}

/* The 16 signed scales s_i - 32 of a Q3_K super-block (wt_k3_scale, four bytes at a
 * time) as bytes in sub-block order: scales[0..7] as words a0, a1 and scales[8..11]
 * as w; the low 4 bits of scales 0-7 are the low nibbles of a0, a1 and of 8-15 their
 * high nibbles; the high 2 bits of scales 4 g .. 4 g + 3 are bits 2 g, 2 g + 1 of
 * the bytes of w. */
static inline __m128i wt_k3_scales_avx2(const uint8_t *scales) {
    uint32_t a[2], w;
    memcpy(a, scales, 8);
    memcpy(&w, scales + 8, 4);
    const uint32_t m4 = 0x0f0f0f0fu, m2 = 0x03030303u;
    uint32_t o0 = (a[0] & m4) | (w & m2) << 4;
    uint32_t o1 = (a[1] & m4) | ((w >> 2) & m2) << 4;
    uint32_t o2 = ((a[0] >> 4) & m4) | ((w >> 4) & m2) << 4;
    uint32_t o3 = ((a[1] >> 4) & m4) | ((w >> 6) & m2) << 4;
    return _mm_sub_epi8(_mm_set_epi32((int)o3, (int)o2, (int)o1, (int)o0), _mm_set1_epi8(32));
}

/* One super-block decoded for the dot_rows kernels: chunk c (values 32 c .. 32 c +
 * 31) as unsigned bytes u[c] and the int16 scale of each of its pair sums sc[c]; per
 * sub-block of 16 the min (mv, against the input's sums of 16 into mins; zero for
 * Q6_K and Q3_K) and the offset times the scale (ov, into dot; zero for Q4_K, Q5_K
 * and Q2_K). The integer sums are the dot's, exactly. */
struct wt_k_dec_avx2 {
    __m256i u[8];
    __m256i sc[8];
    __m256i mv, ov;
};

/* A Q6_K, Q2_K or Q3_K super-block's scale vectors from its 16 int16 scales. */
static inline void wt_k_dec_scales(struct wt_k_dec_avx2 *dec, __m256i sc16) {
    for (int h = 0; h < 2; h++)
        for (int j = 0; j < 4; j++)
            dec->sc[4 * h + j] = wt_k_pair_scale(sc16, h, j);
}

/* Exact int32 lanes of a decoded block times one input's 256 int8 values and 16 sums. */
static inline __m256i wt_k_dec_dot(const struct wt_k_dec_avx2 *dec, const int8_t *x,
                                   const int16_t *bsums) {
    __m256i a = _mm256_madd_epi16(dec->ov, _mm256_loadu_si256((const __m256i *)bsums));
    for (int c = 0; c < 8; c++)
        a = _mm256_add_epi32(a, _mm256_madd_epi16(wt_k_maddubs(dec->u[c], x + 32 * c), dec->sc[c]));
    return a;
}

/* The exact dot and mins of a decoded block against one input (lanes 0 and 1). */
static inline __m128i wt_k_dec_one(const struct wt_k_dec_avx2 *dec, const int8_t *x,
                                   const int16_t *bsums) {
    __m256i mins = _mm256_madd_epi16(dec->mv, _mm256_loadu_si256((const __m256i *)bsums));
    return wt_k_hsum2(wt_k_dec_dot(dec, x, bsums), mins);
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

/* The sums of a decoded block against m inputs (see wt_k_rows8_fn): four inputs at a
 * time, their sums out of one lane fold. */
static void wt_k_dec_sums_avx2(const struct wt_k_dec_avx2 *dec, const int8_t *x,
                               const int16_t *bsums, int m, int n, int32_t *dot, int32_t *mins) {
    const size_t bn = (size_t)n / 16;
    int i = 0;
    for (; i + 4 <= m; i += 4) {
        const int8_t *xi = x + (size_t)i * n;
        const int16_t *bs = bsums + (size_t)i * bn;
        __m256i a0 = wt_k_dec_dot(dec, xi, bs);
        __m256i a1 = wt_k_dec_dot(dec, xi + n, bs + bn);
        __m256i a2 = wt_k_dec_dot(dec, xi + 2 * (size_t)n, bs + 2 * bn);
        __m256i a3 = wt_k_dec_dot(dec, xi + 3 * (size_t)n, bs + 3 * bn);
        _mm_storeu_si128((__m128i *)(dot + i), wt_k_sum4_avx2(a0, a1, a2, a3));
        __m256i b0 = _mm256_madd_epi16(dec->mv, _mm256_loadu_si256((const __m256i *)bs));
        __m256i b1 = _mm256_madd_epi16(dec->mv, _mm256_loadu_si256((const __m256i *)(bs + bn)));
        __m256i b2 = _mm256_madd_epi16(dec->mv, _mm256_loadu_si256((const __m256i *)(bs + 2 * bn)));
        __m256i b3 = _mm256_madd_epi16(dec->mv, _mm256_loadu_si256((const __m256i *)(bs + 3 * bn)));
        _mm_storeu_si128((__m128i *)(mins + i), wt_k_sum4_avx2(b0, b1, b2, b3));
    }
    for (; i < m; i++) {
        __m128i t = wt_k_dec_one(dec, x + (size_t)i * n, bsums + (size_t)i * bn);
        dot[i] = _mm_cvtsi128_si32(t);
        mins[i] = _mm_extract_epi32(t, 1);
    }
}

/* A Q4_K (qh NULL) or Q5_K super-block decoded: chunk j with scale sc_j throughout,
 * its two sums of 16 against min m_j. */
static inline void wt_k45_decode_avx2(const uint8_t *scales, const uint8_t *qs, const uint8_t *qh,
                                      struct wt_k_dec_avx2 *dec) {
    __m256i hv = qh ? _mm256_loadu_si256((const __m256i *)qh) : _mm256_setzero_si256();
    __m128i sm = wt_k45_scale_min_avx2(scales);
    __m256i sc = wt_k45_scales16(sm);
    for (int p = 0; p < 4; p++) {
        wt_k45_pair_avx2(qs, hv, qh != NULL, p, &dec->u[2 * p], &dec->u[2 * p + 1]);
        dec->sc[2 * p] = wt_k45_scale_at(sc, 2 * p);
        dec->sc[2 * p + 1] = wt_k45_scale_at(sc, 2 * p + 1);
    }
    dec->mv = wt_k45_mins16(sm);
    dec->ov = _mm256_setzero_si256();
}

static void wt_q4_k_sums_avx2(const uint8_t *b, const int8_t *x, const int16_t *bsums, int m, int n,
                              int32_t *dot, int32_t *mins) {
    const struct wt_q4_k *q = (const struct wt_q4_k *)b;
    struct wt_k_dec_avx2 dec;
    wt_k45_decode_avx2(q->scales, q->qs, NULL, &dec);
    wt_k_dec_sums_avx2(&dec, x, bsums, m, n, dot, mins);
}

static void wt_q5_k_sums_avx2(const uint8_t *b, const int8_t *x, const int16_t *bsums, int m, int n,
                              int32_t *dot, int32_t *mins) {
    const struct wt_q5_k *q = (const struct wt_q5_k *)b;
    struct wt_k_dec_avx2 dec;
    wt_k45_decode_avx2(q->scales, q->qs, q->qh, &dec);
    wt_k_dec_sums_avx2(&dec, x, bsums, m, n, dot, mins);
}

/* Q6_K decoded (as wt_dot_q6_k_avx2 takes it). */
static inline void wt_k6_decode_avx2(const struct wt_q6_k *b, struct wt_k_dec_avx2 *dec) {
    __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b->scales));
    wt_k6_half_avx2(b, 0, dec->u);
    wt_k6_half_avx2(b, 1, dec->u + 4);
    wt_k_dec_scales(dec, sc16);
    dec->mv = _mm256_setzero_si256();
    dec->ov = _mm256_mullo_epi16(sc16, _mm256_set1_epi16(-32));
}

/* Q2_K: sub-block i's values times scales[i] & 15, its input sum's min scales[i] >> 4. */
static inline void wt_k2_decode_avx2(const struct wt_q2_k *b, struct wt_k_dec_avx2 *dec) {
    __m128i s8 = _mm_loadu_si128((const __m128i *)b->scales);
    for (int i = 0; i < 16; i += 2)
        dec->u[i / 2] = wt_k23_pair_avx2(b->qs, NULL, i);
    wt_k_dec_scales(dec, _mm256_cvtepu8_epi16(_mm_and_si128(s8, _mm_set1_epi8(15))));
    dec->mv = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(s8, 4), _mm_set1_epi8(15)));
    dec->ov = _mm256_setzero_si256();
}

/* Q3_K: sub-block i's values times its signed 6-bit scale; the offset - 4 comes back
 * as - 4 * scale * bsum. */
static inline void wt_k3_decode_avx2(const struct wt_q3_k *b, struct wt_k_dec_avx2 *dec) {
    __m256i sc16 = _mm256_cvtepi8_epi16(wt_k3_scales_avx2(b->scales));
    for (int i = 0; i < 16; i += 2)
        dec->u[i / 2] = wt_k23_pair_avx2(b->qs, b->hmask, i);
    wt_k_dec_scales(dec, sc16);
    dec->mv = _mm256_setzero_si256();
    dec->ov = _mm256_mullo_epi16(sc16, _mm256_set1_epi16(-4));
}

/* The one-input dot of a row of Q2_K or Q3_K (blocks of type T, DECODE its
 * decoder, DMIN block b[k]'s dmin as a float expression): each super-block decoded,
 * then its sums; the float steps are the scalar kernel's. */
#define WT_K_DOT_AVX2(name, T, DECODE, DMIN)                                                       \
    float name(const void *wv, const void *xv, int n) {                                            \
        const T *b = wv;                                                                           \
        const struct ops_xk *x = xv;                                                               \
        struct wt_k_dec_avx2 dec;                                                                  \
        float s = 0;                                                                               \
        for (int k = 0; k < n / OPS_QK_K; k++) {                                                   \
            DECODE(&b[k], &dec);                                                                   \
            __m128i t = wt_k_dec_one(&dec, x->q8 + k * OPS_QK_K, x->bsums + 16 * k);               \
            s += wt_k_scale(wt_avx2_half(b[k].d), DMIN, x->d[k], _mm_cvtsi128_si32(t),             \
                            _mm_extract_epi32(t, 1));                                              \
        }                                                                                          \
        return s;                                                                                  \
    }

WT_K_DOT_AVX2(wt_dot_q2_k_avx2, struct wt_q2_k, wt_k2_decode_avx2, wt_avx2_half(b[k].dmin))
WT_K_DOT_AVX2(wt_dot_q3_k_avx2, struct wt_q3_k, wt_k3_decode_avx2, 0.0f)

/* The batched sums (wt_k_rows8_fn) of Q6_K, Q2_K and Q3_K: the block decoded once. */
#define WT_K_SUMS_AVX2(name, T, DECODE)                                                            \
    static void name(const uint8_t *b, const int8_t *x, const int16_t *bsums, int m, int n,        \
                     int32_t *dot, int32_t *mins) {                                                \
        struct wt_k_dec_avx2 dec;                                                                  \
        DECODE((const T *)b, &dec);                                                                \
        wt_k_dec_sums_avx2(&dec, x, bsums, m, n, dot, mins);                                       \
    }

WT_K_SUMS_AVX2(wt_q6_k_sums_avx2, struct wt_q6_k, wt_k6_decode_avx2)
WT_K_SUMS_AVX2(wt_q2_k_sums_avx2, struct wt_q2_k, wt_k2_decode_avx2)
WT_K_SUMS_AVX2(wt_q3_k_sums_avx2, struct wt_q3_k, wt_k3_decode_avx2)

void wt_dot_q4_k_rows_avx2(const void *w, const void *x, int nx, int n, float *out, int stride) {
    wt_k45_dot_rows8(w, x, nx, n, out, stride, false, wt_q4_k_sums_avx2);
}

void wt_dot_q5_k_rows_avx2(const void *w, const void *x, int nx, int n, float *out, int stride) {
    wt_k45_dot_rows8(w, x, nx, n, out, stride, true, wt_q5_k_sums_avx2);
}

void wt_dot_q6_k_rows_avx2(const void *w, const void *x, int nx, int n, float *out, int stride) {
    wt_k_rows8(w, sizeof(struct wt_q6_k), offsetof(struct wt_q6_k, d), -1, x, nx, n, out, stride,
               wt_q6_k_sums_avx2);
}

void wt_dot_q2_k_rows_avx2(const void *w, const void *x, int nx, int n, float *out, int stride) {
    wt_k_rows8(w, sizeof(struct wt_q2_k), offsetof(struct wt_q2_k, d),
               offsetof(struct wt_q2_k, dmin), x, nx, n, out, stride, wt_q2_k_sums_avx2);
}

void wt_dot_q3_k_rows_avx2(const void *w, const void *x, int nx, int n, float *out, int stride) {
    wt_k_rows8(w, sizeof(struct wt_q3_k), offsetof(struct wt_q3_k, d), -1, x, nx, n, out, stride,
               wt_q3_k_sums_avx2);
}

WT_AVX2_END
