/*
 * Scalar math kernels, the weight-type table and the matmuls that dispatch through
 * it (see ops.h). Called by forward.c; relies on quant.c for half floats and
 * dequantizers, gguf.c for the block layouts and on port.h for expf/sqrtf.
 */
#include "llm/ops.h"
#include "llm/ops_rope.h"
#include "llm/quant.h"
#include "llm/wt_bf16.h"
#include "llm/wt_kquant.h"
#include "llm/wt_legacy.h"

static const struct ops_kernels *ops_active = &ops_scalar;

/* The weight-type table in use, indexed by type number: the scalar rows with the
 * active set's replacements (ops_select). A type without a row has dot == NULL. */
static struct ops_type ops_table[GGUF_GGML_TYPE_COUNT];
static bool ops_table_ready;

/* The F32 dot product's four lanes, split in two for the attention kernels
 * (ops_att.h): att_step adds whole steps of 8, att_finish the rest and sums the lanes. */
struct scalar_att_acc {
    float s[4];
};

static inline struct scalar_att_acc att_zero(void) {
    return (struct scalar_att_acc){{0, 0, 0, 0}};
}

static inline struct scalar_att_acc att_step4(struct scalar_att_acc a, const float *w,
                                              const float *x) {
    a.s[0] += w[0] * x[0];
    a.s[1] += w[1] * x[1];
    a.s[2] += w[2] * x[2];
    a.s[3] += w[3] * x[3];
    return a;
}

static inline struct scalar_att_acc att_step(struct scalar_att_acc a, const float *w,
                                             const float *x, int n) {
    for (int i = 0; i < n; i += 4)
        a = att_step4(a, w + i, x + i);
    return a;
}

static inline float att_finish(struct scalar_att_acc a, const float *w, const float *x, int n) {
    int i = 0;
    if (n >= 4) {
        a = att_step4(a, w, x);
        i = 4;
    }
    for (; i < n; i++)
        a.s[0] += w[i] * x[i];
    return (a.s[0] + a.s[1]) + (a.s[2] + a.s[3]);
}

/* Scores of one row at a time (OPS_ATT_SPAN 1): x87 has no registers to spare. */
#define OPS_ATT_SPAN 1
static inline void att_dots(const float *q, const float *const *x, int m, int n, float scale,
                            float *s) {
    int n8 = n & ~7;
    for (int j = 0; j < m; j++)
        s[j] = att_finish(att_step(att_zero(), q, x[j], n8), q + n8, x[j] + n8, n - n8) * scale;
}

