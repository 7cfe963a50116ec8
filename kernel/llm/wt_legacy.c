/*
 * The legacy block types beside Q8_0/Q4_0 (ggml layouts, see quant.h): Q4_1, Q5_0
 * and Q5_1. Their dequantizers and scalar dot products, named by their rows in the
 * weight-type table of ops.c; the SSE2 dot products are in wt_legacy_sse2.c. They multiply the
 * input rounded to Q8 blocks as ggml's CPU backend does: Q8_0 for Q5_0, Q8_1 (the same values and
 * the block's sum) for Q4_1 and Q5_1, whose offset m multiplies the sum. The integer block sums are
 * exact, so every kernel set agrees on them.
 */
#include "llm/wt_legacy.h"
#include "llm/ops.h"
#include "llm/quant.h"

static float wt_half(uint16_t h) {
    return quant_f16_table ? quant_f16_table[h] : quant_f16_to_f32(h);
}

void wt_q4_values(const uint8_t *qs, int8_t *v) {
    for (int j = 0; j < QUANT_QK / 2; j++) {
        v[j] = (int8_t)(qs[j] & 15);
        v[j + 16] = (int8_t)(qs[j] >> 4);
    }
}

void wt_q5_values(const uint8_t *qh4, const uint8_t *qs, int bias, int8_t *v) {
    uint32_t qh =
        (uint32_t)qh4[0] | (uint32_t)qh4[1] << 8 | (uint32_t)qh4[2] << 16 | (uint32_t)qh4[3] << 24;
    for (int j = 0; j < QUANT_QK / 2; j++) {
        v[j] = (int8_t)(((qs[j] & 15) | ((qh >> j) & 1) << 4) - bias);
        v[j + 16] = (int8_t)(((qs[j] >> 4) | ((qh >> (j + 16)) & 1) << 4) - bias);
    }
}

void wt_dequant_q4_1(const void *row, float *out, int n) {
    const struct quant_q4_1 *b = row;
    int8_t v[QUANT_QK];
    for (int k = 0; k < n / QUANT_QK; k++) {
        float d = wt_half(b[k].d), m = wt_half(b[k].m);
        wt_q4_values(b[k].qs, v);
        for (int i = 0; i < QUANT_QK; i++)
            out[k * QUANT_QK + i] = d * (float)v[i] + m;
    }
}

void wt_dequant_q5_0(const void *row, float *out, int n) {
    const struct quant_q5_0 *b = row;
    int8_t v[QUANT_QK];
    for (int k = 0; k < n / QUANT_QK; k++) {
        float d = wt_half(b[k].d);
        wt_q5_values(b[k].qh, b[k].qs, 16, v);
        for (int i = 0; i < QUANT_QK; i++)
            out[k * QUANT_QK + i] = d * (float)v[i];
    }
}

void wt_dequant_q5_1(const void *row, float *out, int n) {
    const struct quant_q5_1 *b = row;
    int8_t v[QUANT_QK];
    for (int k = 0; k < n / QUANT_QK; k++) {
        float d = wt_half(b[k].d), m = wt_half(b[k].m);
        wt_q5_values(b[k].qh, b[k].qs, 0, v);
        for (int i = 0; i < QUANT_QK; i++)
            out[k * QUANT_QK + i] = d * (float)v[i] + m;
    }
}

/* sum v[i] * x[i] over one block: exact */
static int32_t wt_block_dot(const int8_t *v, const int16_t *x) {
    int32_t acc = 0;
    for (int i = 0; i < QUANT_QK; i++)
        acc += (int32_t)v[i] * x[i];
    return acc;
}

static int32_t wt_block_sum(const int16_t *x) {
    int32_t acc = 0;
    for (int i = 0; i < QUANT_QK; i++)
        acc += x[i];
    return acc;
}

float wt_block_scale(float d, float xd, int32_t dot) {
    return d * xd * (float)dot;
}

float wt_block_scale_m(float d, float m, float xd, int32_t dot, int32_t sum) {
    return d * xd * (float)dot + m * xd * (float)sum;
}

float wt_dot_q4_1(const void *wv, const void *xv, int n) {
    const struct quant_q4_1 *b = wv;
    const struct ops_xq *x = xv;
    int8_t v[QUANT_QK];
    float s = 0;
    for (int k = 0; k < n / QUANT_QK; k++) {
        const int16_t *xq = x->q + k * QUANT_QK;
        wt_q4_values(b[k].qs, v);
        s += wt_block_scale_m(wt_half(b[k].d), wt_half(b[k].m), x->d[k], wt_block_dot(v, xq),
                              wt_block_sum(xq));
    }
    return s;
}

float wt_dot_q5_0(const void *wv, const void *xv, int n) {
    const struct quant_q5_0 *b = wv;
    const struct ops_xq *x = xv;
    int8_t v[QUANT_QK];
    float s = 0;
    for (int k = 0; k < n / QUANT_QK; k++) {
        wt_q5_values(b[k].qh, b[k].qs, 16, v);
        s += wt_block_scale(wt_half(b[k].d), x->d[k], wt_block_dot(v, x->q + k * QUANT_QK));
    }
    return s;
}

float wt_dot_q5_1(const void *wv, const void *xv, int n) {
    const struct quant_q5_1 *b = wv;
    const struct ops_xq *x = xv;
    int8_t v[QUANT_QK];
    float s = 0;
    for (int k = 0; k < n / QUANT_QK; k++) {
        const int16_t *xq = x->q + k * QUANT_QK;
        wt_q5_values(b[k].qh, b[k].qs, 0, v);
        s += wt_block_scale_m(wt_half(b[k].d), wt_half(b[k].m), x->d[k], wt_block_dot(v, xq),
                              wt_block_sum(xq));
    }
    return s;
}
