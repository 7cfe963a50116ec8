/*
 * AVX2 + F16C kernel set (see ops.h): dot products of F32, F16, Q8_0 and Q4_0 (with
 * the batched dot_rows forms), the attention dot product, axpy and kernels (ops_att.h),
 * softmax, SwiGLU, RMSNorm and RoPE; Q4_1, Q5_0, Q5_1 and the K-quants from wt_*_avx2.c;
 * BF16 uses the SSE2 set's kernel (base), and the input rounding and the unscaled int8
 * run are the SSE2 set's. Compiled with -mavx2 -mfma -mf16c into .text.avx2; ops_select_kernels
 * installs it only when cpu_has_avx2() (kernel/core/cpu.c enabled the AVX state). Relies on quant.h
 * for block layouts.
 *
 * Every kernel here gives the SSE2 set's bits: the integer work (widening, block
 * sums) is done on 256-bit vectors, and the float work keeps the SSE2 kernel's
 * lanes, operations and order: mul then add, never a fused multiply-add (FMA would
 * round the combination differently, and greedy output must not depend on the CPU).
 * The float lanes of the F32 dot product are the SSE2 kernel's two 4-lane
 * accumulators side by side in one 8-lane vector.
 */
#include "llm/wt_avx2.h"

#include "llm/ops.h"
#include "llm/ops_rope.h"
#include "llm/quant.h"

/* Inputs per pass of the batched kernels: their block sums stay in L1. */
#define AVX2_ROWS 8

/* The SSE2 set's horizontal sum of four floats: (v0 + v2) + (v1 + v3). */
static inline float avx2_hsum4(__m128 v) {
    __m128 t = _mm_add_ps(v, _mm_movehl_ps(v, v));
    t = _mm_add_ss(t, _mm_shuffle_ps(t, t, 1));
    return _mm_cvtss_f32(t);
}

/* Hint the cache lines of `bytes` bytes OPS_PREFETCH_BYTES ahead of p. */
static inline void avx2_prefetch(const void *p, int bytes) {
    const char *c = (const char *)p + OPS_PREFETCH_BYTES;
    for (int i = 0; i < bytes; i += 64)
        _mm_prefetch(c + i, _MM_HINT_T0);
}

/* The F32 dot product's eight lanes (the SSE2 kernel's two accumulators side by
 * side), split in two for the attention kernels (ops_att.h): att_step adds whole steps
 * of 8, att_finish the rest and sums the lanes. */
static inline __m256 att_zero(void) {
    return _mm256_setzero_ps();
}

static inline __m256 att_step(__m256 acc, const float *w, const float *x, int n) {
    for (int i = 0; i < n; i += 8)
        acc = _mm256_add_ps(acc, _mm256_mul_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i)));
    return acc;
}

static inline float att_finish(__m256 acc, const float *w, const float *x, int n) {
    __m128 a0 = _mm256_castps256_ps128(acc), a1 = _mm256_extractf128_ps(acc, 1);
    int i = 0;
    if (n >= 4) {
        a0 = _mm_add_ps(a0, _mm_mul_ps(_mm_loadu_ps(w), _mm_loadu_ps(x)));
        i = 4;
    }
    float s = avx2_hsum4(_mm_add_ps(a0, a1));
    for (; i < n; i++) {
        float p = w[i] * x[i]; /* a statement of its own: never contracted to an FMA */
        s += p;
    }
    return s;
}

/* Scores s[j] = (q . x[j]) * scale for the m <= 4 rows x[j] of n floats, each the
 * bits of avx2_dot_f32 times scale: four rows' sums side by side in registers, the
 * query loaded once for them. */
#define OPS_ATT_SPAN 4
static inline void att_dots(const float *q, const float *const *x, int m, int n, float scale,
                            float *s) {
    int n8 = n & ~7;
    if (m == 4) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int i = 0; i < n8; i += 8) {
            __m256 qv = _mm256_loadu_ps(q + i);
            a0 = _mm256_add_ps(a0, _mm256_mul_ps(qv, _mm256_loadu_ps(x[0] + i)));
            a1 = _mm256_add_ps(a1, _mm256_mul_ps(qv, _mm256_loadu_ps(x[1] + i)));
            a2 = _mm256_add_ps(a2, _mm256_mul_ps(qv, _mm256_loadu_ps(x[2] + i)));
            a3 = _mm256_add_ps(a3, _mm256_mul_ps(qv, _mm256_loadu_ps(x[3] + i)));
        }
        s[0] = att_finish(a0, q + n8, x[0] + n8, n - n8) * scale;
        s[1] = att_finish(a1, q + n8, x[1] + n8, n - n8) * scale;
        s[2] = att_finish(a2, q + n8, x[2] + n8, n - n8) * scale;
        s[3] = att_finish(a3, q + n8, x[3] + n8, n - n8) * scale;
        return;
    }
    for (int j = 0; j < m; j++)
        s[j] = att_finish(att_step(att_zero(), q, x[j], n8), q + n8, x[j] + n8, n - n8) * scale;
}