static float scalar_dot_f32(const float *w, const float *x, int n) {
    int n8 = n & ~7;
    return att_finish(att_step(att_zero(), w, x, n8), w + n8, x + n8, n - n8);
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

static float scalar_dot_f32_row(const void *w, const void *x, int n) {
    return scalar_dot_f32(w, x, n);
}

static float scalar_dot_f16_row(const void *w, const void *x, int n) {
    return scalar_dot_f16(w, x, n);
}

/* Integer block sums: exact, so every kernel set agrees on them. */
static float scalar_dot_q8_0(const void *wv, const void *xv, int n) {
    const struct ops_xq *x = xv;
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

static float scalar_dot_q4_0(const void *wv, const void *xv, int n) {
    const struct ops_xq *x = xv;
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

/* The sum of squares in one running float, in order. */
static void scalar_rmsnorm(float *out, const float *x, const float *weight, int n, float eps) {
    float ss = 0;
    for (int i = 0; i < n; i++)
        ss += x[i] * x[i];
    ss = 1.0f / sqrtf(ss / (float)n + eps);
    for (int i = 0; i < n; i++)
        out[i] = weight[i] * (ss * x[i]);
}

static void scalar_rope(float *x, int n, int hd, const float *cs, int pairs, int half) {
    for (int h = 0; h < n; h++)
        ops_rope_rest(x + (size_t)h * (size_t)hd, cs, 0, pairs, half);
}

static void scalar_axpy(float *y, float a, const float *x, int n) {
    for (int i = 0; i < n; i++)
        y[i] += a * x[i];
}

/* The rest of the scalar set's attention arithmetic (ops_att.h): one axpy a position,
 * the halves through the table. */
static inline void att_madd(float *y, const float *w, const float *const *rows, int m, int n) {
    for (int t = 0; t < m; t++)
        scalar_axpy(y, w[t], rows[t], n);
}

static inline void att_halves(float *f, const uint16_t *h, int n) {
    for (int i = 0; i < n; i++)
        f[i] = scalar_half(h[i]);
}

#define OPS_ATT_NAME(x) scalar_att_##x
#define OPS_ATT_ACC struct scalar_att_acc
#include "llm/ops_att.h"

/* A block of input holding NaN or inf: its scale is NaN and its values 0, so every
 * product with it is NaN and the forward pass reports non-finite logits. Converting
 * such values to int16_t would be undefined. */
void ops_quantize_nonfinite(struct ops_xq *xq, int k) {
    xq->d[k] = NAN;
    memset(xq->q + k * QUANT_QK, 0, QUANT_QK * sizeof(int16_t));
}

static void scalar_quantize(struct ops_xq *xq, const float *x, int n) {
    for (int k = 0; k < n / QUANT_QK; k++) {
        const float *v = x + k * QUANT_QK;
        float amax = 0;
        bool finite = true;
        for (int i = 0; i < QUANT_QK; i++) {
            float a = fabsf(v[i]);
            finite = finite && a <= OPS_FLOAT_MAX;
            amax = MAX(amax, a);
        }
        if (!finite) {
            ops_quantize_nonfinite(xq, k);
            continue;
        }
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

/* The weight-type table: one row per type the engine runs. A new type is a row here
 * (its dequantizer and scalar dot in its own file) and, for speed, a row in the
 * SSE2 set. */
static const struct ops_type scalar_types[] = {
    {MODEL_WTYPE_F32, OPS_INPUT_F32, quant_dequant_f32, scalar_dot_f32_row, NULL},
    {MODEL_WTYPE_F16, OPS_INPUT_F32, quant_dequant_f16, scalar_dot_f16_row, NULL},
    {MODEL_WTYPE_Q8_0, OPS_INPUT_Q8, quant_dequant_q8_0, scalar_dot_q8_0, NULL},
    {MODEL_WTYPE_Q4_0, OPS_INPUT_Q8, quant_dequant_q4_0, scalar_dot_q4_0, NULL},
    {MODEL_WTYPE_Q4_1, OPS_INPUT_Q8, wt_dequant_q4_1, wt_dot_q4_1, NULL},
    {MODEL_WTYPE_Q5_0, OPS_INPUT_Q8, wt_dequant_q5_0, wt_dot_q5_0, NULL},
    {MODEL_WTYPE_Q5_1, OPS_INPUT_Q8, wt_dequant_q5_1, wt_dot_q5_1, NULL},
    {MODEL_WTYPE_Q2_K, OPS_INPUT_Q8K, wt_dequant_q2_k, wt_dot_q2_k, NULL},
    {MODEL_WTYPE_Q3_K, OPS_INPUT_Q8K, wt_dequant_q3_k, wt_dot_q3_k, NULL},
    {MODEL_WTYPE_Q4_K, OPS_INPUT_Q8K, wt_dequant_q4_k, wt_dot_q4_k, NULL},
    {MODEL_WTYPE_Q5_K, OPS_INPUT_Q8K, wt_dequant_q5_k, wt_dot_q5_k, NULL},
    {MODEL_WTYPE_Q6_K, OPS_INPUT_Q8K, wt_dequant_q6_k, wt_dot_q6_k, NULL},
    {MODEL_WTYPE_BF16, OPS_INPUT_BF16, wt_dequant_bf16, wt_dot_bf16, NULL},
};

const struct ops_kernels ops_scalar = {
    .name = "scalar",
    .types = scalar_types,
    .n_types = (int)ARRAY_SIZE(scalar_types),
    .dot_f32 = scalar_dot_f32,
    .dot_i8 = scalar_dot_i8,
    .softmax = scalar_softmax,
    .swiglu = scalar_swiglu,
    .rmsnorm = scalar_rmsnorm,
    .rope = scalar_rope,
    .axpy = scalar_axpy,
    .quantize = scalar_quantize,
    OPS_ATT_KERNELS,
};

/* Set k's replacements of dot and dot_rows, over those of the set it extends (a row
 * of another set for a type the scalar set lacks is ignored: the type would have no
 * dequantizer). */
static void ops_apply_rows(const struct ops_kernels *k) {
    if (!k || k == &ops_scalar)
        return;
    ops_apply_rows(k->base);
    for (int i = 0; i < k->n_types; i++) {
        const struct ops_type *o = &k->types[i];
        struct ops_type *t = o->type < GGUF_GGML_TYPE_COUNT ? &ops_table[o->type] : NULL;
        if (t && t->dot && o->input == t->input) {
            t->dot = o->dot;
            t->dot_rows = o->dot_rows;
        }
    }
}

/* The scalar rows, then the active set's replacements. */
static void ops_build_table(void) {
    memset(ops_table, 0, sizeof(ops_table));
    for (int i = 0; i < ops_scalar.n_types; i++)
        if (ops_scalar.types[i].type < GGUF_GGML_TYPE_COUNT)
            ops_table[ops_scalar.types[i].type] = ops_scalar.types[i];
    ops_apply_rows(ops_active);
    ops_table_ready = true;
}

void ops_select(bool use_sse2) {
    ops_select_kernels(use_sse2 ? &ops_sse2 : &ops_scalar);
}

void ops_select_kernels(const struct ops_kernels *k) {
    quant_init();
    ops_active = k;
    ops_build_table();
}

/* The table row of a weight type, NULL if it has no kernels. */
static const struct ops_type *ops_type_of(uint32_t type) {
    if (!ops_table_ready)
        ops_build_table();
    if (type >= GGUF_GGML_TYPE_COUNT || !ops_table[type].dot || !ops_table[type].dequant)
        return NULL;
    return &ops_table[type];
}

bool ops_supports(uint32_t type) {
    return type == MODEL_WTYPE_Q8_SPLIT || ops_type_of(type) != NULL;
}

const char *ops_name(void) {
    return ops_active->name;
}

/* One weight row dequantized piece by piece into a stack buffer, times x(cols) in
 * floats: the way when the rounded input cannot be had (out of memory). */
static float ops_row_slow(const struct model_matrix *w, const struct ops_type *t,
                          const uint8_t *row, const float *x) {
    float piece[256];
    float s = 0;
    for (int c0 = 0; c0 < w->cols; c0 += 256) {
        int m = MIN(256, w->cols - c0);
        t->dequant(row + quant_row_bytes(w->type, c0), piece, m);
        s += ops_active->dot_f32(piece, x + c0, m);
    }
    return s;
}

/* One row of a llama2.c v2 matrix: whole groups of int8 with one scale each. This
 * layout keeps its scales apart from the values, so it is a matrix form of its own
 * rather than a row of the weight-type table. */
static float ops_dot_split(const struct model_matrix *w, int r, const float *x) {
    const int8_t *q = (const int8_t *)w->data + (size_t)r * w->cols;
    const float *sc = w->scales + (size_t)r * w->cols / w->group;
    float s = 0;
    for (int g = 0; g < w->cols / w->group; g++)
        s += sc[g] * ops_active->dot_i8(q + g * w->group, x + g * w->group, w->group);
    return s;
}

void ops_scratch_free(struct ops_scratch *sc) {
    port_free(sc->xq.q);
    port_free(sc->xq.d);
    port_free(sc->xk.q);
    port_free(sc->xk.d);
    port_free(sc->xk.bsums);
    port_free(sc->xk.q8);
    port_free(sc->xb);
    port_free(sc->act);
    memset(sc, 0, sizeof(*sc));
}

/* The scratch input buffer for n values; NULL when out of memory. */
static struct ops_xq *ops_xq_reserve(struct ops_scratch *sc, int n) {
    if (n > sc->xq_cap) {
        int16_t *q = port_alloc((size_t)n * sizeof(int16_t));
        float *d = port_alloc((size_t)(n / QUANT_QK + 1) * sizeof(float));
        if (!q || !d) {
            port_free(q);
            port_free(d);
            return NULL;
        }
        port_free(sc->xq.q);
        port_free(sc->xq.d);
        sc->xq.q = q;
        sc->xq.d = d;
        sc->xq_cap = n;
    }
    return &sc->xq;
}

/* The scratch Q8_K input for n values; NULL when out of memory. */
static struct ops_xk *ops_xk_reserve(struct ops_scratch *sc, int n) {
    if (n > sc->xk_cap) {
        int16_t *q = port_alloc((size_t)n * sizeof(int16_t));
        float *d = port_alloc((size_t)(n / OPS_QK_K + 1) * sizeof(float));
        int16_t *bs = port_alloc((size_t)(n / 16 + 1) * sizeof(int16_t));
        int8_t *q8 = port_alloc((size_t)n);
        if (!q || !d || !bs || !q8) {
            port_free(q);
            port_free(d);
            port_free(bs);
            port_free(q8);
            return NULL;
        }
        port_free(sc->xk.q);
        port_free(sc->xk.d);
        port_free(sc->xk.bsums);
        port_free(sc->xk.q8);
        sc->xk = (struct ops_xk){q, d, bs, q8};
        sc->xk_cap = n;
    }
    return &sc->xk;
}

/* Input i of a Q8_K input of n values per input. */
static struct ops_xk ops_xk_at(const struct ops_xk *xk, int i, int n) {
    return (struct ops_xk){xk->q + (size_t)i * n, xk->d + (size_t)i * (n / OPS_QK_K),
                           xk->bsums + (size_t)i * (n / 16), xk->q8 + (size_t)i * n};
}

/* The inputs x(nb, n) in the form `in` names, ready for the dot kernels: x itself,
 * or its rows rounded into the scratch. NULL when out of memory. */
static const void *ops_input_prepare(struct ops_scratch *sc, enum ops_input in, const float *x,
                                     int n, int nb) {
    if (in == OPS_INPUT_F32)
        return x;
    if (in == OPS_INPUT_BF16) {
        if (nb * n > sc->xb_cap) {
            uint16_t *v = port_alloc((size_t)nb * (size_t)n * sizeof(uint16_t));
            if (!v)
                return NULL;
            port_free(sc->xb);
            sc->xb = v;
            sc->xb_cap = nb * n;
        }
        ops_round_bf16(sc->xb, x, nb * n);
        return sc->xb;
    }
    if (in == OPS_INPUT_Q8K) {
        struct ops_xk *xk = ops_xk_reserve(sc, nb * n);
        for (int b = 0; xk && b < nb; b++) {
            struct ops_xk one = ops_xk_at(xk, b, n);
            ops_quantize_k(&one, x + (size_t)b * n, n);
        }
        return xk;
    }
    struct ops_xq *xq = ops_xq_reserve(sc, nb * n);
    if (!xq)
        return NULL;
    for (int b = 0; b < nb; b++) {
        struct ops_xq one = {xq->q + (size_t)b * n, xq->d + (size_t)b * (n / QUANT_QK)};
        ops_active->quantize(&one, x + (size_t)b * n, n);
    }
    return xq;
}

/* Input i of nx prepared inputs of n values (laid out as ops_input_prepare leaves
 * them) times one weight row, by the single-input dot: a type without dot_rows. */
static void ops_rows_each(const struct ops_type *t, const void *w, const void *x, int nx, int n,
                          float *out, int stride) {
    for (int i = 0; i < nx; i++) {
        if (t->input == OPS_INPUT_F32) {
            out[(size_t)i * stride] = t->dot(w, (const float *)x + (size_t)i * n, n);
        } else if (t->input == OPS_INPUT_BF16) {
            out[(size_t)i * stride] = t->dot(w, (const uint16_t *)x + (size_t)i * n, n);
        } else if (t->input == OPS_INPUT_Q8K) {
            struct ops_xk one = ops_xk_at(x, i, n);
            out[(size_t)i * stride] = t->dot(w, &one, n);
        } else {
            const struct ops_xq *xq = x;
            struct ops_xq one = {xq->q + (size_t)i * n, xq->d + (size_t)i * (n / QUANT_QK)};
            out[(size_t)i * stride] = t->dot(w, &one, n);
        }
    }
}

/* One matrix product: n matrices of the same width times nb inputs x(nb, cols),
 * out[i](nb, w[i]->rows). in[kind] holds the inputs prepared in each form some
 * matrix multiplies (in[OPS_INPUT_F32] is x; NULL: out of memory, the slow way).
 * Its rows are those of the n matrices one after the other; ops_par_rows splits
 * them across CPUs, and every CPU only reads the job and the prepared inputs. */
struct ops_mm {
    float *const *out;                   /* (n) */
    const struct model_matrix *const *w; /* (n) */
    int n, nb;
    const float *x; /* (nb, cols) */
    const void *in[OPS_INPUT_COUNT];
};

/* Rows [r0, r1) of matrix w for all nb inputs, rows outermost: each weight row is
 * read once and used for every input while it is in the cache. Every product is
 * the one a single input gives. */
static void ops_mm_matrix(const struct ops_mm *j, const struct model_matrix *w, float *out, int r0,
                          int r1) {
    int n = w->cols, rows = w->rows, nb = j->nb;
    if (w->type == MODEL_WTYPE_Q8_SPLIT) {
        for (int r = r0; r < r1; r++)
            for (int b = 0; b < nb; b++)
                out[(size_t)b * rows + r] = ops_dot_split(w, r, j->x + (size_t)b * n);
        return;
    }
    const struct ops_type *t = ops_type_of(w->type);
    if (!t) { /* refused at load (ops_supports); zeros rather than another type's kernel */
        for (int b = 0; b < nb; b++)
            memset(out + (size_t)b * rows + r0, 0, (size_t)(r1 - r0) * sizeof(float));
        return;
    }
    const void *in = j->in[t->input];
    const uint8_t *base = w->data;
    size_t rb = quant_row_bytes(w->type, n);
    for (int r = r0; r < r1; r++) {
        const uint8_t *row = base + (size_t)r * rb;
        if (!in) {
            for (int b = 0; b < nb; b++)
                out[(size_t)b * rows + r] = ops_row_slow(w, t, row, j->x + (size_t)b * n);
        } else if (nb == 1) {
            out[r] = t->dot(row, in, n);
        } else if (t->dot_rows) {
            t->dot_rows(row, in, nb, n, out + r, rows);
        } else {
            ops_rows_each(t, row, in, nb, n, out + r, rows);
        }
    }
}

/* Rows [r0, r1) of the job (an ops_par_fn): the part of each matrix they cover. */
static void ops_mm_rows(void *arg, int r0, int r1) {
    const struct ops_mm *j = arg;
    for (int i = 0, first = 0; i < j->n && first < r1; first += j->w[i]->rows, i++) {
        int lo = MAX(r0 - first, 0), hi = MIN(r1 - first, j->w[i]->rows);
        if (lo < hi)
            ops_mm_matrix(j, j->w[i], j->out[i], lo, hi);
    }
}

/* Every matrix product comes here: the inputs rounded once, on this CPU, into each
 * form the matrices need, then the rows split across CPUs. */
void ops_matmul_batch(struct ops_scratch *sc, float *const *out,
                      const struct model_matrix *const *w, int n, const float *x, int nb) {
    struct ops_mm j = {out, w, n, nb, x, {x}};
    int cols = w[0]->cols, rows = 0;
    bool need[OPS_INPUT_COUNT] = {false}, same = true, ok = true;
    for (int i = 0; i < n; i++) {
        const struct ops_type *t = ops_type_of(w[i]->type);
        if (t)
            need[t->input] = true;
        same = same && w[i]->cols == cols;
        rows += w[i]->rows;
    }
    for (int k = OPS_INPUT_F32 + 1; same && k < OPS_INPUT_COUNT; k++)
        if (need[k] && !(j.in[k] = ops_input_prepare(sc, (enum ops_input)k, x, cols, nb)))
            ok = false;
    if (!same || (!ok && nb > 1)) {
        for (int b = 0; b < nb; b++) /* unusual shapes, or out of memory: one at a time */
            for (int i = 0; i < n; i++)
                ops_matmul(sc, out[i] + b * w[i]->rows, w[i], x + b * cols);
        return;
    }
    ops_par_rows(ops_mm_rows, &j, rows, (uint64_t)rows * (uint64_t)cols * (uint64_t)nb);
}

void ops_matmul(struct ops_scratch *sc, float *out, const struct model_matrix *w, const float *x) {
    ops_matmul_batch(sc, &out, &w, 1, x, 1);
}

/* The matrices share the input, rounded once per form they multiply. */
void ops_matmul_n(struct ops_scratch *sc, float *const *out, const struct model_matrix *const *w,
                  int n, const float *x) {
    ops_matmul_batch(sc, out, w, n, x, 1);
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
    const struct ops_type *t = ops_type_of(w->type);
    if (!t) {
        memset(out, 0, (size_t)w->cols * sizeof(float));
        return;
    }
    t->dequant(base + (size_t)row * rb, out, w->cols);
}

void ops_rmsnorm(float *out, const float *x, const float *weight, int n, float eps) {
    ops_active->rmsnorm(out, x, weight, n, eps);
}

void ops_rope(float *x, int n, int hd, const float *cs, int pairs, int half) {
    ops_active->rope(x, n, hd, cs, pairs, half);
}

float ops_dot(const float *a, const float *b, int n) {
    return ops_active->dot_f32(a, b, n);
}

void ops_axpy(float *y, float a, const float *x, int n) {
    ops_active->axpy(y, a, x, n);
}

void ops_att_scores(const struct ops_att *a, int type, const void *k, int n, float *s) {
    ops_active->att_scores[type](a, k, n, s);
}

void ops_att_values(const struct ops_att *a, int type, const void *v, int n, const float *w) {
    ops_active->att_values[type](a, v, n, w);
}

void ops_softmax(float *x, int n) {
    ops_active->softmax(x, n);
}

void ops_swiglu(float *g, const float *up, int n) {
    ops_active->swiglu(g, up, n);
}

/* f to the nearest IEEE half (ties to even), back to float: finite inputs only. */
static float ops_round_f16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t sign = u & 0x80000000u, a = u & 0x7fffffffu;
    uint16_t h;
    if (a > 0x7f800000u) /* NaN stays NaN */
        return f;
    if (a >= 0x477ff000u) { /* rounds to >= 65536: inf */
        h = 0x7c00;
    } else if (a < 0x38800000u) { /* below 2^-14: a subnormal half */
        float v;
        memcpy(&v, &a, 4);
        float q = v * 16777216.0f; /* in units of 2^-24, exact */
        uint32_t n = (uint32_t)q;
        float rest = q - (float)n;
        if (rest > 0.5f || (rest == 0.5f && (n & 1)))
            n++;
        h = (uint16_t)n;
    } else {
        uint32_t mant = a & 0x7fffffu, exp = (a >> 23) - 112u;
        uint32_t hv = (exp << 10) | (mant >> 13), low = mant & 0x1fffu;
        if (low > 0x1000u || (low == 0x1000u && (hv & 1)))
            hv++;
        h = (uint16_t)hv;
    }
    return sign ? -quant_f16_to_f32(h) : quant_f16_to_f32(h);
}

#define OPS_GELU_A 0.044715f
#define OPS_SQRT_2_OVER_PI 0.79788456080286535588f

void ops_geglu(float *g, const float *up, int n) {
    for (int i = 0; i < n; i++) {
        float x = g[i], y;
        if (x <= -10.0f) {
            y = 0.0f;
        } else if (x >= 10.0f) {
            y = x;
        } else {
            x = ops_round_f16(x);
            y = ops_round_f16(0.5f * x *
                              (1.0f + tanhf(OPS_SQRT_2_OVER_PI * x * (1.0f + OPS_GELU_A * x * x))));
        }
        g[i] = y * up[i];
    }
}
