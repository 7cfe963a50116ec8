/*
 * SSE2 dot-product kernels (see ops.h). Compiled for pentium4 and linked into
 * .text.simd; ops_select installs them only when the CPU has SSE2 and the kernel
 * enabled it. The host build always has SSE2. Relies on quant.h for block layouts.
 */
#include <emmintrin.h>

#include "llm/ops.h"
#include "llm/ops_rope.h"
#include "llm/quant.h"
#include "llm/wt_bf16.h"
#include "llm/wt_kquant.h"
#include "llm/wt_legacy.h"

static float sse2_hsum(__m128 v) {
    __m128 t = _mm_add_ps(v, _mm_movehl_ps(v, v));
    t = _mm_add_ss(t, _mm_shuffle_ps(t, t, 1));
    return _mm_cvtss_f32(t);
}

static float sse2_half(uint16_t h) {
    return quant_f16_table ? quant_f16_table[h] : quant_f16_to_f32(h);
}

/* As sse2_half with the table pointer read once by the caller. */
static inline float sse2_half_in(const float *tab, uint16_t h) {
    return tab ? tab[h] : quant_f16_to_f32(h);
}

/* Keeps a loaded vector in a register: with VEX encodings (host builds with AVX)
 * the compiler would fold the unaligned weight load into each instruction that
 * reads it, loading the same bytes twice (and block loads often cross lines). */
#define SSE2_IN_REGISTER(v) __asm__("" : "+x"(v))

/* Hint `lines` 64-byte lines from OPS_PREFETCH_BYTES ahead of p into cache; a loop
 * step reading B bytes asks for ceil(B / 64) lines. Prefetches never fault, so
 * running past the end of the weights is harmless. */
static inline void sse2_prefetch(const void *p, int lines) {
    const char *c = (const char *)p + OPS_PREFETCH_BYTES;
    for (int i = 0; i < lines; i++)
        _mm_prefetch(c + 64 * i, _MM_HINT_T0);
}

/* The F32 dot product's two 4-lane accumulators, split in two for the attention
 * kernels (ops_att.h): att_step adds whole steps of 8, att_finish the rest and sums. */
struct sse2_att_acc {
    __m128 a0, a1;
};

static inline struct sse2_att_acc att_zero(void) {
    return (struct sse2_att_acc){_mm_setzero_ps(), _mm_setzero_ps()};
}

static inline struct sse2_att_acc att_step(struct sse2_att_acc a, const float *w, const float *x,
                                           int n) {
    for (int i = 0; i < n; i += 8) {
        a.a0 = _mm_add_ps(a.a0, _mm_mul_ps(_mm_loadu_ps(w + i), _mm_loadu_ps(x + i)));
        a.a1 = _mm_add_ps(a.a1, _mm_mul_ps(_mm_loadu_ps(w + i + 4), _mm_loadu_ps(x + i + 4)));
    }
    return a;
}

static inline float att_finish(struct sse2_att_acc a, const float *w, const float *x, int n) {
    int i = 0;
    if (n >= 4) {
        a.a0 = _mm_add_ps(a.a0, _mm_mul_ps(_mm_loadu_ps(w), _mm_loadu_ps(x)));
        i = 4;
    }
    float s = sse2_hsum(_mm_add_ps(a.a0, a.a1));
    for (; i < n; i++)
        s += w[i] * x[i];
    return s;
}

/* Scores s[j] = (q . x[j]) * scale for the m <= 2 rows x[j] of n floats, each the
 * bits of sse2_dot_f32 times scale: two rows' sums side by side in registers (four
 * of the eight that i386 has), the query loaded once for both. */
#define OPS_ATT_SPAN 2
static inline void att_dots(const float *q, const float *const *x, int m, int n, float scale,
                            float *s) {
    int n8 = n & ~7;
    if (m == 2) {
        struct sse2_att_acc a = att_zero(), b = att_zero();
        for (int i = 0; i < n8; i += 8) {
            __m128 q0 = _mm_loadu_ps(q + i), q1 = _mm_loadu_ps(q + i + 4);
            a.a0 = _mm_add_ps(a.a0, _mm_mul_ps(q0, _mm_loadu_ps(x[0] + i)));
            a.a1 = _mm_add_ps(a.a1, _mm_mul_ps(q1, _mm_loadu_ps(x[0] + i + 4)));
            b.a0 = _mm_add_ps(b.a0, _mm_mul_ps(q0, _mm_loadu_ps(x[1] + i)));
            b.a1 = _mm_add_ps(b.a1, _mm_mul_ps(q1, _mm_loadu_ps(x[1] + i + 4)));
        }
        s[0] = att_finish(a, q + n8, x[0] + n8, n - n8) * scale;
        s[1] = att_finish(b, q + n8, x[1] + n8, n - n8) * scale;
        return;
    }
    for (int j = 0; j < m; j++)
        s[j] = att_finish(att_step(att_zero(), q, x[j], n8), q + n8, x[j] + n8, n - n8) * scale;
}