static float avx2_dot_f32(const float *w, const float *x, int n) {
    int n8 = n & ~7;
    return att_finish(att_step(att_zero(), w, x, n8), w + n8, x + n8, n - n8);
}

static float avx2_dot_f16(const uint16_t *w, const float *x, int n) {
    __m128 acc = _mm_setzero_ps();
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        __m128 wv = _mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)(w + i)));
        acc = _mm_add_ps(acc, _mm_mul_ps(wv, _mm_loadu_ps(x + i)));
    }
    float s = avx2_hsum4(acc);
    for (; i < n; i++) {
        float p = wt_avx2_half(w[i]) * x[i];
        s += p;
    }
    return s;
}

static float avx2_dot_f32_row(const void *w, const void *x, int n) {
    return avx2_dot_f32(w, x, n);
}

static float avx2_dot_f16_row(const void *w, const void *x, int n) {
    return avx2_dot_f16(w, x, n);
}

/* Batched f16 rows (ops.h dot_rows): four inputs (n floats apart) at a time, each
 * weight vector converted once for the four; every input has its own accumulator and
 * the single-input kernel's operations in its order, so out[i * stride] is that
 * kernel's result to the bit. The inputs past a multiple of four take the
 * single-input kernel. (F32 rows: ops_att.h's dot_f32_rows.) */
static void avx2_dot_f16_rows(const void *wv, const void *xv, int nx, int n, float *out,
                              int stride) {
    const uint16_t *w = wv;
    const float *x = xv;
    int r = 0;
    for (; r + 4 <= nx; r += 4) {
        const float *xr[4];
        __m128 acc[4];
        for (int j = 0; j < 4; j++) {
            xr[j] = x + (size_t)(r + j) * n;
            acc[j] = _mm_setzero_ps();
        }
        int i = 0;
        for (; i + 4 <= n; i += 4) {
            __m128 w4 = _mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)(w + i)));
            acc[0] = _mm_add_ps(acc[0], _mm_mul_ps(w4, _mm_loadu_ps(xr[0] + i)));
            acc[1] = _mm_add_ps(acc[1], _mm_mul_ps(w4, _mm_loadu_ps(xr[1] + i)));
            acc[2] = _mm_add_ps(acc[2], _mm_mul_ps(w4, _mm_loadu_ps(xr[2] + i)));
            acc[3] = _mm_add_ps(acc[3], _mm_mul_ps(w4, _mm_loadu_ps(xr[3] + i)));
        }
        for (int j = 0; j < 4; j++) {
            float s = avx2_hsum4(acc[j]);
            for (int k = i; k < n; k++) {
                float p = wt_avx2_half(w[k]) * xr[j][k];
                s += p;
            }
            out[(size_t)(r + j) * stride] = s;
        }
    }
    for (; r < nx; r++)
        out[(size_t)r * stride] = avx2_dot_f16(w, x + (size_t)r * n, n);
}

/* The 32 weights of one Q8_0 block as two vectors of 16 int16. */
static inline void avx2_q8_unpack(const struct quant_q8_0 *b, __m256i *w) {
    w[0] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b->qs));
    w[1] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(b->qs + 16)));
}

/* The 32 weights of one Q4_0 block (low nibbles are values 0-15, high nibbles
 * 16-31, each minus 8) as two vectors of 16 int16. */
static inline void avx2_q4_unpack(const struct quant_q4_0 *b, __m256i *w) {
    const __m128i mask = _mm_set1_epi8(15), eight = _mm_set1_epi8(8);
    __m128i v = _mm_loadu_si128((const __m128i *)b->qs);
    __m128i lo = _mm_sub_epi8(_mm_and_si128(v, mask), eight);
    __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(v, 4), mask), eight);
    w[0] = _mm256_cvtepi8_epi16(lo);
    w[1] = _mm256_cvtepi8_epi16(hi);
}

