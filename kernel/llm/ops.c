/*
 * Scalar math kernels and the dispatch table (see ops.h). Called by forward.c;
 * relies on quant.c for half floats and on port.h for expf/sqrtf.
 */
#include "llm/ops.h"
#include "llm/quant.h"

static const struct ops_kernels *ops_active = &ops_scalar;

/* Scratch for the quantized matmul input, grown to the widest row seen. */
static struct ops_xq ops_xq_buf;
static int ops_xq_cap;

static float scalar_dot_f32(const float *w, const float *x, int n) {
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += w[i] * x[i];
        s1 += w[i + 1] * x[i + 1];
        s2 += w[i + 2] * x[i + 2];
        s3 += w[i + 3] * x[i + 3];
    }
    for (; i < n; i++)
        s0 += w[i] * x[i];
    return (s0 + s1) + (s2 + s3);
}

static float scalar_half(uint16_t h) {
    return quant_f16_table ? quant_f16_table[h] : quant_f16_to_f32(h);
}

static float scalar_dot_f16(const uint16_t *w, const float *x, int n) {
    float s = 0;
    for (int i = 0; i < n; i++)
        s += scalar_half(w[i]) * x[i];
    return s;
}

/* Integer block sums: exact, so every kernel set agrees on them. */
static float scalar_dot_q8_0(const void *wv, const struct ops_xq *x, int n) {
    const struct quant_q8_0 *b = wv;
    float s = 0;
    for (int k = 0; k < n / QUANT_QK; k++) {
        const int16_t *xq = x->q + k * QUANT_QK;
        int32_t acc = 0;
        for (int i = 0; i < QUANT_QK; i++)
            acc += (int32_t)b[k].qs[i] * xq[i];
        s += scalar_half(b[k].d) * x->d[k] * (float)acc;
    }
    return s;
}

static float scalar_dot_q4_0(const void *wv, const struct ops_xq *x, int n) {
    const struct quant_q4_0 *b = wv;
    float s = 0;
    for (int k = 0; k < n / QUANT_QK; k++) {
        const int16_t *xq = x->q + k * QUANT_QK;
        int32_t acc = 0;
        for (int j = 0; j < QUANT_QK / 2; j++) {
            acc += ((b[k].qs[j] & 15) - 8) * xq[j];
            acc += ((b[k].qs[j] >> 4) - 8) * xq[j + 16];
        }
        s += scalar_half(b[k].d) * x->d[k] * (float)acc;
    }
    return s;
}

/* The batched forms of the scalar block kernels: one call per input. */
static void scalar_rows(float (*dot)(const void *, const struct ops_xq *, int), const void *w,
                        const struct ops_xq *x, int nx, int n, float *out, int stride) {
    for (int i = 0; i < nx; i++) {
        struct ops_xq one = {x->q + (size_t)i * n, x->d + (size_t)i * (n / QUANT_QK)};
        out[(size_t)i * stride] = dot(w, &one, n);
    }
}

static void scalar_dot_q8_0_rows(const void *w, const struct ops_xq *x, int nx, int n, float *out,
                                 int stride) {
    scalar_rows(scalar_dot_q8_0, w, x, nx, n, out, stride);
}

static void scalar_dot_q4_0_rows(const void *w, const struct ops_xq *x, int nx, int n, float *out,
                                 int stride) {
    scalar_rows(scalar_dot_q4_0, w, x, nx, n, out, stride);
}

static float scalar_dot_i8(const int8_t *w, const float *x, int n) {
    float s = 0;
    for (int i = 0; i < n; i++)
        s += (float)w[i] * x[i];
    return s;
}

static void scalar_softmax(float *x, int n) {
    float mx = x[0];
    for (int i = 1; i < n; i++)
        if (x[i] > mx)
            mx = x[i];
    float sum = 0;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    float inv = 1.0f / sum;
    for (int i = 0; i < n; i++)
        x[i] *= inv;
}

static void scalar_swiglu(float *g, const float *up, int n) {
    for (int i = 0; i < n; i++)
        g[i] = g[i] / (1.0f + expf(-g[i])) * up[i];
}

static void scalar_axpy(float *y, float a, const float *x, int n) {
    for (int i = 0; i < n; i++)
        y[i] += a * x[i];
}

static void scalar_quantize(struct ops_xq *xq, const float *x, int n) {
    for (int k = 0; k < n / QUANT_QK; k++) {
        const float *v = x + k * QUANT_QK;
        float amax = 0;
        for (int i = 0; i < QUANT_QK; i++)
            amax = MAX(amax, fabsf(v[i]));
        float d = amax / 127.0f, id = d > 0 ? 1.0f / d : 0.0f;
        xq->d[k] = d;
        for (int i = 0; i < QUANT_QK; i++) {
            float t = v[i] * id;
            xq->q[k * QUANT_QK + i] = (int16_t)(t < 0 ? t - 0.5f : t + 0.5f);
        }
    }
}

