/*
 * Kernels of the K-quant weight types Q2_K..Q6_K (wt_kquant.c scalar,
 * wt_kquant_sse2.c SSE2, wt_kquant_avx2.c AVX2), named by their rows in the
 * weight-type table (ops.c, ops_sse2.c, ops_avx2.c). x is the input rounded to
 * Q8_K blocks (struct ops_xk), n a multiple of OPS_QK_K. Block layouts (ggml; d,
 * dmin IEEE halves), per super-block of 256:
 *
 *   Q4_K (144 bytes)  d, dmin, scales[12], qs[128]
 *   Q5_K (176 bytes)  d, dmin, scales[12], qh[32], qs[128]
 *   Q6_K (210 bytes)  ql[128], qh[64], int8 scales[16], d
 *   Q2_K (84 bytes)   scales[16], qs[64], d, dmin
 *   Q3_K (110 bytes)  hmask[32], qs[64], scales[12], d
 *
 * Q4_K/Q5_K: 8 chunks of 32 values; chunk j has a 6-bit scale sc and min m packed in
 * scales[12] (j < 4: sc = s[j] & 63, m = s[j + 4] & 63; else sc = s[j + 4] & 15 |
 * (s[j - 4] >> 6) << 4, m = s[j + 4] >> 4 | (s[j] >> 6) << 4); value l of chunk j is
 * (d * sc) * q - (dmin * m), q the low (even j) or high (odd j) nibble of
 * qs[(j / 2) * 32 + l], Q5_K adding bit j of qh[l] as 16. Q6_K: 16 scales of 16
 * values; value l + 32 k of half h (k < 4) is (d * scales[8 h + l / 16 + 2 k]) *
 * (q - 32), q = nibble (k >= 2: high) of ql[64 h + 32 (k & 1) + l] | bits 2k, 2k+1
 * of qh[32 h + l] << 4. Q2_K/Q3_K: 16 sub-blocks of 16; sub-block i = 8 h + 2 j + t
 * (h, t < 2, j < 4) holds 2-bit values q = bits 2j, 2j+1 of qs[32 h + 16 t + l].
 * Q2_K: value (d * (scales[i] & 15)) * q - dmin * (scales[i] >> 4). Q3_K: value
 * (d * (s_i - 32)) * (q - 4 + 4 * bit 4h + j of hmask[16 t + l]), s_i the 6-bit
 * scale: low 4 bits the low (i < 8) or high nibble of scales[i % 8], high 2 bits
 * bits 2 (i / 4), 2 (i / 4) + 1 of scales[8 + i % 4].
 */
#ifndef CLLM_LLM_WT_KQUANT_H
#define CLLM_LLM_WT_KQUANT_H

#include "port.h"

#include "llm/ops.h"
#include "llm/quant.h"

struct wt_q4_k {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qs[128];
} PACKED;

struct wt_q5_k {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qh[32];
    uint8_t qs[128];
} PACKED;

struct wt_q6_k {
    uint8_t ql[128];
    uint8_t qh[64];
    int8_t scales[16];
    uint16_t d;
} PACKED;

struct wt_q2_k {
    uint8_t scales[16];
    uint8_t qs[64];
    uint16_t d, dmin;
} PACKED;

struct wt_q3_k {
    uint8_t hmask[32];
    uint8_t qs[64];
    uint8_t scales[12];
    uint16_t d;
} PACKED;

void wt_dequant_q2_k(const void *row, float *out, int n);
void wt_dequant_q3_k(const void *row, float *out, int n);
void wt_dequant_q4_k(const void *row, float *out, int n);
void wt_dequant_q5_k(const void *row, float *out, int n);
void wt_dequant_q6_k(const void *row, float *out, int n);

float wt_dot_q2_k(const void *w, const void *x, int n);
float wt_dot_q3_k(const void *w, const void *x, int n);
float wt_dot_q4_k(const void *w, const void *x, int n);
float wt_dot_q5_k(const void *w, const void *x, int n);
float wt_dot_q6_k(const void *w, const void *x, int n);
float wt_dot_q2_k_sse2(const void *w, const void *x, int n);
float wt_dot_q3_k_sse2(const void *w, const void *x, int n);
float wt_dot_q4_k_sse2(const void *w, const void *x, int n);
float wt_dot_q5_k_sse2(const void *w, const void *x, int n);
float wt_dot_q6_k_sse2(const void *w, const void *x, int n);

