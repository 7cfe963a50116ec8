/*
 * The K-quant weight types Q2_K..Q6_K (layouts in wt_kquant.h) and their
 * input form Q8_K: dequantizers, the Q8_K rounding (ops_quantize_k) and the scalar
 * dot products, rows of the weight-type table in ops.c. As in ggml's CPU backend a
 * K-quant matrix multiplies its input rounded to Q8_K blocks of 256; the integer
 * sums are exact, so every kernel set agrees on them.
 */
#include "llm/wt_kquant.h"
#include "llm/ops.h"
#include "llm/quant.h"

static float wt_k_half(uint16_t h) {
    return quant_f16_table ? quant_f16_table[h] : quant_f16_to_f32(h);
}

/* v rounded to the nearest integer, ties to even (|v| < 2^22): adding 1.5 * 2^23
 * leaves the rounded integer in the low mantissa bits. */
static int32_t wt_k_round(float v) {
    float t = v + 12582912.0f;
    uint32_t bits;
    memcpy(&bits, &t, 4);
    return (int32_t)(bits & 0x7fffff) - 0x400000;
}

void ops_quantize_k(struct ops_xk *xk, const float *x, int n) {
    for (int k = 0; k < n / OPS_QK_K; k++) {
        const float *v = x + k * OPS_QK_K;
        int16_t *q = xk->q + k * OPS_QK_K, *bs = xk->bsums + k * (OPS_QK_K / 16);
        int8_t *q8 = xk->q8 + k * OPS_QK_K;
        float amax = 0, vmax = 0;
        bool finite = true;
        for (int i = 0; i < OPS_QK_K; i++) {
            float a = fabsf(v[i]);
            finite = finite && a <= OPS_FLOAT_MAX;
            if (a > amax) {
                amax = a;
                vmax = v[i];
            }
        }
        if (!finite || amax == 0) {
            xk->d[k] = finite ? 0.0f : NAN;
            memset(q, 0, OPS_QK_K * sizeof(int16_t));
            memset(q8, 0, OPS_QK_K);
            memset(bs, 0, OPS_QK_K / 16 * sizeof(int16_t));
            continue;
        }
        float iscale = -127.0f / vmax;
        for (int i = 0; i < OPS_QK_K; i++) {
            q[i] = (int16_t)MIN(127, wt_k_round(iscale * v[i]));
            q8[i] = (int8_t)q[i];
        }
        for (int j = 0; j < OPS_QK_K / 16; j++) {
            int sum = 0;
            for (int i = 0; i < 16; i++)
                sum += q[16 * j + i];
            bs[j] = (int16_t)sum;
        }
        xk->d[k] = 1.0f / iscale;
    }
}