void ops_quantize_x(struct ops_xq *xq, const float *x, int n) {
    ops_active->quantize(xq, x, n);
}

const struct ops_kernels ops_scalar = {
    .name = "scalar",
    .dot_f32 = scalar_dot_f32,
    .dot_f16 = scalar_dot_f16,
    .dot_q8_0 = scalar_dot_q8_0,
    .dot_q4_0 = scalar_dot_q4_0,
    .dot_q8_0_rows = scalar_dot_q8_0_rows,
    .dot_q4_0_rows = scalar_dot_q4_0_rows,
    .dot_i8 = scalar_dot_i8,
    .softmax = scalar_softmax,
    .swiglu = scalar_swiglu,
    .axpy = scalar_axpy,
    .quantize = scalar_quantize,
};

void ops_select(bool use_sse2) {
    quant_init();
    ops_active = use_sse2 ? &ops_sse2 : &ops_scalar;
}

const char *ops_name(void) {
    return ops_active->name;
}

/* Dequantize each row into a stack buffer and take a float dot product. */
static void ops_matmul_slow(float *out, const struct model_matrix *w, const float *x) {
    float row[256];
    const uint8_t *base = w->data;
    size_t rb = quant_row_bytes(w->type, w->cols);
    for (int r = 0; r < w->rows; r++) {
        float s = 0;
        for (int c0 = 0; c0 < w->cols; c0 += 256) {
            int m = MIN(256, w->cols - c0);
            quant_dequant_row(w->type, base + (size_t)r * rb + quant_row_bytes(w->type, c0), row, m);
            s += ops_active->dot_f32(row, x + c0, m);
        }
        out[r] = s;
    }
}

/* One row of a llama2.c v2 matrix: whole groups of int8 with one scale each. */
static float ops_dot_split(const struct model_matrix *w, int r, const float *x) {
    const int8_t *q = (const int8_t *)w->data + (size_t)r * w->cols;
    const float *sc = w->scales + (size_t)r * w->cols / w->group;
    float s = 0;
    for (int g = 0; g < w->cols / w->group; g++)
        s += sc[g] * ops_active->dot_i8(q + g * w->group, x + g * w->group, w->group);
    return s;
}

/* The scratch input buffer for n columns; NULL when out of memory. */
static struct ops_xq *ops_xq_reserve(int n) {
    if (n > ops_xq_cap) {
        int16_t *q = port_alloc((size_t)n * sizeof(int16_t));
        float *d = port_alloc((size_t)(n / QUANT_QK + 1) * sizeof(float));
        if (!q || !d) {
            port_free(q);
            port_free(d);
            return NULL;
        }
        port_free(ops_xq_buf.q);
        port_free(ops_xq_buf.d);
        ops_xq_buf.q = q;
        ops_xq_buf.d = d;
        ops_xq_cap = n;
    }
    return &ops_xq_buf;
}

/* out = W . x for a block-format W whose input is already quantized in xq. */
static void ops_matmul_q(float *out, const struct model_matrix *w, const struct ops_xq *xq) {
    const uint8_t *base = w->data;
    size_t rb = quant_row_bytes(w->type, w->cols);
    float (*dot)(const void *, const struct ops_xq *, int) =
        w->type == MODEL_WTYPE_Q8_0 ? ops_active->dot_q8_0 : ops_active->dot_q4_0;
    for (int r = 0; r < w->rows; r++)
        out[r] = dot(base + r * rb, xq, w->cols);
}

static bool ops_is_block(uint32_t type) {
    return type == MODEL_WTYPE_Q8_0 || type == MODEL_WTYPE_Q4_0;
}

void ops_matmul(float *out, const struct model_matrix *w, const float *x) {
    const struct ops_kernels *k = ops_active;
    const uint8_t *base = w->data;
    size_t rb = quant_row_bytes(w->type, w->cols);
    int n = w->cols;
    switch (w->type) {
    case MODEL_WTYPE_F32:
        for (int r = 0; r < w->rows; r++)
            out[r] = k->dot_f32((const float *)(base + r * rb), x, n);
        break;
    case MODEL_WTYPE_F16:
        for (int r = 0; r < w->rows; r++)
            out[r] = k->dot_f16((const uint16_t *)(base + r * rb), x, n);
        break;
    case MODEL_WTYPE_Q8_0:
    case MODEL_WTYPE_Q4_0: {
        struct ops_xq *xq = ops_xq_reserve(n);
        if (!xq) { /* out of memory: dequantize row by row instead */
            ops_matmul_slow(out, w, x);
            break;
        }
        k->quantize(xq, x, n);
        ops_matmul_q(out, w, xq);
        break;
    }
    case MODEL_WTYPE_Q8_SPLIT:
        for (int r = 0; r < w->rows; r++)
            out[r] = ops_dot_split(w, r, x);
        break;
    default:
        memset(out, 0, (size_t)w->rows * sizeof(float));
        break;
    }
}