/* The signed scale (s_i - 32) of sub-block i of a Q3_K super-block. */
int wt_k3_scale(const uint8_t *scales, int i);

/* Scale and min of chunk j (0..7) of a Q4_K/Q5_K super-block. */
void wt_k_scale_min(const uint8_t *scales, int j, int *sc, int *m);

/* The integer sums of one Q4_K (qh NULL) or Q5_K super-block against its Q8_K
 * input block: dot = sum over chunks of sc times the chunk's dot product, mins =
 * sum over chunks of m times the chunk's input sum (from bsums). */
void wt_k45_sums(const uint8_t *scales, const uint8_t *qs, const uint8_t *qh, const int16_t *x,
                 const int16_t *bsums, int32_t *dot, int32_t *mins);

/* The form of wt_k45_sums, which the vector sets' own sums take. */
typedef void (*wt_k45_sums_fn)(const uint8_t *scales, const uint8_t *qs, const uint8_t *qh,
                               const int16_t *x, const int16_t *bsums, int32_t *dot, int32_t *mins);

/* A Q4_K (has_qh false) or Q5_K row times x, the super-block sums from `sums`: the
 * dot product of every kernel set, which differ only in how they take the sums. */
float wt_k45_dot(const void *w, const void *x, int n, bool has_qh, wt_k45_sums_fn sums);

/* Super-blocks a wt_k45_blocks8_fn call takes: their sums come back together. */
#define WT_K_BLOCKS 16

/* The integer sums (wt_k45_sums' dot and mins) of super-blocks k0 .. k0 + m - 1 (m <=
 * WT_K_BLOCKS) of the Q4_K or Q5_K row w against the int8 copy of x (struct ops_xk's
 * q8), and each block's d and dmin as floats (exact): the AVX2 set's, a run of blocks a
 * call rather than one. */
typedef void (*wt_k45_blocks8_fn)(const uint8_t *w, const struct ops_xk *x, int k0, int m,
                                  int32_t *dot, int32_t *mins, float *d, float *dmin);

/* wt_k45_dot with the sums from `blocks`: the same float steps, block after block. */
float wt_k45_dot8(const void *w, const void *x, int n, bool has_qh, wt_k45_blocks8_fn blocks);

/* One super-block's share from its exact integer sums: d * xd * dot - dmin * xd *
 * mins (mins = sum over chunks of m times the chunk's input sum), the same float
 * operations in every kernel set. */
float wt_k_scale(float d, float dmin, float xd, int32_t dot, int32_t mins);

/* Inputs per pass of the K-quant dot_rows kernels: a super-block is decoded once a
 * pass, and the pass's Q8_K blocks of it (512 bytes each) stay in L1. On the host
 * 32 gave 15 % more than 16 (Q4_K, 128 inputs). */
#define WT_K_ROWS 32

/* The exact integer sums of one super-block b against m inputs (m <= WT_K_ROWS):
 * input i's Q8_K values of the block at x + i * n, its sums of 16 at bsums + i *
 * (n / 16); dot[i] and mins[i] are the integers the type's dot kernel takes for
 * that block (mins[i] = 0 for a type without mins). The block is decoded once. */
typedef void (*wt_k_rows_fn)(const uint8_t *b, const int16_t *x, const int16_t *bsums, int m, int n,
                             int32_t *dot, int32_t *mins);

/* wt_k_rows_fn on the int8 copy of the inputs (q8, also n apart): the AVX2 set's. */
typedef void (*wt_k_rows8_fn)(const uint8_t *b, const int8_t *x, const int16_t *bsums, int m, int n,
                              int32_t *dot, int32_t *mins);

/* A K-quant row (super-blocks of `bytes`, halves d at d_at and dmin at dmin_at,
 * -1: none) against nx inputs x (row after row, as ops.c lays them out): out[i * stride] is the dot
 * kernel's result for input i, bit for bit, as every input's float steps are the dot's (s +=
 * wt_k_scale(...) per super-block, in order, from 0) and only the exact integer sums are shared
 * work. Inline so that the float steps are compiled as the calling dot kernel's are: with SSE in
 * the vector files, and in wt_kquant.c for Q4_K/Q5_K, whose dot (wt_k45_dot) lives there. */
