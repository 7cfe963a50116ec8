/*
 * Kernels of the legacy block types Q4_1, Q5_0, Q5_1 (wt_legacy.c scalar,
 * wt_legacy_sse2.c SSE2, wt_legacy_avx2.c AVX2), named by their rows in the
 * weight-type table (ops.c, ops_sse2.c, ops_avx2.c). x is the input rounded to Q8
 * blocks (struct ops_xq), n a multiple of QUANT_QK; the batched forms (dot_rows, see
 * ops.h) take nx such inputs row after row.
 */
#ifndef CLLM_LLM_WT_LEGACY_H
#define CLLM_LLM_WT_LEGACY_H

#include "port.h"

void wt_dequant_q4_1(const void *row, float *out, int n);
void wt_dequant_q5_0(const void *row, float *out, int n);
void wt_dequant_q5_1(const void *row, float *out, int n);

float wt_dot_q4_1(const void *w, const void *x, int n);
float wt_dot_q5_0(const void *w, const void *x, int n);
float wt_dot_q5_1(const void *w, const void *x, int n);
float wt_dot_q4_1_sse2(const void *w, const void *x, int n);
float wt_dot_q5_0_sse2(const void *w, const void *x, int n);
float wt_dot_q5_1_sse2(const void *w, const void *x, int n);
void wt_dot_q4_1_rows_sse2(const void *w, const void *x, int nx, int n, float *out, int stride);
void wt_dot_q5_0_rows_sse2(const void *w, const void *x, int nx, int n, float *out, int stride);
void wt_dot_q5_1_rows_sse2(const void *w, const void *x, int nx, int n, float *out, int stride);

/* The 32 values of a block before scale and offset: 4-bit (0..15), and 5-bit with
 * the fifth bits in qh minus bias (Q5_0: 16, Q5_1: 0). */
void wt_q4_values(const uint8_t *qs, int8_t *v);
void wt_q5_values(const uint8_t *qh, const uint8_t *qs, int bias, int8_t *v);

/* One block's share of a dot product from its exact integer sums (the scalar set;
 * the SIMD sets do the same float operations on vectors, wt_legacy_simd.h):
 * d * xd * dot, and with an offset m (Q4_1, Q5_1) + m * xd * sum, sum being the
 * block's input values summed. */
float wt_block_scale(float d, float xd, int32_t dot);
float wt_block_scale_m(float d, float m, float xd, int32_t dot, int32_t sum);

#endif