static float sse2_dot_f32(const float *w, const float *x, int n) {
    int n8 = n & ~7;
    return att_finish(att_step(att_zero(), w, x, n8), w + n8, x + n8, n - n8);
}

static float sse2_dot_f16(const uint16_t *w, const float *x, int n) {
    const float *tab = quant_f16_table;
    __m128 acc = _mm_setzero_ps();
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        __m128 wv = _mm_set_ps(sse2_half_in(tab, w[i + 3]), sse2_half_in(tab, w[i + 2]),
                               sse2_half_in(tab, w[i + 1]), sse2_half_in(tab, w[i]));
        acc = _mm_add_ps(acc, _mm_mul_ps(wv, _mm_loadu_ps(x + i)));
    }
    float s = sse2_hsum(acc);
    for (; i < n; i++)
        s += sse2_half(w[i]) * x[i];
    return s;
}

/* Sixteen signed bytes times x[0..15], accumulated into acc. */
static __m128 sse2_mac_i8x16(__m128 acc, __m128i v, const float *x) {
    __m128i zero = _mm_setzero_si128();
    __m128i lo16 = _mm_srai_epi16(_mm_unpacklo_epi8(zero, v), 8);
    __m128i hi16 = _mm_srai_epi16(_mm_unpackhi_epi8(zero, v), 8);
    __m128 f0 = _mm_cvtepi32_ps(_mm_srai_epi32(_mm_unpacklo_epi16(zero, lo16), 16));
    __m128 f1 = _mm_cvtepi32_ps(_mm_srai_epi32(_mm_unpackhi_epi16(zero, lo16), 16));
    __m128 f2 = _mm_cvtepi32_ps(_mm_srai_epi32(_mm_unpacklo_epi16(zero, hi16), 16));
    __m128 f3 = _mm_cvtepi32_ps(_mm_srai_epi32(_mm_unpackhi_epi16(zero, hi16), 16));
    acc = _mm_add_ps(acc, _mm_mul_ps(f0, _mm_loadu_ps(x)));
    acc = _mm_add_ps(acc, _mm_mul_ps(f1, _mm_loadu_ps(x + 4)));
    acc = _mm_add_ps(acc, _mm_mul_ps(f2, _mm_loadu_ps(x + 8)));
    acc = _mm_add_ps(acc, _mm_mul_ps(f3, _mm_loadu_ps(x + 12)));
    return acc;
}

/* 16 signed bytes widened to two vectors of 8 int16 holding 256 * the value: the
 * byte goes to the high half of each lane, which saves the arithmetic shift that
 * sign extension would need (the callers divide by 256 in their scale). */
static inline void sse2_widen_i8(__m128i v, __m128i *lo, __m128i *hi) {
    *lo = _mm_unpacklo_epi8(_mm_setzero_si128(), v);
    *hi = _mm_unpackhi_epi8(_mm_setzero_si128(), v);
}

#define SSE2_WIDEN_SCALE (1.0f / 256.0f) /* undoes sse2_widen_i8's factor, exactly */

/* Exact int32 lanes of 256 * sum(w[i] * x[i]) over one block: w holds the 32 weights
 * widened by sse2_widen_i8 (w[0] weights 0-7, ..., w[3] 24-31), x 32 int16 inputs with
 * |x| <= 127. The sum is 256 times an integer below 2^20, so int32 holds it and its
 * conversion to float is exact. */
static inline __m128i sse2_madd4(const __m128i *w, const int16_t *x) {
    __m128i s = _mm_madd_epi16(w[0], _mm_loadu_si128((const __m128i *)x));
    s = _mm_add_epi32(s, _mm_madd_epi16(w[1], _mm_loadu_si128((const __m128i *)(x + 8))));
    s = _mm_add_epi32(s, _mm_madd_epi16(w[2], _mm_loadu_si128((const __m128i *)(x + 16))));
    return _mm_add_epi32(s, _mm_madd_epi16(w[3], _mm_loadu_si128((const __m128i *)(x + 24))));
}

/* Lane sums of four int32 vectors in one vector: r[j] = sum of the lanes of s_j.
 * Each s_j holds one block, so its lane sum (a block sum, below 2^27) cannot
 * overflow. Two unpack levels instead of four horizontal sums. */
