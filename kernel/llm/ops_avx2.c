/*
 * AVX2 + FMA + F16C kernel set (see ops.h): dot products of F32, F16, Q8_0 and Q4_0
 * (with the batched dot_rows forms), the attention dot product and axpy, and the
 * unscaled int8 run; Q4_1, Q5_0, Q5_1, Q4_K, Q5_K and Q6_K from wt_*_avx2.c; Q2_K,
 * Q3_K and BF16 use the SSE2 set's kernels (base), and the input rounding, softmax
 * and SwiGLU are the SSE2 set's, so the rounded input is the same bits in both sets. Compiled with
 * -mavx2 -mfma -mf16c into .text.avx2; ops_select_kernels installs it only when cpu_has_avx2()
 * (kernel/core/cpu.c enabled the AVX state). Relies on quant.h for block layouts.
 *
 * The block sums of the quantized types are exact integers, as in every set; their
 * float combination differs: eight lanes of partial block sums, each scaled and
 * accumulated with FMA, then summed across lanes. Each kernel's dot_rows form does
 * the same float operations in the same order as its dot, so the two agree bit for bit.
 */
#include "llm/wt_avx2.h"

#include "llm/ops.h"
#include "llm/quant.h"

/* Inputs per pass of the batched kernels: their accumulators stay in L1. */
#define AVX2_ROWS 8

static inline float avx2_hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Hint the cache lines of `bytes` bytes OPS_PREFETCH_BYTES ahead of p. */
static inline void avx2_prefetch(const void *p, int bytes) {
    const char *c = (const char *)p + OPS_PREFETCH_BYTES;
    for (int i = 0; i < bytes; i += 64)
        _mm_prefetch(c + i, _MM_HINT_T0);
}

static float avx2_dot_f32(const float *w, const float *x, int n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);
    }
    if (i + 8 <= n) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
        i += 8;
    }
    float s = avx2_hsum(_mm256_add_ps(a0, a1));
    for (; i < n; i++)
        s += w[i] * x[i];
    return s;
}

static float avx2_dot_f16(const uint16_t *w, const float *x, int n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 w0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i)));
        __m256 w1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i + 8)));
        a0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + i + 8), a1);
    }
    if (i + 8 <= n) {
        __m256 w0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i)));
        a0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + i), a0);
        i += 8;
    }
    float s = avx2_hsum(_mm256_add_ps(a0, a1));
    for (; i < n; i++)
        s += wt_avx2_half(w[i]) * x[i];
    return s;
}

static float avx2_dot_f32_row(const void *w, const void *x, int n) {
    return avx2_dot_f32(w, x, n);
}