/* Exact int32 lanes of one block's 32 products with its inputs x (|x| <= 127). */
static inline __m256i avx2_madd(const __m256i *w, const int16_t *x) {
    __m256i s = _mm256_madd_epi16(w[0], _mm256_loadu_si256((const __m256i *)x));
    return _mm256_add_epi32(s,
                            _mm256_madd_epi16(w[1], _mm256_loadu_si256((const __m256i *)(x + 16))));
}

/* Exact int32 lanes of one block against its 32 inputs. */
static inline __m256i avx2_q8_block(const struct quant_q8_0 *b, const int16_t *x) {
    __m256i w[2];
    avx2_q8_unpack(b, w);
    return avx2_madd(w, x);
}

static inline __m256i avx2_q4_block(const struct quant_q4_0 *b, const int16_t *x) {
    __m256i w[2];
    avx2_q4_unpack(b, w);
    return avx2_madd(w, x);
}

/* Block sums of four blocks, lane j the lane sum of s_j (exact: below 2^20). */
static inline __m128i avx2_sum4(__m256i s0, __m256i s1, __m256i s2, __m256i s3) {
    __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(s0, s1), _mm256_hadd_epi32(s2, s3));
    return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

/* The weight scales of blocks k..k+3 (IEEE halves, converted exactly), one a lane. */
#define AVX2_HALVES4(b, k)                                                                         \
    _mm_cvtph_ps(_mm_set_epi16(0, 0, 0, 0, (short)(b)[(k) + 3].d, (short)(b)[(k) + 2].d,           \
                               (short)(b)[(k) + 1].d, (short)(b)[(k)].d))

/* A row of quantized blocks times the quantized input, as the SSE2 set does it: per
 * four blocks their exact sums in four lanes, converted, times the four scales
 * (weight d times input d), added to a 4-lane total; then one block at a time in
 * lane 0; the SSE2 horizontal sum. (The SSE2 kernel's sums are 256 times these;
 * its result, scaled back by 1/256, is the same float.) BLOCK_FN gives a block's
 * exact int32 lanes; BYTES is the size of a block. */
#define AVX2_DEFINE_DOT(NAME, BLOCK_T, BLOCK_FN, BYTES)                                            \
    static float NAME(const void *wv, const void *xv, int n) {                                     \
        const BLOCK_T *b = wv;                                                                     \
        const struct ops_xq *x = xv;                                                               \
        const int16_t *xq = x->q;                                                                  \
        const float *xd = x->d;                                                                    \
        const int nb = n / QUANT_QK;                                                               \
        const __m256i zero = _mm256_setzero_si256();                                               \
        __m128 total = _mm_setzero_ps();                                                           \
        int k = 0;                                                                                 \
        for (; k + 4 <= nb; k += 4) {                                                              \
            avx2_prefetch(b + k, 4 * (BYTES));                                                     \
            __m256i s0 = BLOCK_FN(b + k, xq + k * QUANT_QK);                                       \
            __m256i s1 = BLOCK_FN(b + k + 1, xq + (k + 1) * QUANT_QK);                             \
            __m256i s2 = BLOCK_FN(b + k + 2, xq + (k + 2) * QUANT_QK);                             \
            __m256i s3 = BLOCK_FN(b + k + 3, xq + (k + 3) * QUANT_QK);                             \
            __m128 sum = _mm_cvtepi32_ps(avx2_sum4(s0, s1, s2, s3));                               \
            __m128 scale = _mm_mul_ps(AVX2_HALVES4(b, k), _mm_loadu_ps(xd + k));                   \
            total = _mm_add_ps(total, _mm_mul_ps(sum, scale));                                     \
        }                                                                                          \
        for (; k < nb; k++) {                                                                      \
            __m128i s = avx2_sum4(BLOCK_FN(b + k, xq + k * QUANT_QK), zero, zero, zero);           \
            __m128 scale = _mm_set_ss(wt_avx2_half(b[k].d) * xd[k]);                               \
            total = _mm_add_ps(total, _mm_mul_ps(_mm_cvtepi32_ps(s), scale));                      \
        }                                                                                          \
        return avx2_hsum4(total);                                                                  \
    }