static inline __m128i sse2_sum4_i32(__m128i s0, __m128i s1, __m128i s2, __m128i s3) {
    __m128i t0 = _mm_add_epi32(_mm_unpacklo_epi32(s0, s1), _mm_unpackhi_epi32(s0, s1));
    __m128i t1 = _mm_add_epi32(_mm_unpacklo_epi32(s2, s3), _mm_unpackhi_epi32(s2, s3));
    return _mm_add_epi32(_mm_unpacklo_epi64(t0, t1), _mm_unpackhi_epi64(t0, t1));
}

/* Scales of blocks k..k+3: weight half d times input d, one lane per block. */
#define SSE2_SCALES4(tab, b, xd, k)                                                                \
    _mm_mul_ps(_mm_set_ps(sse2_half_in(tab, (b)[(k) + 3].d), sse2_half_in(tab, (b)[(k) + 2].d),    \
                          sse2_half_in(tab, (b)[(k) + 1].d), sse2_half_in(tab, (b)[(k)].d)),       \
               _mm_loadu_ps((xd) + (k)))

/* The 32 weights of one Q8_0 block, widened for sse2_madd4. */
static inline void sse2_q8_unpack(const struct quant_q8_0 *b, __m128i *w) {
    __m128i w0 = _mm_loadu_si128((const __m128i *)b->qs);
    __m128i w1 = _mm_loadu_si128((const __m128i *)(b->qs + 16));
    SSE2_IN_REGISTER(w0);
    SSE2_IN_REGISTER(w1);
    sse2_widen_i8(w0, &w[0], &w[1]);
    sse2_widen_i8(w1, &w[2], &w[3]);
}

/* The 32 weights of one Q4_0 block (nibbles minus 8), widened for sse2_madd4. */
static inline void sse2_q4_unpack(const struct quant_q4_0 *b, __m128i *w) {
    const __m128i mask = _mm_set1_epi8(15), eight = _mm_set1_epi8(8);
    __m128i v = _mm_loadu_si128((const __m128i *)b->qs);
    SSE2_IN_REGISTER(v);
    __m128i lo = _mm_sub_epi8(_mm_and_si128(v, mask), eight);
    __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(v, 4), mask), eight);
    sse2_widen_i8(lo, &w[0], &w[1]);
    sse2_widen_i8(hi, &w[2], &w[3]);
}

/* Exact int32 lanes of one block against its 32 inputs (x 256, see sse2_madd4). */
static inline __m128i sse2_q8_block(const struct quant_q8_0 *b, const int16_t *x) {
    __m128i w[4];
    sse2_q8_unpack(b, w);
    return sse2_madd4(w, x);
}

static inline __m128i sse2_q4_block(const struct quant_q4_0 *b, const int16_t *x) {
    __m128i w[4];
    sse2_q4_unpack(b, w);
    return sse2_madd4(w, x);
}

/* The dot product of a row of quantized blocks with the quantized input, four blocks
 * per step: four independent integer block sums, folded into one vector (lane j =
 * block k + j), converted once and scaled by a vector of the four block scales; one
 * float add per four blocks. The block sums stay exact. BLOCK_FN gives the exact
 * int32 lanes of one block; LINES is how many cache lines four blocks span. */
#define SSE2_DEFINE_DOT(NAME, BLOCK_T, BLOCK_FN, LINES)                                            \
    static float NAME(const void *wv, const void *xv, int n) {                                     \
        const BLOCK_T *b = wv;                                                                     \
        const struct ops_xq *x = xv;                                                               \
        const int16_t *xq = x->q;                                                                  \
        const float *xd = x->d, *tab = quant_f16_table;                                            \
        const int nb = n / QUANT_QK;                                                               \
        const __m128i zero = _mm_setzero_si128();                                                  \
        __m128 total = _mm_setzero_ps();                                                           \
        int k = 0;                                                                                 \
        for (; k + 4 <= nb; k += 4) {                                                              \
            sse2_prefetch(b + k, LINES);                                                           \
            __m128i s0 = BLOCK_FN(b + k, xq + k * QUANT_QK);                                       \
            __m128i s1 = BLOCK_FN(b + k + 1, xq + (k + 1) * QUANT_QK);                             \
            __m128i s2 = BLOCK_FN(b + k + 2, xq + (k + 2) * QUANT_QK);                             \
            __m128i s3 = BLOCK_FN(b + k + 3, xq + (k + 3) * QUANT_QK);                             \
            __m128 sum = _mm_cvtepi32_ps(sse2_sum4_i32(s0, s1, s2, s3));                           \
            total = _mm_add_ps(total, _mm_mul_ps(sum, SSE2_SCALES4(tab, b, xd, k)));               \
        }                                                                                          \
        for (; k < nb; k++) {                                                                      \
            __m128i s = BLOCK_FN(b + k, xq + k * QUANT_QK);                                        \
            __m128 sum = _mm_cvtepi32_ps(sse2_sum4_i32(s, zero, zero, zero));                      \
            __m128 scale = _mm_set_ss(sse2_half_in(tab, b[k].d) * xd[k]);                          \
            total = _mm_add_ps(total, _mm_mul_ps(sum, scale));                                     \
        }                                                                                          \
        return sse2_hsum(total) * SSE2_WIDEN_SCALE;                                                \
    }