static float avx2_dot_f16_row(const void *w, const void *x, int n) {
    return avx2_dot_f16(w, x, n);
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

/* Eight exact int32 partial sums of one block times its 32 inputs x (|x| <= 127,
 * |w| <= 128: each lane is below 2^17). */
static inline __m256 avx2_block(const __m256i *w, const int16_t *x) {
    __m256i s = _mm256_madd_epi16(w[0], _mm256_loadu_si256((const __m256i *)x));
    s = _mm256_add_epi32(s, _mm256_madd_epi16(w[1], _mm256_loadu_si256((const __m256i *)(x + 16))));
    return _mm256_cvtepi32_ps(s);
}

/* A row of quantized blocks times the quantized input: per pair of blocks
 * acc += s_k * d_k + s_k+1 * d_k+1 (eight lanes, one FMA and one rounding of the
 * pair), an odd last block acc += s_k * d_k; then the lane sum. UNPACK_FN gives a
 * block's weights as int16; BYTES is the size of a block. dot_rows below repeats
 * these operations exactly. */
#define AVX2_DEFINE_DOT(NAME, BLOCK_T, UNPACK_FN, BYTES)                                           \
    static float NAME(const void *wv, const void *xv, int n) {                                     \
        const BLOCK_T *b = wv;                                                                     \
        const struct ops_xq *x = xv;                                                               \
        const int nb = n / QUANT_QK;                                                               \
        __m256 acc = _mm256_setzero_ps();                                                          \
        __m256i w0[2], w1[2];                                                                      \
        int k = 0;                                                                                 \
        for (; k + 2 <= nb; k += 2) {                                                              \
            avx2_prefetch(b + k, 2 * (BYTES));                                                     \
            UNPACK_FN(b + k, w0);                                                                  \
            UNPACK_FN(b + k + 1, w1);                                                              \
            __m256 s0 = avx2_block(w0, x->q + k * QUANT_QK);                                       \
            __m256 s1 = avx2_block(w1, x->q + (k + 1) * QUANT_QK);                                 \
            __m256 d0 = _mm256_set1_ps(wt_avx2_half(b[k].d) * x->d[k]);                            \
            __m256 d1 = _mm256_set1_ps(wt_avx2_half(b[k + 1].d) * x->d[k + 1]);                    \
            acc = _mm256_add_ps(acc, _mm256_fmadd_ps(s1, d1, _mm256_mul_ps(s0, d0)));              \
        }                                                                                          \
        if (k < nb) {                                                                              \
            UNPACK_FN(b + k, w0);                                                                  \
            __m256 d0 = _mm256_set1_ps(wt_avx2_half(b[k].d) * x->d[k]);                            \
            acc = _mm256_fmadd_ps(avx2_block(w0, x->q + k * QUANT_QK), d0, acc);                   \
        }                                                                                          \
        return avx2_hsum(acc);                                                                     \
    }

/* One weight row against nx quantized inputs (row after row in x), each pair of
 * blocks unpacked once for AVX2_ROWS inputs: out[i * stride] is what NAME_DOT gives
 * for input i, to the bit. */
#define AVX2_DEFINE_DOT_ROWS(NAME, BLOCK_T, UNPACK_FN, BYTES)                                      \
    static void NAME(const void *wv, const void *xv, int nx, int n, float *out, int stride) {      \
        const BLOCK_T *b = wv;                                                                     \
        const struct ops_xq *x = xv;                                                               \
        const int nb = n / QUANT_QK;                                                               \
        for (int i0 = 0; i0 < nx; i0 += AVX2_ROWS) {                                               \
            const int m = MIN(AVX2_ROWS, nx - i0);                                                 \
            const int16_t *xq = x->q + (size_t)i0 * (size_t)n;                                     \
            const float *xd = x->d + (size_t)i0 * (size_t)nb;                                      \
            __m256 acc[AVX2_ROWS];                                                                 \
            __m256i w0[2], w1[2];                                                                  \
            for (int i = 0; i < m; i++)                                                            \
                acc[i] = _mm256_setzero_ps();                                                      \
            int k = 0;                                                                             \
            for (; k + 2 <= nb; k += 2) {                                                          \
                avx2_prefetch(b + k, 2 * (BYTES));                                                 \
                UNPACK_FN(b + k, w0);                                                              \
                UNPACK_FN(b + k + 1, w1);                                                          \
                const float wd0 = wt_avx2_half(b[k].d), wd1 = wt_avx2_half(b[k + 1].d);            \
                for (int i = 0; i < m; i++) {                                                      \
                    const int16_t *xi = xq + (size_t)i * n + k * QUANT_QK;                         \
                    const float *di = xd + (size_t)i * nb + k;                                     \
                    __m256 s0 = avx2_block(w0, xi), s1 = avx2_block(w1, xi + QUANT_QK);            \
                    __m256 d0 = _mm256_set1_ps(wd0 * di[0]), d1 = _mm256_set1_ps(wd1 * di[1]);     \
                    acc[i] =                                                                       \
                        _mm256_add_ps(acc[i], _mm256_fmadd_ps(s1, d1, _mm256_mul_ps(s0, d0)));     \
                }                                                                                  \
            }                                                                                      \
            if (k < nb) {                                                                          \
                UNPACK_FN(b + k, w0);                                                              \
                const float wd0 = wt_avx2_half(b[k].d);                                            \
                for (int i = 0; i < m; i++) {                                                      \
                    __m256 d0 = _mm256_set1_ps(wd0 * xd[(size_t)i * nb + k]);                      \
                    __m256 s0 = avx2_block(w0, xq + (size_t)i * n + k * QUANT_QK);                 \
                    acc[i] = _mm256_fmadd_ps(s0, d0, acc[i]);                                      \
                }                                                                                  \
            }                                                                                      \
            for (int i = 0; i < m; i++)                                                            \
                out[(size_t)(i0 + i) * stride] = avx2_hsum(acc[i]);                                \
        }                                                                                          \
    }

AVX2_DEFINE_DOT(avx2_dot_q8_0, struct quant_q8_0, avx2_q8_unpack, 34)
AVX2_DEFINE_DOT(avx2_dot_q4_0, struct quant_q4_0, avx2_q4_unpack, 18)
AVX2_DEFINE_DOT_ROWS(avx2_dot_q8_0_rows, struct quant_q8_0, avx2_q8_unpack, 34)
AVX2_DEFINE_DOT_ROWS(avx2_dot_q4_0_rows, struct quant_q4_0, avx2_q4_unpack, 18)

static float avx2_dot_i8(const int8_t *w, const float *x, int n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(w + i));
        __m256 f0 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v));
        __m256 f1 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(v, 8)));
        a0 = _mm256_fmadd_ps(f0, _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(f1, _mm256_loadu_ps(x + i + 8), a1);
    }
    float s = avx2_hsum(_mm256_add_ps(a0, a1));
    for (; i < n; i++)
        s += (float)w[i] * x[i];
    return s;
}