/* One weight row against nx quantized inputs (row after row in x), each block
 * unpacked once for AVX2_ROWS inputs: out[i * stride] is what the dot kernel above
 * gives for input i, to the bit (the same float operations in the same order). */
#define AVX2_DEFINE_DOT_ROWS(NAME, BLOCK_T, UNPACK_FN, BYTES)                                      \
    static void NAME(const void *wv, const void *xv, int nx, int n, float *out, int stride) {      \
        const BLOCK_T *b = wv;                                                                     \
        const struct ops_xq *x = xv;                                                               \
        const int nb = n / QUANT_QK;                                                               \
        const __m256i zero = _mm256_setzero_si256();                                               \
        for (int i0 = 0; i0 < nx; i0 += AVX2_ROWS) {                                               \
            const int m = MIN(AVX2_ROWS, nx - i0);                                                 \
            const int16_t *xq = x->q + (size_t)i0 * (size_t)n;                                     \
            const float *xd = x->d + (size_t)i0 * (size_t)nb;                                      \
            __m128 total[AVX2_ROWS];                                                               \
            __m256i s[AVX2_ROWS][4];                                                               \
            __m256i w[2];                                                                          \
            for (int i = 0; i < m; i++)                                                            \
                total[i] = _mm_setzero_ps();                                                       \
            int k = 0;                                                                             \
            for (; k + 4 <= nb; k += 4) {                                                          \
                avx2_prefetch(b + k, 4 * (BYTES));                                                 \
                for (int j = 0; j < 4; j++) {                                                      \
                    UNPACK_FN(b + k + j, w);                                                       \
                    for (int i = 0; i < m; i++)                                                    \
                        s[i][j] = avx2_madd(w, xq + (size_t)i * n + (k + j) * QUANT_QK);           \
                }                                                                                  \
                __m128 wd = AVX2_HALVES4(b, k);                                                    \
                for (int i = 0; i < m; i++) {                                                      \
                    __m128i si = avx2_sum4(s[i][0], s[i][1], s[i][2], s[i][3]);                    \
                    __m128 scale = _mm_mul_ps(wd, _mm_loadu_ps(xd + (size_t)i * nb + k));          \
                    total[i] = _mm_add_ps(total[i], _mm_mul_ps(_mm_cvtepi32_ps(si), scale));       \
                }                                                                                  \
            }                                                                                      \
            for (; k < nb; k++) {                                                                  \
                UNPACK_FN(b + k, w);                                                               \
                float wdk = wt_avx2_half(b[k].d);                                                  \
                for (int i = 0; i < m; i++) {                                                      \
                    __m256i si = avx2_madd(w, xq + (size_t)i * n + k * QUANT_QK);                  \
                    __m128 sum = _mm_cvtepi32_ps(avx2_sum4(si, zero, zero, zero));                 \
                    __m128 scale = _mm_set_ss(wdk * xd[(size_t)i * nb + k]);                       \
                    total[i] = _mm_add_ps(total[i], _mm_mul_ps(sum, scale));                       \
                }                                                                                  \
            }                                                                                      \
            for (int i = 0; i < m; i++)                                                            \
                out[(size_t)(i0 + i) * stride] = avx2_hsum4(total[i]);                             \
        }                                                                                          \
    }

AVX2_DEFINE_DOT(avx2_dot_q8_0, struct quant_q8_0, avx2_q8_block, 34)
AVX2_DEFINE_DOT(avx2_dot_q4_0, struct quant_q4_0, avx2_q4_block, 18)
AVX2_DEFINE_DOT_ROWS(avx2_dot_q8_0_rows, struct quant_q8_0, avx2_q8_unpack, 34)
AVX2_DEFINE_DOT_ROWS(avx2_dot_q4_0_rows, struct quant_q4_0, avx2_q4_unpack, 18)

/* For t < m in order, y(n) += w[t] * rows[t](n), each element as the SSE2 set
 * computes it: y + (w * x), two roundings. Sixteen columns stay in registers across
 * the m positions. */