SSE2_DEFINE_DOT(sse2_dot_q8_0, struct quant_q8_0, sse2_q8_block, 3) /* 136 bytes */
SSE2_DEFINE_DOT(sse2_dot_q4_0, struct quant_q4_0, sse2_q4_block, 2) /* 72 bytes */

/* Inputs per pass of the batched kernels below: their partial sums stay in L1. */
#define SSE2_ROWS 16

/* One weight row against nx quantized inputs (row after row in x), each block
 * unpacked once for all of them: out[i * stride] is exactly what the single-input
 * kernel above gives for input i, since every input's float operations are the same
 * ones in the same order (only the exact integer block sums are shared work). */
#define SSE2_DEFINE_DOT_ROWS(NAME, BLOCK_T, UNPACK_FN, LINES)                                      \
    static void NAME(const void *wv, const void *xv, int nx, int n, float *out, int stride) {      \
        const BLOCK_T *b = wv;                                                                     \
        const struct ops_xq *x = xv;                                                               \
        const float *tab = quant_f16_table;                                                        \
        const int nb = n / QUANT_QK;                                                               \
        const __m128i zero = _mm_setzero_si128();                                                  \
        for (int i0 = 0; i0 < nx; i0 += SSE2_ROWS) {                                               \
            const int m = MIN(SSE2_ROWS, nx - i0);                                                 \
            const int16_t *xq = x->q + (size_t)i0 * (size_t)n;                                     \
            const float *xd = x->d + (size_t)i0 * (size_t)nb;                                      \
            __m128 total[SSE2_ROWS];                                                               \
            __m128i s[SSE2_ROWS][4];                                                               \
            __m128i w[4];                                                                          \
            for (int i = 0; i < m; i++)                                                            \
                total[i] = _mm_setzero_ps();                                                       \
            int k = 0;                                                                             \
            for (; k + 4 <= nb; k += 4) {                                                          \
                sse2_prefetch(b + k, LINES);                                                       \
                for (int j = 0; j < 4; j++) {                                                      \
                    UNPACK_FN(b + k + j, w);                                                       \
                    for (int i = 0; i < m; i++)                                                    \
                        s[i][j] = sse2_madd4(w, xq + (size_t)i * n + (k + j) * QUANT_QK);          \
                }                                                                                  \
                __m128 wd =                                                                        \
                    _mm_set_ps(sse2_half_in(tab, b[k + 3].d), sse2_half_in(tab, b[k + 2].d),       \
                               sse2_half_in(tab, b[k + 1].d), sse2_half_in(tab, b[k].d));          \
                for (int i = 0; i < m; i++) {                                                      \
                    __m128i si = sse2_sum4_i32(s[i][0], s[i][1], s[i][2], s[i][3]);                \
                    __m128 scale = _mm_mul_ps(wd, _mm_loadu_ps(xd + (size_t)i * nb + k));          \
                    total[i] = _mm_add_ps(total[i], _mm_mul_ps(_mm_cvtepi32_ps(si), scale));       \
                }                                                                                  \
            }                                                                                      \
            for (; k < nb; k++) {                                                                  \
                UNPACK_FN(b + k, w);                                                               \
                float wdk = sse2_half_in(tab, b[k].d);                                             \
                for (int i = 0; i < m; i++) {                                                      \
                    __m128i si = sse2_madd4(w, xq + (size_t)i * n + k * QUANT_QK);                 \
                    __m128 sum = _mm_cvtepi32_ps(sse2_sum4_i32(si, zero, zero, zero));             \
                    __m128 scale = _mm_set_ss(wdk * xd[(size_t)i * nb + k]);                       \
                    total[i] = _mm_add_ps(total[i], _mm_mul_ps(sum, scale));                       \
                }                                                                                  \
            }                                                                                      \
            for (int i = 0; i < m; i++)                                                            \
                out[(size_t)(i0 + i) * stride] = sse2_hsum(total[i]) * SSE2_WIDEN_SCALE;           \
        }                                                                                          \
    }

SSE2_DEFINE_DOT_ROWS(sse2_dot_q8_0_rows, struct quant_q8_0, sse2_q8_unpack, 3)
SSE2_DEFINE_DOT_ROWS(sse2_dot_q4_0_rows, struct quant_q4_0, sse2_q4_unpack, 2)