static void avx2_axpy(float *y, float a, const float *x, int n) {
    const __m256 va = _mm256_set1_ps(a);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i,
                         _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++)
        y[i] += a * x[i];
}

/* The SSE2 set's kernels, so that both sets round the input and compute softmax
 * and SwiGLU the same way. */
static void avx2_quantize(struct ops_xq *xq, const float *x, int n) {
    ops_sse2.quantize(xq, x, n);
}

static void avx2_softmax(float *x, int n) {
    ops_sse2.softmax(x, n);
}

static void avx2_swiglu(float *g, const float *up, int n) {
    ops_sse2.swiglu(g, up, n);
}

/* Rows replacing the SSE2 set's dot products (input and dequantizer stay the
 * table's); the types without a row here keep the SSE2 kernels (base). */
static const struct ops_type avx2_types[] = {
    {MODEL_WTYPE_F32, OPS_INPUT_F32, NULL, avx2_dot_f32_row, NULL},
    {MODEL_WTYPE_F16, OPS_INPUT_F32, NULL, avx2_dot_f16_row, NULL},
    {MODEL_WTYPE_Q8_0, OPS_INPUT_Q8, NULL, avx2_dot_q8_0, avx2_dot_q8_0_rows},
    {MODEL_WTYPE_Q4_0, OPS_INPUT_Q8, NULL, avx2_dot_q4_0, avx2_dot_q4_0_rows},
    {MODEL_WTYPE_Q4_1, OPS_INPUT_Q8, NULL, wt_dot_q4_1_avx2, NULL},
    {MODEL_WTYPE_Q5_0, OPS_INPUT_Q8, NULL, wt_dot_q5_0_avx2, NULL},
    {MODEL_WTYPE_Q5_1, OPS_INPUT_Q8, NULL, wt_dot_q5_1_avx2, NULL},
    {MODEL_WTYPE_Q4_K, OPS_INPUT_Q8K, NULL, wt_dot_q4_k_avx2, NULL},
    {MODEL_WTYPE_Q5_K, OPS_INPUT_Q8K, NULL, wt_dot_q5_k_avx2, NULL},
    {MODEL_WTYPE_Q6_K, OPS_INPUT_Q8K, NULL, wt_dot_q6_k_avx2, NULL},
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
    .axpy = avx2_axpy,
    .quantize = avx2_quantize,
};

WT_AVX2_END
