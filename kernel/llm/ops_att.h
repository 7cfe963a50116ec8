/*
 * The loops of the attention kernels (ops.h, struct ops_att), written once and
 * included by each kernel set (ops.c, ops_sse2.c, ops_avx2.c), which supplies the
 * arithmetic first so that the loops compile with its vector unit:
 *
 *   OPS_ATT_NAME(x)    the name of the set's kernel x (sse2_att_x, ...)
 *   OPS_ATT_ACC        the lanes of one dot product of the set's dot_f32
 *   att_zero()         those lanes cleared
 *   att_step(a, q, k, n)    a plus q(n) . k(n), n a multiple of 8, in dot_f32's order
 *   att_finish(a, q, k, n)  dot_f32's end: the last n < 8 elements, the lane sum
 *   OPS_ATT_SPAN       K rows whose sums with one query fit in registers together
 *   att_dots(q, x, m, n, scale, s)  s[j] = (q(n) . x[j](n)) * scale for j < m <= SPAN,
 *                      each with dot_f32's steps, the query loaded once for all
 *   att_madd(y, w, rows, m, n)  for t < m in order, y(n) += w[t] * rows[t](n), each
 *                      element as the set's axpy rounds it
 *   att_halves(f, h, n)     f(n) = the halves h(n) as floats, exactly
 *
 * A score reads each K row once for every query head of the group: OPS_ATT_SPAN rows
 * (F16: converted to floats in an on-stack buffer) are dotted with each query in turn,
 * the SPAN partial sums in registers together (a head_dim above OPS_ATT_COLS goes a
 * row at a time, OPS_ATT_COLS columns at a time, converted again for each query). A
 * weighted sum takes a tile of OPS_ATT_ROWS positions by OPS_ATT_TILE columns,
 * converted once, and adds the whole tile into each query's output in registers
 * before storing it. The buffers take SPAN + 2 KiB of stack. The element order of
 * each sum is the one dot_f32 and axpy use, so the bits are theirs. The same dots
 * serve as the set's batched F32 weight rows (dot_f32_rows).
 */
#ifndef CLLM_LLM_OPS_ATT_H
#define CLLM_LLM_OPS_ATT_H

#include "llm/kv.h"
#include "llm/ops.h"

#define OPS_ATT_COLS 256 /* K columns converted at a time: Gemma 3's head_dim, in one go */
#define OPS_ATT_ROWS 8   /* positions of a weighted-sum tile */
#define OPS_ATT_TILE 64  /* columns of a weighted-sum tile (a multiple of 8) */

/* The set's kernels, in its initializer of struct ops_kernels. */
#define OPS_ATT_KERNELS                                                                            \
    .att_scores = {[KV_TYPE_F32] = OPS_ATT_NAME(scores_f32),                                       \
                   [KV_TYPE_F16] = OPS_ATT_NAME(scores_f16)},                                      \
    .att_values = {[KV_TYPE_F32] = OPS_ATT_NAME(values_f32),                                       \
                   [KV_TYPE_F16] = OPS_ATT_NAME(values_f16)}

#endif

/* Below: instantiated once per including file. Elements [c0, c0 + n) of a row of the
 * pool's type as floats: in place for F32, else converted into buf (n floats). */
static inline const float *OPS_ATT_NAME(cols)(const void *row, int type, int c0, int n,
                                              float *buf) {
    if (type == KV_TYPE_F32)
        return (const float *)row + c0;
    att_halves(buf, (const uint16_t *)row + c0, n);
    return buf;
}

/* Row t of a run from base whose rows are stride elements of `type` apart. */
static inline const void *OPS_ATT_NAME(row)(const void *base, int type, int stride, int t) {
    size_t elt = type == KV_TYPE_F32 ? sizeof(float) : sizeof(uint16_t);
    return (const uint8_t *)base + (size_t)t * (size_t)stride * elt;
}

/* Heads of up to OPS_ATT_COLS: OPS_ATT_SPAN rows converted at a time, then each query's
 * sums over all of them together in registers (att_dots). */
static inline void OPS_ATT_NAME(scores_short)(const struct ops_att *a, const void *k, int n,
                                              float *s, int type) {
    float buf[OPS_ATT_SPAN][OPS_ATT_COLS];
    const float *x[OPS_ATT_SPAN];
    int hd = a->hd;
    for (int t = 0; t < n; t += OPS_ATT_SPAN) {
        int m = MIN(OPS_ATT_SPAN, n - t);
        for (int j = 0; j < m; j++)
            x[j] = OPS_ATT_NAME(cols)(OPS_ATT_NAME(row)(k, type, a->kv_stride, t + j), type, 0, hd,
                                      buf[j]);
        for (int i = 0; i < a->nq; i++)
            att_dots(a->q + (size_t)i * (size_t)hd, x, m, hd, a->scale,
                     s + (size_t)i * (size_t)a->s_stride + t);
    }
}