static float sse2_dot_f32_row(const void *w, const void *x, int n) {
    return sse2_dot_f32(w, x, n);
}

static float sse2_dot_f16_row(const void *w, const void *x, int n) {
    return sse2_dot_f16(w, x, n);
}

/* Batched f16 rows (ops.h dot_rows): four inputs (n floats apart) at a time, each
 * weight vector converted once for the four; every input has its own accumulators and
 * the single-input kernel's operations in its order, so out[i * stride] is that
 * kernel's result to the bit. The inputs past a multiple of four take the
 * single-input kernel. (F32 rows: ops_att.h's dot_f32_rows.) */
static void sse2_dot_f16_rows(const void *wv, const void *xv, int nx, int n, float *out,
                              int stride) {
    const uint16_t *w = wv;
    const float *x = xv, *tab = quant_f16_table;
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
            __m128 wv4 = _mm_set_ps(sse2_half_in(tab, w[i + 3]), sse2_half_in(tab, w[i + 2]),
                                    sse2_half_in(tab, w[i + 1]), sse2_half_in(tab, w[i]));
            acc[0] = _mm_add_ps(acc[0], _mm_mul_ps(wv4, _mm_loadu_ps(xr[0] + i)));
            acc[1] = _mm_add_ps(acc[1], _mm_mul_ps(wv4, _mm_loadu_ps(xr[1] + i)));
            acc[2] = _mm_add_ps(acc[2], _mm_mul_ps(wv4, _mm_loadu_ps(xr[2] + i)));
            acc[3] = _mm_add_ps(acc[3], _mm_mul_ps(wv4, _mm_loadu_ps(xr[3] + i)));
        }
        for (int j = 0; j < 4; j++) {
            float s = sse2_hsum(acc[j]);
            for (int k = i; k < n; k++)
                s += sse2_half(w[k]) * xr[j][k];
            out[(size_t)(r + j) * stride] = s;
        }
    }
    for (; r < nx; r++)
        out[(size_t)r * stride] = sse2_dot_f16(w, x + (size_t)r * n, n);
}

static float sse2_dot_i8(const int8_t *w, const float *x, int n) {
    __m128 acc = _mm_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16)
        acc = sse2_mac_i8x16(acc, _mm_loadu_si128((const __m128i *)(w + i)), x + i);
    float s = sse2_hsum(acc);
    for (; i < n; i++)
        s += (float)w[i] * x[i];
    return s;
}

/* e^x for four floats (Cephes-style: x = n ln2 + r, degree-6 polynomial in r,
 * times 2^n built in the exponent bits); relative error about 2e-7. Inputs are
 * clamped to [-87, 88], so tiny results come out near 1e-38 instead of 0. */
static __m128 sse2_exp(__m128 x) {
    x = _mm_min_ps(_mm_max_ps(x, _mm_set1_ps(-87.0f)), _mm_set1_ps(88.0f));
    __m128 fx = _mm_add_ps(_mm_mul_ps(x, _mm_set1_ps(1.44269504088896341f)), _mm_set1_ps(0.5f));
    __m128 t = _mm_cvtepi32_ps(_mm_cvttps_epi32(fx));
    fx = _mm_sub_ps(t, _mm_and_ps(_mm_cmpgt_ps(t, fx), _mm_set1_ps(1.0f))); /* floor */
    x = _mm_sub_ps(x, _mm_mul_ps(fx, _mm_set1_ps(0.693359375f)));
    x = _mm_sub_ps(x, _mm_mul_ps(fx, _mm_set1_ps(-2.12194440e-4f)));
    __m128 y = _mm_set1_ps(1.9875691500e-4f);
    y = _mm_add_ps(_mm_mul_ps(y, x), _mm_set1_ps(1.3981999507e-3f));
    y = _mm_add_ps(_mm_mul_ps(y, x), _mm_set1_ps(8.3334519073e-3f));
    y = _mm_add_ps(_mm_mul_ps(y, x), _mm_set1_ps(4.1665795894e-2f));
    y = _mm_add_ps(_mm_mul_ps(y, x), _mm_set1_ps(1.6666665459e-1f));
    y = _mm_add_ps(_mm_mul_ps(y, x), _mm_set1_ps(5.0000001201e-1f));
    y = _mm_add_ps(_mm_mul_ps(y, _mm_mul_ps(x, x)), _mm_add_ps(x, _mm_set1_ps(1.0f)));
    __m128i e = _mm_slli_epi32(_mm_add_epi32(_mm_cvttps_epi32(fx), _mm_set1_epi32(127)), 23);
    return _mm_mul_ps(y, _mm_castsi128_ps(e));
}