static inline void wt_k_rows_by(const uint8_t *w, size_t bytes, int d_at, int dmin_at,
                                const struct ops_xk *x, int nx, int n, float *out, int stride,
                                wt_k_rows_fn sums, wt_k_rows8_fn sums8) {
    const int nb = n / OPS_QK_K;
    for (int i0 = 0; i0 < nx; i0 += WT_K_ROWS) {
        const int m = MIN(WT_K_ROWS, nx - i0);
        float s[WT_K_ROWS];
        int32_t dot[WT_K_ROWS], mins[WT_K_ROWS];
        for (int i = 0; i < m; i++)
            s[i] = 0;
        for (int k = 0; k < nb; k++) {
            const uint8_t *b = w + (size_t)k * bytes;
            uint16_t hd, hm = 0;
            memcpy(&hd, b + d_at, 2);
            if (dmin_at >= 0)
                memcpy(&hm, b + dmin_at, 2);
            float d = quant_f16_table ? quant_f16_table[hd] : quant_f16_to_f32(hd);
            float dmin =
                dmin_at < 0 ? 0.0f : (quant_f16_table ? quant_f16_table[hm] : quant_f16_to_f32(hm));
            const size_t at = (size_t)i0 * n + OPS_QK_K * k;
            const int16_t *bs = x->bsums + (size_t)i0 * (n / 16) + 16 * k;
            if (sums8)
                sums8(b, x->q8 + at, bs, m, n, dot, mins);
            else
                sums(b, x->q + at, bs, m, n, dot, mins);
            for (int i = 0; i < m; i++)
                s[i] += wt_k_scale(d, dmin, x->d[(size_t)(i0 + i) * nb + k], dot[i], mins[i]);
        }
        for (int i = 0; i < m; i++)
            out[(size_t)(i0 + i) * stride] = s[i];
    }
}

/* wt_k_rows with the int16 input (sums) or the int8 one (sums8): the one not NULL. The
 * two wrappers below fix which, so each caller's copy has no branch left. */
static inline void wt_k_rows(const uint8_t *w, size_t bytes, int d_at, int dmin_at,
                             const struct ops_xk *x, int nx, int n, float *out, int stride,
                             wt_k_rows_fn sums) {
    wt_k_rows_by(w, bytes, d_at, dmin_at, x, nx, n, out, stride, sums, NULL);
}

static inline void wt_k_rows8(const uint8_t *w, size_t bytes, int d_at, int dmin_at,
                              const struct ops_xk *x, int nx, int n, float *out, int stride,
                              wt_k_rows8_fn sums8) {
    wt_k_rows_by(w, bytes, d_at, dmin_at, x, nx, n, out, stride, NULL, sums8);
}

/* dot_rows of Q4_K (has_qh false) and Q5_K with the super-block sums from `sums`
 * (the vector sets' kernels; wt_kquant.c, beside wt_k45_dot). */
void wt_k45_dot_rows(const void *w, const void *x, int nx, int n, float *out, int stride,
                     bool has_qh, wt_k_rows_fn sums);
void wt_k45_dot_rows8(const void *w, const void *x, int nx, int n, float *out, int stride,
                      bool has_qh, wt_k_rows8_fn sums);

/* The SSE2 set's dot_rows (wt_kquant_sse2.c; the AVX2 set's: wt_avx2.h). */
void wt_dot_q2_k_rows_sse2(const void *w, const void *x, int nx, int n, float *out, int stride);
void wt_dot_q3_k_rows_sse2(const void *w, const void *x, int nx, int n, float *out, int stride);
void wt_dot_q4_k_rows_sse2(const void *w, const void *x, int nx, int n, float *out, int stride);
void wt_dot_q5_k_rows_sse2(const void *w, const void *x, int nx, int n, float *out, int stride);
void wt_dot_q6_k_rows_sse2(const void *w, const void *x, int nx, int n, float *out, int stride);

#endif
