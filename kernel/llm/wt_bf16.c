/*
 * BF16 weights (see wt_bf16.h): dequantizer, the input rounding and the scalar dot
 * product, rows of the weight-type table in ops.c.
 */
#include "llm/wt_bf16.h"
#include "llm/ops.h"

static float wt_bf16_value(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

void wt_dequant_bf16(const void *row, float *out, int n) {
    const uint16_t *h = row;
    for (int i = 0; i < n; i++)
        out[i] = wt_bf16_value(h[i]);
}

void ops_round_bf16(uint16_t *out, const float *x, int n) {
    for (int i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        if ((u & 0x7fffffff) > 0x7f800000) /* NaN: keep it a (quiet) NaN */
            out[i] = (uint16_t)((u >> 16) | 64);
        else /* nearest, ties to even; overflow rounds to inf */
            out[i] = (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
    }
}

float wt_dot_bf16(const void *wv, const void *xv, int n) {
    const uint16_t *w = wv, *x = xv;
    double s = 0;
    for (int i = 0; i < n; i++)
        s += (double)(wt_bf16_value(w[i]) * wt_bf16_value(x[i]));
    return (float)s;
}