static void sse2_softmax(float *x, int n) {
    float mx = x[0];
    for (int i = 1; i < n; i++)
        mx = x[i] > mx ? x[i] : mx;
    __m128 vmx = _mm_set1_ps(mx), acc = _mm_setzero_ps();
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        __m128 e = sse2_exp(_mm_sub_ps(_mm_loadu_ps(x + i), vmx));
        _mm_storeu_ps(x + i, e);
        acc = _mm_add_ps(acc, e);
    }
    float sum = sse2_hsum(acc);
    for (; i < n; i++) {
        float t[4] = {x[i] - mx, 0, 0, 0};
        _mm_storeu_ps(t, sse2_exp(_mm_loadu_ps(t)));
        x[i] = t[0];
        sum += t[0];
    }
    __m128 inv = _mm_set1_ps(1.0f / sum);
    for (i = 0; i + 4 <= n; i += 4)
        _mm_storeu_ps(x + i, _mm_mul_ps(_mm_loadu_ps(x + i), inv));
    for (; i < n; i++)
        x[i] *= 1.0f / sum;
}

static void sse2_swiglu(float *g, const float *up, int n) {
    const __m128 one = _mm_set1_ps(1.0f);
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        __m128 v = _mm_loadu_ps(g + i);
        __m128 e = sse2_exp(_mm_sub_ps(_mm_setzero_ps(), v));
        _mm_storeu_ps(g + i, _mm_mul_ps(_mm_div_ps(v, _mm_add_ps(one, e)), _mm_loadu_ps(up + i)));
    }
    for (; i < n; i++) {
        float t[4] = {-g[i], 0, 0, 0};
        _mm_storeu_ps(t, sse2_exp(_mm_loadu_ps(t)));
        g[i] = g[i] / (1.0f + t[0]) * up[i];
    }
}

/* x / rms(x) * weight: the sum of squares is sse2_dot_f32 of x with itself (two
 * 4-lane accumulators over steps of 8, the AVX2 set's one 8-lane accumulator), then
 * 1 / sqrt(ss / n + eps) with the exactly rounded sqrtss, then weight * (scale * x). */
static void sse2_rmsnorm(float *out, const float *x, const float *weight, int n, float eps) {
    float ss = sse2_dot_f32(x, x, n);
    float scale = 1.0f / _mm_cvtss_f32(_mm_sqrt_ss(_mm_set_ss(ss / (float)n + eps)));
    const __m128 vs = _mm_set1_ps(scale);
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        __m128 t = _mm_mul_ps(vs, _mm_loadu_ps(x + i));
        _mm_storeu_ps(out + i, _mm_mul_ps(_mm_loadu_ps(weight + i), t));
    }
    for (; i < n; i++)
        out[i] = weight[i] * (scale * x[i]);
}

/* RoPE (ops.h ops_rope): NEOX four pairs a step (cos and sin split out of the
 * interleaved table), adjacent pairs two a step (each cos and sin doubled, the pairs
 * swapped, the even lanes' products negated: a + (-b) is a - b to the bit); the
 * pairs left over one at a time (ops_rope_pair, the same operations). */
static void sse2_rope(float *x, int n, int hd, const float *cs, int pairs, int half) {
    const __m128 neg_even =
        _mm_castsi128_ps(_mm_set_epi32(0, (int)0x80000000u, 0, (int)0x80000000u));
    for (int h = 0; h < n; h++) {
        float *v = x + (size_t)h * (size_t)hd;
        int j = 0;
        if (half) {
            for (; j + 4 <= pairs; j += 4) {
                __m128 t0 = _mm_loadu_ps(cs + 2 * j), t1 = _mm_loadu_ps(cs + 2 * j + 4);
                __m128 c = _mm_shuffle_ps(t0, t1, _MM_SHUFFLE(2, 0, 2, 0));
                __m128 sn = _mm_shuffle_ps(t0, t1, _MM_SHUFFLE(3, 1, 3, 1));
                __m128 v0 = _mm_loadu_ps(v + j), v1 = _mm_loadu_ps(v + j + half);
                _mm_storeu_ps(v + j, _mm_sub_ps(_mm_mul_ps(v0, c), _mm_mul_ps(v1, sn)));
                _mm_storeu_ps(v + j + half, _mm_add_ps(_mm_mul_ps(v0, sn), _mm_mul_ps(v1, c)));
            }
        } else {
            for (; j + 2 <= pairs; j += 2) {
                __m128 t = _mm_loadu_ps(cs + 2 * j); /* c0 s0 c1 s1 */
                __m128 c = _mm_shuffle_ps(t, t, _MM_SHUFFLE(2, 2, 0, 0));
                __m128 sn = _mm_shuffle_ps(t, t, _MM_SHUFFLE(3, 3, 1, 1));
                __m128 xv = _mm_loadu_ps(v + 2 * j); /* a0 b0 a1 b1 */
                __m128 sw = _mm_shuffle_ps(xv, xv, _MM_SHUFFLE(2, 3, 0, 1));
                __m128 q = _mm_xor_ps(_mm_mul_ps(sw, sn), neg_even); /* -b0 s0, a0 s0, ... */
                _mm_storeu_ps(v + 2 * j, _mm_add_ps(_mm_mul_ps(xv, c), q));
            }
        }
        ops_rope_rest(v, cs, j, pairs, half);
    }
}