void ops_matmul_n(float *const *out, const struct model_matrix *const *w, int n, const float *x) {
    bool shared = n > 1;
    for (int i = 0; i < n; i++)
        shared = shared && ops_is_block(w[i]->type) && w[i]->cols == w[0]->cols;
    struct ops_xq *xq = shared ? ops_xq_reserve(w[0]->cols) : NULL;
    if (!xq) {
        for (int i = 0; i < n; i++)
            ops_matmul(out[i], w[i], x);
        return;
    }
    ops_active->quantize(xq, x, w[0]->cols);
    for (int i = 0; i < n; i++)
        ops_matmul_q(out[i], w[i], xq);
}

/* One matrix, nb inputs, rows outermost: each weight row is read once and used for
 * all nb inputs while it is in the cache. xq (block types) holds the nb quantized
 * inputs, row after row; every product is the one ops_matmul computes. */
static void ops_matmul_rows(float *out, const struct model_matrix *w, const float *x,
                            const struct ops_xq *xq, int nb) {
    const struct ops_kernels *k = ops_active;
    const uint8_t *base = w->data;
    size_t rb = quant_row_bytes(w->type, w->cols);
    int n = w->cols, rows = w->rows;
    for (int r = 0; r < rows; r++) {
        const uint8_t *row = base + r * rb;
        switch (w->type) {
        case MODEL_WTYPE_F32:
            for (int b = 0; b < nb; b++)
                out[b * rows + r] = k->dot_f32((const float *)row, x + b * n, n);
            break;
        case MODEL_WTYPE_F16:
            for (int b = 0; b < nb; b++)
                out[b * rows + r] = k->dot_f16((const uint16_t *)row, x + b * n, n);
            break;
        case MODEL_WTYPE_Q8_0:
            k->dot_q8_0_rows(row, xq, nb, n, out + r, rows);
            break;
        case MODEL_WTYPE_Q4_0:
            k->dot_q4_0_rows(row, xq, nb, n, out + r, rows);
            break;
        case MODEL_WTYPE_Q8_SPLIT:
            for (int b = 0; b < nb; b++)
                out[b * rows + r] = ops_dot_split(w, r, x + b * n);
            break;
        default:
            for (int b = 0; b < nb; b++)
                out[b * rows + r] = 0;
            break;
        }
    }
}

void ops_matmul_batch(float *const *out, const struct model_matrix *const *w, int n,
                      const float *x, int nb) {
    int cols = w[0]->cols;
    bool block = false, same = true;
    for (int i = 0; i < n; i++) {
        block = block || ops_is_block(w[i]->type);
        same = same && w[i]->cols == cols;
    }
    struct ops_xq *xq = NULL;
    if (block && (!same || !(xq = ops_xq_reserve(nb * cols)))) {
        for (int b = 0; b < nb; b++) /* unusual shapes, or out of memory: one at a time */
            for (int i = 0; i < n; i++)
                ops_matmul(out[i] + b * w[i]->rows, w[i], x + b * cols);
        return;
    }
    for (int b = 0; xq && b < nb; b++) {
        struct ops_xq one = {xq->q + b * cols, xq->d + b * (cols / QUANT_QK)};
        ops_active->quantize(&one, x + b * cols, cols);
    }
    for (int i = 0; i < n; i++)
        ops_matmul_rows(out[i], w[i], x, xq, nb);
}

void ops_get_row(float *out, const struct model_matrix *w, int row) {
    const uint8_t *base = w->data;
    size_t rb = quant_row_bytes(w->type, w->cols);
    if (w->type == MODEL_WTYPE_Q8_SPLIT) {
        const int8_t *q = (const int8_t *)base + (size_t)row * w->cols;
        const float *sc = w->scales + (size_t)row * w->cols / w->group;
        for (int i = 0; i < w->cols; i++)
            out[i] = sc[i / w->group] * (float)q[i];
        return;
    }
    quant_dequant_row(w->type, base + (size_t)row * rb, out, w->cols);
}

void ops_rmsnorm(float *out, const float *x, const float *weight, int n, float eps) {
    float ss = 0;
    for (int i = 0; i < n; i++)
        ss += x[i] * x[i];
    ss = 1.0f / sqrtf(ss / (float)n + eps);
    for (int i = 0; i < n; i++)
        out[i] = weight[i] * (ss * x[i]);
}

float ops_dot(const float *a, const float *b, int n) {
    return ops_active->dot_f32(a, b, n);
}

void ops_axpy(float *y, float a, const float *x, int n) {
    ops_active->axpy(y, a, x, n);
}

void ops_softmax(float *x, int n) {
    ops_active->softmax(x, n);
}

void ops_swiglu(float *g, const float *up, int n) {
    ops_active->swiglu(g, up, n);
}