void wt_k_scale_min(const uint8_t *s, int j, int *sc, int *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
        *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

float wt_k_scale(float d, float dmin, float xd, int32_t dot, int32_t mins) {
    return d * xd * (float)dot - dmin * xd * (float)mins;
}

/* The 32 values of chunk j of a Q4_K (qh NULL) or Q5_K super-block. */
static void wt_k_chunk(const uint8_t *qs, const uint8_t *qh, int j, uint8_t *q) {
    const uint8_t *p = qs + (j / 2) * 32;
    for (int l = 0; l < 32; l++) {
        q[l] = (uint8_t)(j % 2 ? p[l] >> 4 : p[l] & 15);
        if (qh)
            q[l] |= (uint8_t)(((qh[l] >> j) & 1) << 4);
    }
}

/* The 32 values of chunk c (0..7) of a Q6_K super-block, minus 32. */
static void wt_k6_chunk(const struct wt_q6_k *b, int c, int8_t *q) {
    int h = c / 4, k = c % 4;
    const uint8_t *ql = b->ql + 64 * h + 32 * (k & 1), *qh = b->qh + 32 * h;
    for (int l = 0; l < 32; l++) {
        int lo = k >= 2 ? ql[l] >> 4 : ql[l] & 15;
        q[l] = (int8_t)((lo | ((qh[l] >> (2 * k)) & 3) << 4) - 32);
    }
}

static void wt_dequant_k45(const uint8_t *scales, const uint8_t *qs, const uint8_t *qh, float d,
                           float dmin, float *out) {
    uint8_t q[32];
    for (int j = 0; j < 8; j++) {
        int sc, m;
        wt_k_scale_min(scales, j, &sc, &m);
        float d1 = d * (float)sc, m1 = dmin * (float)m;
        wt_k_chunk(qs, qh, j, q);
        for (int l = 0; l < 32; l++)
            out[32 * j + l] = d1 * (float)q[l] - m1;
    }
}

void wt_dequant_q4_k(const void *row, float *out, int n) {
    const struct wt_q4_k *b = row;
    for (int k = 0; k < n / OPS_QK_K; k++)
        wt_dequant_k45(b[k].scales, b[k].qs, NULL, wt_k_half(b[k].d), wt_k_half(b[k].dmin),
                       out + k * OPS_QK_K);
}

void wt_dequant_q5_k(const void *row, float *out, int n) {
    const struct wt_q5_k *b = row;
    for (int k = 0; k < n / OPS_QK_K; k++)
        wt_dequant_k45(b[k].scales, b[k].qs, b[k].qh, wt_k_half(b[k].d), wt_k_half(b[k].dmin),
                       out + k * OPS_QK_K);
}

void wt_dequant_q6_k(const void *row, float *out, int n) {
    const struct wt_q6_k *b = row;
    int8_t q[32];
    for (int k = 0; k < n / OPS_QK_K; k++) {
        float d = wt_k_half(b[k].d);
        for (int c = 0; c < 8; c++) {
            wt_k6_chunk(&b[k], c, q);
            int h = c / 4, kk = c % 4;
            for (int l = 0; l < 32; l++) {
                float dl = d * (float)b[k].scales[8 * h + l / 16 + 2 * kk];
                out[k * OPS_QK_K + 128 * h + 32 * kk + l] = dl * (float)q[l];
            }
        }
    }
}

/* The super-block sums of a Q4_K/Q5_K block against its Q8_K input block. */
void wt_k45_sums(const uint8_t *scales, const uint8_t *qs, const uint8_t *qh, const int16_t *x,
                 const int16_t *bsums, int32_t *dot, int32_t *mins) {
    uint8_t q[32];
    *dot = *mins = 0;
    for (int j = 0; j < 8; j++) {
        int sc, m;
        wt_k_scale_min(scales, j, &sc, &m);
        wt_k_chunk(qs, qh, j, q);
        int32_t acc = 0;
        for (int l = 0; l < 32; l++)
            acc += q[l] * x[32 * j + l];
        *dot += sc * acc;
        *mins += m * (bsums[2 * j] + bsums[2 * j + 1]);
    }
}

float wt_k45_dot(const void *wv, const void *xv, int n, bool has_qh, wt_k45_sums_fn sums) {
    const uint8_t *p = wv;
    const struct ops_xk *x = xv;
    size_t bytes = has_qh ? sizeof(struct wt_q5_k) : sizeof(struct wt_q4_k);
    float s = 0;
    for (int k = 0; k < n / OPS_QK_K; k++, p += bytes) {
        uint16_t d, dmin;
        int32_t dot, mins;
        memcpy(&d, p, 2);
        memcpy(&dmin, p + 2, 2);
        const uint8_t *qh = has_qh ? p + 16 : NULL, *qs = p + 16 + (has_qh ? 32 : 0);
        sums(p + 4, qs, qh, x->q + k * OPS_QK_K, x->bsums + k * 16, &dot, &mins);
        s += wt_k_scale(wt_k_half(d), wt_k_half(dmin), x->d[k], dot, mins);
    }
    return s;
}

float wt_k45_dot8(const void *wv, const void *xv, int n, bool has_qh, wt_k45_blocks8_fn blocks) {
    const uint8_t *w = wv;
    const struct ops_xk *x = xv;
    const int nb = n / OPS_QK_K;
    float s = 0;
    for (int k0 = 0; k0 < nb; k0 += WT_K_BLOCKS) {
        const int m = MIN(WT_K_BLOCKS, nb - k0);
        int32_t dot[WT_K_BLOCKS], mins[WT_K_BLOCKS];
        float d[WT_K_BLOCKS], dmin[WT_K_BLOCKS];
        blocks(w, x, k0, m, dot, mins, d, dmin);
        for (int i = 0; i < m; i++)
            s += wt_k_scale(d[i], dmin[i], x->d[k0 + i], dot[i], mins[i]);
    }
    return s;
}

void wt_k45_dot_rows(const void *w, const void *x, int nx, int n, float *out, int stride,
                     bool has_qh, wt_k_rows_fn sums) {
    wt_k_rows(w, has_qh ? sizeof(struct wt_q5_k) : sizeof(struct wt_q4_k), 0, 2, x, nx, n, out,
              stride, sums);
}

void wt_k45_dot_rows8(const void *w, const void *x, int nx, int n, float *out, int stride,
                      bool has_qh, wt_k_rows8_fn sums) {
    wt_k_rows8(w, has_qh ? sizeof(struct wt_q5_k) : sizeof(struct wt_q4_k), 0, 2, x, nx, n, out,
               stride, sums);
}

float wt_dot_q4_k(const void *w, const void *x, int n) {
    return wt_k45_dot(w, x, n, false, wt_k45_sums);
}

float wt_dot_q5_k(const void *w, const void *x, int n) {
    return wt_k45_dot(w, x, n, true, wt_k45_sums);
}

float wt_dot_q6_k(const void *wv, const void *xv, int n) {
    const struct wt_q6_k *b = wv;
    const struct ops_xk *x = xv;
    int8_t q[32];
    float s = 0;
    for (int k = 0; k < n / OPS_QK_K; k++) {
        const int16_t *xq = x->q + k * OPS_QK_K;
        int32_t dot = 0;
        for (int c = 0; c < 8; c++) {
            int h = c / 4, kk = c % 4, at = 128 * h + 32 * kk;
            wt_k6_chunk(&b[k], c, q);
            for (int half = 0; half < 2; half++) {
                int32_t acc = 0;
                for (int l = 16 * half; l < 16 * half + 16; l++)
                    acc += q[l] * xq[at + l];
                dot += b[k].scales[8 * h + half + 2 * kk] * acc;
            }
        }
        s += wt_k_scale(wt_k_half(b[k].d), 0.0f, x->d[k], dot, 0);
    }
    return s;
}

int wt_k3_scale(const uint8_t *s, int i) {
    int lo = i < 8 ? s[i] & 15 : s[i - 8] >> 4;
    int hi = (s[8 + i % 4] >> (2 * (i / 4))) & 3;
    return (lo | hi << 4) - 32;
}

/* The 16 values of sub-block i of a Q2_K (hmask NULL) or Q3_K super-block: the
 * 2-bit q, and for Q3_K q - 4 where the hmask bit is clear. */
static void wt_k23_sub(const uint8_t *qs, const uint8_t *hmask, int i, int8_t *q) {
    int h = i / 8, j = (i % 8) / 2, t = i % 2;
    const uint8_t *p = qs + 32 * h + 16 * t;
    for (int l = 0; l < 16; l++)
        q[l] = (int8_t)((p[l] >> (2 * j)) & 3);
    if (!hmask)
        return;
    const uint8_t *m = hmask + 16 * t;
    for (int l = 0; l < 16; l++) /* - 4 where the bit is clear, without a branch */
        q[l] = (int8_t)(q[l] - 4 + 4 * ((m[l] >> (4 * h + j)) & 1));
}

void wt_dequant_q2_k(const void *row, float *out, int n) {
    const struct wt_q2_k *b = row;
    int8_t q[16];
    for (int k = 0; k < n / OPS_QK_K; k++) {
        float d = wt_k_half(b[k].d), dmin = wt_k_half(b[k].dmin);
        for (int i = 0; i < 16; i++) {
            float dl = d * (float)(b[k].scales[i] & 15), ml = dmin * (float)(b[k].scales[i] >> 4);
            wt_k23_sub(b[k].qs, NULL, i, q);
            for (int l = 0; l < 16; l++)
                out[k * OPS_QK_K + 16 * i + l] = dl * (float)q[l] - ml;
        }
    }
}

void wt_dequant_q3_k(const void *row, float *out, int n) {
    const struct wt_q3_k *b = row;
    int8_t q[16];
    for (int k = 0; k < n / OPS_QK_K; k++) {
        float d = wt_k_half(b[k].d);
        for (int i = 0; i < 16; i++) {
            float dl = d * (float)wt_k3_scale(b[k].scales, i);
            wt_k23_sub(b[k].qs, b[k].hmask, i, q);
            for (int l = 0; l < 16; l++)
                out[k * OPS_QK_K + 16 * i + l] = dl * (float)q[l];
        }
    }
}

/* sum q[l] * x[l] over a sub-block of 16: exact */
static int32_t wt_k_dot16(const int8_t *q, const int16_t *x) {
    int32_t acc = 0;
    for (int l = 0; l < 16; l++)
        acc += q[l] * x[l];
    return acc;
}

float wt_dot_q2_k(const void *wv, const void *xv, int n) {
    const struct wt_q2_k *b = wv;
    const struct ops_xk *x = xv;
    int8_t q[16];
    float s = 0;
    for (int k = 0; k < n / OPS_QK_K; k++) {
        const int16_t *xq = x->q + k * OPS_QK_K, *bs = x->bsums + k * 16;
        int32_t dot = 0, mins = 0;
        for (int i = 0; i < 16; i++) {
            wt_k23_sub(b[k].qs, NULL, i, q);
            dot += (b[k].scales[i] & 15) * wt_k_dot16(q, xq + 16 * i);
            mins += (b[k].scales[i] >> 4) * bs[i];
        }
        s += wt_k_scale(wt_k_half(b[k].d), wt_k_half(b[k].dmin), x->d[k], dot, mins);
    }
    return s;
}

float wt_dot_q3_k(const void *wv, const void *xv, int n) {
    const struct wt_q3_k *b = wv;
    const struct ops_xk *x = xv;
    int8_t q[16];
    float s = 0;
    for (int k = 0; k < n / OPS_QK_K; k++) {
        const int16_t *xq = x->q + k * OPS_QK_K;
        int32_t dot = 0;
        for (int i = 0; i < 16; i++) {
            wt_k23_sub(b[k].qs, b[k].hmask, i, q);
            dot += wt_k3_scale(b[k].scales, i) * wt_k_dot16(q, xq + 16 * i);
        }
        s += wt_k_scale(wt_k_half(b[k].d), 0.0f, x->d[k], dot, 0);
    }
    return s;
}