/* For t < m in order, y(n) += w[t] * rows[t](n), each element y + (w * x): two
 * roundings. Eight columns stay in registers across the m positions. */
static inline void att_madd(float *y, const float *w, const float *const *rows, int m, int n) {
    int c = 0;
    for (; c + 8 <= n; c += 8) {
        __m128 y0 = _mm_loadu_ps(y + c), y1 = _mm_loadu_ps(y + c + 4);
        for (int t = 0; t < m; t++) {
            __m128 wt = _mm_set1_ps(w[t]);
            y0 = _mm_add_ps(y0, _mm_mul_ps(wt, _mm_loadu_ps(rows[t] + c)));
            y1 = _mm_add_ps(y1, _mm_mul_ps(wt, _mm_loadu_ps(rows[t] + c + 4)));
        }
        _mm_storeu_ps(y + c, y0);
        _mm_storeu_ps(y + c + 4, y1);
    }
    for (; c + 4 <= n; c += 4) {
        __m128 y0 = _mm_loadu_ps(y + c);
        for (int t = 0; t < m; t++)
            y0 = _mm_add_ps(y0, _mm_mul_ps(_mm_set1_ps(w[t]), _mm_loadu_ps(rows[t] + c)));
        _mm_storeu_ps(y + c, y0);
    }
    for (; c < n; c++)
        for (int t = 0; t < m; t++)
            y[c] += w[t] * rows[t][c];
}

static void sse2_axpy(float *y, float a, const float *x, int n) {
    att_madd(y, &a, &x, 1, n);
}

/* Four halves (one in the low 16 bits of each lane) as floats, exactly the values
 * of quant_f16_to_f32: a normal half moves its exponent and mantissa into place; a
 * subnormal is its mantissa times 2^-24 (exact); inf and NaN keep their mantissa
 * under the float's all-ones exponent. */
static inline __m128 sse2_half4(__m128i x) {
    __m128i em = _mm_and_si128(x, _mm_set1_epi32(0x7fff));
    __m128i sign = _mm_slli_epi32(_mm_xor_si128(x, em), 16);
    __m128i moved = _mm_slli_epi32(em, 13);
    __m128i normal = _mm_add_epi32(moved, _mm_set1_epi32((127 - 15) << 23));
    __m128 sub = _mm_mul_ps(_mm_cvtepi32_ps(em), _mm_set1_ps(1.0f / 16777216.0f));
    __m128i special = _mm_or_si128(moved, _mm_set1_epi32(0x7f800000));
    __m128i is_sub = _mm_cmplt_epi32(em, _mm_set1_epi32(0x400));
    __m128i is_special = _mm_cmpgt_epi32(em, _mm_set1_epi32(0x7bff));
    __m128i r = _mm_or_si128(_mm_and_si128(is_sub, _mm_castps_si128(sub)),
                             _mm_andnot_si128(is_sub, normal));
    r = _mm_or_si128(_mm_and_si128(is_special, special), _mm_andnot_si128(is_special, r));
    return _mm_castsi128_ps(_mm_or_si128(r, sign));
}

/* f(n) = the halves h(n) as floats, eight at a time without the table. */
static inline void att_halves(float *f, const uint16_t *h, int n) {
    const __m128i zero = _mm_setzero_si128();
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i v = _mm_loadu_si128((const __m128i *)(h + i));
        _mm_storeu_ps(f + i, sse2_half4(_mm_unpacklo_epi16(v, zero)));
        _mm_storeu_ps(f + i + 4, sse2_half4(_mm_unpackhi_epi16(v, zero)));
    }
    for (; i < n; i++)
        f[i] = sse2_half(h[i]);
}

#define OPS_ATT_NAME(x) sse2_att_##x
#define OPS_ATT_ACC struct sse2_att_acc
#include "llm/ops_att.h"

/* As the scalar quantizer, four lanes at a time: round half away from zero by
 * adding 0.5 with the sign of t, then truncating. */