static inline void att_madd(float *y, const float *w, const float *const *rows, int m, int n) {
    int c = 0;
    for (; c + 16 <= n; c += 16) {
        __m256 y0 = _mm256_loadu_ps(y + c), y1 = _mm256_loadu_ps(y + c + 8);
        for (int t = 0; t < m; t++) {
            __m256 wt = _mm256_set1_ps(w[t]);
            y0 = _mm256_add_ps(y0, _mm256_mul_ps(wt, _mm256_loadu_ps(rows[t] + c)));
            y1 = _mm256_add_ps(y1, _mm256_mul_ps(wt, _mm256_loadu_ps(rows[t] + c + 8)));
        }
        _mm256_storeu_ps(y + c, y0);
        _mm256_storeu_ps(y + c + 8, y1);
    }
    for (; c + 8 <= n; c += 8) {
        __m256 y0 = _mm256_loadu_ps(y + c);
        for (int t = 0; t < m; t++)
            y0 = _mm256_add_ps(y0,
                               _mm256_mul_ps(_mm256_set1_ps(w[t]), _mm256_loadu_ps(rows[t] + c)));
        _mm256_storeu_ps(y + c, y0);
    }
    for (; c < n; c++) {
        for (int t = 0; t < m; t++) {
            float p = w[t] * rows[t][c]; /* never contracted to an FMA */
            y[c] += p;
        }
    }
}

static void avx2_axpy(float *y, float a, const float *x, int n) {
    att_madd(y, &a, &x, 1, n);
}

/* f(n) = the halves h(n) as floats (F16C converts exactly). */
static inline void att_halves(float *f, const uint16_t *h, int n) {
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(f + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + i))));
    for (; i < n; i++)
        f[i] = wt_avx2_half(h[i]);
}

#define OPS_ATT_NAME(x) avx2_att_##x
#define OPS_ATT_ACC __m256
#include "llm/ops_att.h"

/* The SSE2 set's kernels, so that both sets round the input and compute the int8
 * run the same way. */
static float avx2_dot_i8(const int8_t *w, const float *x, int n) {
    return ops_sse2.dot_i8(w, x, n);
}

static void avx2_quantize(struct ops_xq *xq, const float *x, int n) {
    ops_sse2.quantize(xq, x, n);
}

/* The SSE2 set's e^x (ops_sse2.c) on eight lanes: the same operations in the same
 * order on each lane, so the same bits. */
static __m256 avx2_exp(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
    __m256 fx =
        _mm256_add_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)), _mm256_set1_ps(0.5f));
    __m256 t = _mm256_cvtepi32_ps(_mm256_cvttps_epi32(fx));
    __m256 gt = _mm256_cmp_ps(t, fx, _CMP_GT_OS);
    fx = _mm256_sub_ps(t, _mm256_and_ps(gt, _mm256_set1_ps(1.0f))); /* floor */
    x = _mm256_sub_ps(x, _mm256_mul_ps(fx, _mm256_set1_ps(0.693359375f)));
    x = _mm256_sub_ps(x, _mm256_mul_ps(fx, _mm256_set1_ps(-2.12194440e-4f)));
    __m256 y = _mm256_set1_ps(1.9875691500e-4f);
    y = _mm256_add_ps(_mm256_mul_ps(y, x), _mm256_set1_ps(1.3981999507e-3f));
    y = _mm256_add_ps(_mm256_mul_ps(y, x), _mm256_set1_ps(8.3334519073e-3f));
    y = _mm256_add_ps(_mm256_mul_ps(y, x), _mm256_set1_ps(4.1665795894e-2f));
    y = _mm256_add_ps(_mm256_mul_ps(y, x), _mm256_set1_ps(1.6666665459e-1f));
    y = _mm256_add_ps(_mm256_mul_ps(y, x), _mm256_set1_ps(5.0000001201e-1f));
    y = _mm256_add_ps(_mm256_mul_ps(y, _mm256_mul_ps(x, x)),
                      _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
    __m256i e =
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(fx), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

/* e^x of x[0..m) (m <= 8), one lane each, other lanes 0. */
static inline __m256 avx2_exp_n(const float *x, int m) {
    float t[8] = {0};
    for (int i = 0; i < m; i++)
        t[i] = x[i];
    return avx2_exp(_mm256_loadu_ps(t));
}

/* As the SSE2 softmax: eight exponentials a step, added to the SSE2 kernel's 4-lane
 * sum in its order (four, then the next four); a last four; then one at a time
 * after the lane sum; every element's value the SSE2 kernel's. */
static void avx2_softmax(float *x, int n) {
    float mx = x[0];
    for (int i = 1; i < n; i++)
        mx = x[i] > mx ? x[i] : mx;
    __m256 vmx = _mm256_set1_ps(mx);
    __m128 acc = _mm_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 e = avx2_exp(_mm256_sub_ps(_mm256_loadu_ps(x + i), vmx));
        _mm256_storeu_ps(x + i, e);
        acc = _mm_add_ps(acc, _mm256_castps256_ps128(e));
        acc = _mm_add_ps(acc, _mm256_extractf128_ps(e, 1));
    }
    if (i + 4 <= n) {
        __m128 d = _mm_sub_ps(_mm_loadu_ps(x + i), _mm256_castps256_ps128(vmx));
        __m128 e =
            _mm256_castps256_ps128(avx2_exp(_mm256_insertf128_ps(_mm256_setzero_ps(), d, 0)));
        _mm_storeu_ps(x + i, e);
        acc = _mm_add_ps(acc, e);
        i += 4;
    }
    float sum = avx2_hsum4(acc);
    for (; i < n; i++) {
        float d = x[i] - mx;
        x[i] = _mm256_cvtss_f32(avx2_exp_n(&d, 1));
        sum += x[i];
    }
    const __m256 inv = _mm256_set1_ps(1.0f / sum);
    for (i = 0; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), inv));
    for (; i < n; i++)
        x[i] *= 1.0f / sum;
}

