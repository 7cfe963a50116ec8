/*
 * Kernels of BF16 weights (wt_bf16.c scalar, wt_bf16_sse2.c SSE2), named by their
 * rows in the weight-type table (ops.c, ops_sse2.c). A bfloat16 is the high half of
 * a float32. As in ggml's CPU backend the input is rounded to bfloat16 too
 * (ops_round_bf16); the products of two bfloat16 are exact in float and are summed
 * in double.
 */
#ifndef CLLM_LLM_WT_BF16_H
#define CLLM_LLM_WT_BF16_H

#include "port.h"

void wt_dequant_bf16(const void *row, float *out, int n);
float wt_dot_bf16(const void *w, const void *x, int n);
float wt_dot_bf16_sse2(const void *w, const void *x, int n);

#endif