static void sse2_quantize(struct ops_xq *xq, const float *x, int n) {
    const __m128 absmask = _mm_castsi128_ps(_mm_set1_epi32(0x7fffffff));
    const __m128 signmask = _mm_castsi128_ps(_mm_set1_epi32((int)0x80000000u));
    const __m128 half = _mm_set1_ps(0.5f), fmax = _mm_set1_ps(OPS_FLOAT_MAX);
    for (int k = 0; k < n / QUANT_QK; k++) {
        const float *v = x + k * QUANT_QK;
        __m128 m = _mm_setzero_ps(), bad = _mm_setzero_ps();
        for (int i = 0; i < QUANT_QK; i += 4) {
            __m128 a = _mm_and_ps(_mm_loadu_ps(v + i), absmask);
            bad = _mm_or_ps(bad, _mm_cmpnle_ps(a, fmax)); /* inf, or NaN (unordered) */
            m = _mm_max_ps(m, a);
        }
        if (_mm_movemask_ps(bad)) {
            ops_quantize_nonfinite(xq, k);
            continue;
        }
        m = _mm_max_ps(m, _mm_movehl_ps(m, m));
        m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
        float d = _mm_cvtss_f32(m) / 127.0f, id = d > 0 ? 1.0f / d : 0.0f;
        xq->d[k] = d;
        __m128 vid = _mm_set1_ps(id);
        for (int i = 0; i < QUANT_QK; i += 8) {
            __m128 t0 = _mm_mul_ps(_mm_loadu_ps(v + i), vid);
            __m128 t1 = _mm_mul_ps(_mm_loadu_ps(v + i + 4), vid);
            t0 = _mm_add_ps(t0, _mm_or_ps(half, _mm_and_ps(t0, signmask)));
            t1 = _mm_add_ps(t1, _mm_or_ps(half, _mm_and_ps(t1, signmask)));
            __m128i q = _mm_packs_epi32(_mm_cvttps_epi32(t0), _mm_cvttps_epi32(t1));
            _mm_storeu_si128((__m128i *)(xq->q + k * QUANT_QK + i), q);
        }
    }
}

/* Rows replacing the scalar set's dot products (input and dequantizer stay the
 * table's). */
static const struct ops_type sse2_types[] = {
    {MODEL_WTYPE_F32, OPS_INPUT_F32, NULL, sse2_dot_f32_row, sse2_att_dot_f32_rows},
    {MODEL_WTYPE_F16, OPS_INPUT_F32, NULL, sse2_dot_f16_row, sse2_dot_f16_rows},
    {MODEL_WTYPE_Q8_0, OPS_INPUT_Q8, NULL, sse2_dot_q8_0, sse2_dot_q8_0_rows},
    {MODEL_WTYPE_Q4_0, OPS_INPUT_Q8, NULL, sse2_dot_q4_0, sse2_dot_q4_0_rows},
    {MODEL_WTYPE_Q4_1, OPS_INPUT_Q8, NULL, wt_dot_q4_1_sse2, wt_dot_q4_1_rows_sse2},
    {MODEL_WTYPE_Q5_0, OPS_INPUT_Q8, NULL, wt_dot_q5_0_sse2, wt_dot_q5_0_rows_sse2},
    {MODEL_WTYPE_Q5_1, OPS_INPUT_Q8, NULL, wt_dot_q5_1_sse2, wt_dot_q5_1_rows_sse2},
    {MODEL_WTYPE_Q2_K, OPS_INPUT_Q8K, NULL, wt_dot_q2_k_sse2, wt_dot_q2_k_rows_sse2},
    {MODEL_WTYPE_Q3_K, OPS_INPUT_Q8K, NULL, wt_dot_q3_k_sse2, wt_dot_q3_k_rows_sse2},
    {MODEL_WTYPE_Q4_K, OPS_INPUT_Q8K, NULL, wt_dot_q4_k_sse2, wt_dot_q4_k_rows_sse2},
    {MODEL_WTYPE_Q5_K, OPS_INPUT_Q8K, NULL, wt_dot_q5_k_sse2, wt_dot_q5_k_rows_sse2},
    {MODEL_WTYPE_Q6_K, OPS_INPUT_Q8K, NULL, wt_dot_q6_k_sse2, wt_dot_q6_k_rows_sse2},
    {MODEL_WTYPE_BF16, OPS_INPUT_BF16, NULL, wt_dot_bf16_sse2, NULL},
};

const struct ops_kernels ops_sse2 = {
    .name = "sse2",
    .types = sse2_types,
    .n_types = (int)ARRAY_SIZE(sse2_types),
    .dot_f32 = sse2_dot_f32,
    .dot_i8 = sse2_dot_i8,
    .softmax = sse2_softmax,
    .swiglu = sse2_swiglu,
    .rmsnorm = sse2_rmsnorm,
    .rope = sse2_rope,
    .axpy = sse2_axpy,
    .quantize = sse2_quantize,
    OPS_ATT_KERNELS,
};