/* As the SSE2 SwiGLU, eight lanes a step: g / (1 + e^-g) * up, each element the SSE2
 * kernel's value. */
static void avx2_swiglu(float *g, const float *up, int n) {
    const __m256 one = _mm256_set1_ps(1.0f);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(g + i);
        __m256 e = avx2_exp(_mm256_sub_ps(_mm256_setzero_ps(), v));
        __m256 r = _mm256_mul_ps(_mm256_div_ps(v, _mm256_add_ps(one, e)), _mm256_loadu_ps(up + i));
        _mm256_storeu_ps(g + i, r);
    }
    for (; i < n; i++) {
        float m = -g[i];
        float e = _mm256_cvtss_f32(avx2_exp_n(&m, 1));
        g[i] = g[i] / (1.0f + e) * up[i];
    }
}

/* As the SSE2 RMSNorm: the sum of squares is avx2_dot_f32 of x with itself (the SSE2
 * kernel's eight lanes), the scale computed as there, weight * (scale * x) elementwise. */
static void avx2_rmsnorm(float *out, const float *x, const float *weight, int n, float eps) {
    float ss = avx2_dot_f32(x, x, n);
    float scale = 1.0f / _mm_cvtss_f32(_mm_sqrt_ss(_mm_set_ss(ss / (float)n + eps)));
    const __m256 vs = _mm256_set1_ps(scale);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 t = _mm256_mul_ps(vs, _mm256_loadu_ps(x + i));
        _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_loadu_ps(weight + i), t));
    }
    for (; i < n; i++)
        out[i] = weight[i] * (scale * x[i]);
}

/* As the SSE2 RoPE, elementwise with its operations: NEOX eight pairs a step (cos and
 * sin split out of the interleaved table, the 64-bit quarters put back in order),
 * adjacent pairs four a step (all within 128-bit lanes); the rest one pair at a time. */