/* Longer heads: a row OPS_ATT_COLS columns at a time, converted again for each query. */
static inline void OPS_ATT_NAME(scores_long)(const struct ops_att *a, const void *k, int n,
                                             float *s, int type) {
    float buf[OPS_ATT_COLS];
    int hd = a->hd, n8 = hd & ~7;
    for (int t = 0; t < n; t++) {
        const void *row = OPS_ATT_NAME(row)(k, type, a->kv_stride, t);
        for (int i = 0; i < a->nq; i++) {
            const float *q = a->q + (size_t)i * (size_t)hd, *x = NULL;
            OPS_ATT_ACC acc = att_zero();
            int c0 = 0;
            for (;; c0 += OPS_ATT_COLS) {
                int cw = MIN(OPS_ATT_COLS, hd - c0);
                x = OPS_ATT_NAME(cols)(row, type, c0, cw, buf);
                acc = att_step(acc, q + c0, x, cw & ~7);
                if (c0 + cw >= hd)
                    break;
            }
            s[(size_t)i * (size_t)a->s_stride + (size_t)t] =
                att_finish(acc, q + n8, x + (n8 - c0), hd - n8) * a->scale;
        }
    }
}

static inline void OPS_ATT_NAME(scores)(const struct ops_att *a, const void *k, int n, float *s,
                                        int type) {
    if (a->hd <= OPS_ATT_COLS)
        OPS_ATT_NAME(scores_short)(a, k, n, s, type);
    else
        OPS_ATT_NAME(scores_long)(a, k, n, s, type);
}

static inline void OPS_ATT_NAME(values)(const struct ops_att *a, const void *v, int n,
                                        const float *w, int type) {
    float tile[OPS_ATT_ROWS][OPS_ATT_TILE];
    const float *rows[OPS_ATT_ROWS];
    int hd = a->hd;
    for (int c0 = 0; c0 < hd; c0 += OPS_ATT_TILE) {
        int cw = MIN(OPS_ATT_TILE, hd - c0);
        for (int t0 = 0; t0 < n; t0 += OPS_ATT_ROWS) {
            int m = MIN(OPS_ATT_ROWS, n - t0);
            for (int t = 0; t < m; t++)
                rows[t] = OPS_ATT_NAME(cols)(OPS_ATT_NAME(row)(v, type, a->kv_stride, t0 + t), type,
                                             c0, cw, tile[t]);
            for (int i = 0; i < a->nq; i++)
                att_madd(a->out + (size_t)i * (size_t)hd + c0,
                         w + (size_t)i * (size_t)a->s_stride + t0, rows, m, cw);
        }
    }
}

static void OPS_ATT_NAME(scores_f32)(const struct ops_att *a, const void *k, int n, float *s) {
    OPS_ATT_NAME(scores)(a, k, n, s, KV_TYPE_F32);
}

static void OPS_ATT_NAME(scores_f16)(const struct ops_att *a, const void *k, int n, float *s) {
    OPS_ATT_NAME(scores)(a, k, n, s, KV_TYPE_F16);
}

static void OPS_ATT_NAME(values_f32)(const struct ops_att *a, const void *v, int n,
                                     const float *w) {
    OPS_ATT_NAME(values)(a, v, n, w, KV_TYPE_F32);
}

static void OPS_ATT_NAME(values_f16)(const struct ops_att *a, const void *v, int n,
                                     const float *w) {
    OPS_ATT_NAME(values)(a, v, n, w, KV_TYPE_F16);
}

/* Batched F32 weight rows (ops.h dot_rows) from the same dots: the weight row is the
 * query and OPS_ATT_SPAN inputs (n floats apart) its rows, scale 1 (exact), so
 * out[i * stride] is the set's dot_f32 of the row and input i, to the bit. */
static inline void OPS_ATT_NAME(dot_f32_rows)(const void *w, const void *x, int nx, int n,
                                              float *out, int stride) {
    const float *xr[OPS_ATT_SPAN];
    float s[OPS_ATT_SPAN];
    for (int r = 0; r < nx; r += OPS_ATT_SPAN) {
        int m = MIN(OPS_ATT_SPAN, nx - r);
        for (int j = 0; j < m; j++)
            xr[j] = (const float *)x + (size_t)(r + j) * (size_t)n;
        att_dots(w, xr, m, n, 1.0f, s);
        for (int j = 0; j < m; j++)
            out[(size_t)(r + j) * (size_t)stride] = s[j];
    }
}