static void avx2_rope(float *x, int n, int hd, const float *cs, int pairs, int half) {
    const __m256 neg_even = _mm256_castsi256_ps(_mm256_set1_epi64x(0x80000000));
    for (int h = 0; h < n; h++) {
        float *v = x + (size_t)h * (size_t)hd;
        int j = 0;
        if (half) {
            for (; j + 8 <= pairs; j += 8) {
                __m256 t0 = _mm256_loadu_ps(cs + 2 * j), t1 = _mm256_loadu_ps(cs + 2 * j + 8);
                __m256d c4 = _mm256_castps_pd(_mm256_shuffle_ps(t0, t1, _MM_SHUFFLE(2, 0, 2, 0)));
                __m256d s4 = _mm256_castps_pd(_mm256_shuffle_ps(t0, t1, _MM_SHUFFLE(3, 1, 3, 1)));
                __m256 c = _mm256_castpd_ps(_mm256_permute4x64_pd(c4, _MM_SHUFFLE(3, 1, 2, 0)));
                __m256 sn = _mm256_castpd_ps(_mm256_permute4x64_pd(s4, _MM_SHUFFLE(3, 1, 2, 0)));
                __m256 v0 = _mm256_loadu_ps(v + j), v1 = _mm256_loadu_ps(v + j + half);
                __m256 r0 = _mm256_sub_ps(_mm256_mul_ps(v0, c), _mm256_mul_ps(v1, sn));
                __m256 r1 = _mm256_add_ps(_mm256_mul_ps(v0, sn), _mm256_mul_ps(v1, c));
                _mm256_storeu_ps(v + j, r0);
                _mm256_storeu_ps(v + j + half, r1);
            }
        } else {
            for (; j + 4 <= pairs; j += 4) {
                __m256 t = _mm256_loadu_ps(cs + 2 * j); /* c0 s0 c1 s1 | c2 s2 c3 s3 */
                __m256 c = _mm256_shuffle_ps(t, t, _MM_SHUFFLE(2, 2, 0, 0));
                __m256 sn = _mm256_shuffle_ps(t, t, _MM_SHUFFLE(3, 3, 1, 1));
                __m256 xv = _mm256_loadu_ps(v + 2 * j);
                __m256 sw = _mm256_shuffle_ps(xv, xv, _MM_SHUFFLE(2, 3, 0, 1));
                __m256 q = _mm256_xor_ps(_mm256_mul_ps(sw, sn), neg_even);
                _mm256_storeu_ps(v + 2 * j, _mm256_add_ps(_mm256_mul_ps(xv, c), q));
            }
        }
        ops_rope_rest(v, cs, j, pairs, half);
    }
}

/* Rows replacing the SSE2 set's dot products (input and dequantizer stay the
 * table's); a type without a row here would keep the SSE2 kernel (base). */
static const struct ops_type avx2_types[] = {
    {MODEL_WTYPE_F32, OPS_INPUT_F32, NULL, avx2_dot_f32_row, avx2_att_dot_f32_rows},
    {MODEL_WTYPE_F16, OPS_INPUT_F32, NULL, avx2_dot_f16_row, avx2_dot_f16_rows},
    {MODEL_WTYPE_Q8_0, OPS_INPUT_Q8, NULL, avx2_dot_q8_0, avx2_dot_q8_0_rows},
    {MODEL_WTYPE_Q4_0, OPS_INPUT_Q8, NULL, avx2_dot_q4_0, avx2_dot_q4_0_rows},
    {MODEL_WTYPE_Q4_1, OPS_INPUT_Q8, NULL, wt_dot_q4_1_avx2, wt_dot_q4_1_rows_avx2},
    {MODEL_WTYPE_Q5_0, OPS_INPUT_Q8, NULL, wt_dot_q5_0_avx2, wt_dot_q5_0_rows_avx2},
    {MODEL_WTYPE_Q5_1, OPS_INPUT_Q8, NULL, wt_dot_q5_1_avx2, wt_dot_q5_1_rows_avx2},
    {MODEL_WTYPE_Q2_K, OPS_INPUT_Q8K, NULL, wt_dot_q2_k_avx2, wt_dot_q2_k_rows_avx2},
    {MODEL_WTYPE_Q3_K, OPS_INPUT_Q8K, NULL, wt_dot_q3_k_avx2, wt_dot_q3_k_rows_avx2},
    {MODEL_WTYPE_Q4_K, OPS_INPUT_Q8K, NULL, wt_dot_q4_k_avx2, wt_dot_q4_k_rows_avx2},
    {MODEL_WTYPE_Q5_K, OPS_INPUT_Q8K, NULL, wt_dot_q5_k_avx2, wt_dot_q5_k_rows_avx2},
    {MODEL_WTYPE_Q6_K, OPS_INPUT_Q8K, NULL, wt_dot_q6_k_avx2, wt_dot_q6_k_rows_avx2},
    {MODEL_WTYPE_BF16, OPS_INPUT_BF16, NULL, wt_dot_bf16_avx2, NULL},
};

const struct ops_kernels ops_avx2 = {
    .name = "avx2",
    .base = &ops_sse2,
    .types = avx2_types,
    .n_types = (int)ARRAY_SIZE(avx2_types),
    .dot_f32 = avx2_dot_f32,
    .dot_i8 = avx2_dot_i8,
    .softmax = avx2_softmax,
    .swiglu = avx2_swiglu,
    .rmsnorm = avx2_rmsnorm,
    .rope = avx2_rope,
    .axpy = avx2_axpy,
    .quantize = avx2_quantize,
    OPS_ATT_KERNELS,
};

WT_AVX2_END
