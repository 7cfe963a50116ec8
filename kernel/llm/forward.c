/*
 * The llama forward pass for one token of one sequence: RMSNorm, interleaved RoPE
 * (rotate pairs 2i, 2i+1 within each head), grouped-query attention over the KV
 * cache, SwiGLU FFN, final norm and the output matrix. Called by generation code
 * and host tests through model_forward (model.h); the math is in ops.c.
 *
 * model_forward_batch (several prompt tokens of one sequence) and model_forward_multi
 * (the next token of several sequences) run their rows through each layer together,
 * so every weight matrix is read once per batch instead of once per token. Both give
 * the same numbers as model_forward token by token.
 *
 * Scratch (the rounded matmul inputs, a batch's activations) lives in a struct
 * ops_scratch passed down from the entry points; there is one per CPU that runs
 * forward passes, today only the boot CPU's below.
 */
#include "llm/ops.h"

/* The boot CPU's scratch, owned here: it grows to the largest model seen and lives
 * as long as the kernel. */
static struct ops_scratch forward_cpu0;

/* Rotate q (n_heads heads) and k (n_kv_heads heads) in place for position pos. */
static void forward_rope(const struct model_config *c, float *q, float *k, int pos) {
    int hd = c->head_dim;
    for (int i = 0; i < hd; i += 2) {
        float freq = 1.0f / powf(c->rope_theta, (float)i / (float)hd);
        float val = (float)pos * freq;
        float fcr = cosf(val), fci = sinf(val);
        for (int h = 0; h < c->n_heads; h++) {
            float *v = q + h * hd + i;
            float v0 = v[0], v1 = v[1];
            v[0] = v0 * fcr - v1 * fci;
            v[1] = v0 * fci + v1 * fcr;
        }
        for (int h = 0; h < c->n_kv_heads; h++) {
            float *v = k + h * hd + i;
            float v0 = v[0], v1 = v[1];
            v[0] = v0 * fcr - v1 * fci;
            v[1] = v0 * fci + v1 * fcr;
        }
    }
}

/* Attention of one row: q(n_heads * head_dim) over positions 0..pos of layer l into
 * out(n_heads * head_dim), heads split across CPUs (ops_par_rows). */
struct forward_att {
    const struct model_config *c;
    struct model_state *s;
    int l, pos;
    const float *qv;
    float *outv;
};

/* Heads [h0, h1) of the attention job a (an ops_par_fn): each head writes only its
 * own scores and output. */
static void forward_heads(void *arg, int h0, int h1) {
    const struct forward_att *a = arg;
    const struct model_config *c = a->c;
    struct model_state *s = a->s;
    int hd = c->head_dim, kv_dim = c->n_kv_heads * hd, rep = c->n_heads / c->n_kv_heads, pos = a->pos;
    size_t loff = (size_t)a->l * (size_t)s->n_ctx * (size_t)kv_dim;
    float scale = 1.0f / sqrtf((float)hd);
    for (int h = h0; h < h1; h++) {
        const float *q = a->qv + h * hd;
        float *att = s->att + (size_t)h * (size_t)s->n_ctx;
        int kvh = h / rep;
        for (int t = 0; t <= pos; t++)
            att[t] = ops_dot(q, s->key_cache + loff + (size_t)t * kv_dim + kvh * hd, hd) * scale;
        ops_softmax(att, pos + 1);
        float *out = a->outv + h * hd;
        memset(out, 0, (size_t)hd * sizeof(float));
        for (int t = 0; t <= pos; t++)
            ops_axpy(out, att[t], s->value_cache + loff + (size_t)t * kv_dim + kvh * hd, hd);
    }
}

static void forward_attention(const struct model_config *c, struct model_state *s, int l, int pos,
                              const float *qv, float *outv) {
    struct forward_att a = {c, s, l, pos, qv, outv};
    uint64_t work = 2u * (uint64_t)c->n_heads * (uint64_t)(pos + 1) * (uint64_t)c->head_dim;
    ops_par_rows(forward_heads, &a, c->n_heads, work);
}

#define FORWARD_ERR_RANGE "token or position out of range"
#define FORWARD_ERR_NONFINITE "logits not finite (NaN or inf): NaN weights or an overflow in the model"

/* True if the n values are all finite: once per token, so that NaN or inf logits
 * (NaN weights, an overflow) end the generation instead of reaching the sampler.
 * v * 0 is 0 for a finite v and NaN otherwise; the sum vectorizes. */
static bool forward_finite(const float *v, int n) {
    float acc = 0;
    for (int i = 0; i < n; i++)
        acc += v[i] * 0.0f;
    return acc == 0;
}

/* model_forward with the scratch sc. */
static const float *forward_one(const struct model *m, struct ops_scratch *sc, struct model_state *s,
                                int token, int pos) {
    const struct model_config *c = &m->cfg;
    if (token < 0 || token >= c->vocab_size || pos < 0 || pos >= s->n_ctx) {
        s->error = FORWARD_ERR_RANGE;
        return NULL;
    }
    int kv_dim = c->n_kv_heads * c->head_dim;
    ops_get_row(s->x, &m->tok_embd, token);
    for (int l = 0; l < c->n_layers; l++) {
        const struct model_layer *w = &m->layers[l];
        size_t loff = (size_t)l * (size_t)s->n_ctx * (size_t)kv_dim;
        float *k = s->key_cache + loff + (size_t)pos * kv_dim;
        float *v = s->value_cache + loff + (size_t)pos * kv_dim;

        ops_rmsnorm(s->xb, s->x, w->attn_norm, c->dim, c->rms_eps);
        float *const qkv_out[3] = {s->q, k, v};
        const struct model_matrix *const qkv[3] = {&w->wq, &w->wk, &w->wv};
        ops_matmul_n(sc, qkv_out, qkv, 3, s->xb);
        forward_rope(c, s->q, k, pos);
        forward_attention(c, s, l, pos, s->q, s->xb);
        ops_matmul(sc, s->xb2, &w->wo, s->xb);
        for (int i = 0; i < c->dim; i++)
            s->x[i] += s->xb2[i];

        ops_rmsnorm(s->xb, s->x, w->ffn_norm, c->dim, c->rms_eps);
        float *const ffn_out[2] = {s->hb, s->hb2};
        const struct model_matrix *const ffn[2] = {&w->w1, &w->w3};
        ops_matmul_n(sc, ffn_out, ffn, 2, s->xb);
        ops_swiglu(s->hb, s->hb2, c->hidden_dim);
        ops_matmul(sc, s->xb2, &w->w2, s->hb);
        for (int i = 0; i < c->dim; i++)
            s->x[i] += s->xb2[i];
    }
    ops_rmsnorm(s->x, s->x, m->output_norm, c->dim, c->rms_eps);
    ops_matmul(sc, s->logits, &m->output, s->x);
    if (!forward_finite(s->logits, c->vocab_size)) {
        s->error = FORWARD_ERR_NONFINITE;
        return NULL;
    }
    return s->logits;
}

const float *model_forward(const struct model *m, struct model_state *s, int token, int pos) {
    return forward_one(m, &forward_cpu0, s, token, pos);
}

/* Rows of a batch at most (prompt tokens, or sequences of model_forward_multi). */
#define FORWARD_BATCH 16

/* Activations of a batch, n floats, in sc; NULL when out of memory. */
static float *forward_scratch(struct ops_scratch *sc, size_t n) {
    if (n > sc->act_cap) {
        float *p = port_alloc(n * sizeof(float));
        if (!p)
            return NULL;
        port_free(sc->act);
        sc->act = p;
        sc->act_cap = n;
    }
    return sc->act;
}

/* One row of a batch: a token of some sequence at its position. */
struct forward_row {
    struct model_state *s;
    int token, pos;
};

/* Rows (nb <= FORWARD_BATCH) through every layer, the matrices shared by all rows,
 * attention per row over its own sequence's cache (rows of one sequence in position
 * order, so each sees the ones before it). With logits, every row's state gets its
 * logits; without, only the residual stream of the last row is left in its s->x.
 * -1 if the scratch cannot be had, or if a row's logits are not finite (the caller
 * then runs the rows one by one, which names the sequence). */
static int forward_rows(const struct model *m, struct ops_scratch *sc, const struct forward_row *r,
                        int nb, bool logits) {
    const struct model_config *c = &m->cfg;
    int dim = c->dim, hid = c->hidden_dim, kv_dim = c->n_kv_heads * c->head_dim;
    int qd = c->n_heads * c->head_dim, wide = MAX(dim, qd);
    size_t per_row = (size_t)(dim + 2 * wide + qd + 2 * kv_dim + 2 * hid);
    if (logits)
        per_row += (size_t)c->vocab_size;
    float *x = forward_scratch(sc, (size_t)nb * per_row);
    if (!x)
        return -1;
    float *xb = x + nb * dim, *xb2 = xb + nb * wide, *q = xb2 + nb * wide;
    float *k = q + nb * qd, *v = k + nb * kv_dim, *hb = v + nb * kv_dim, *hb2 = hb + nb * hid;
    for (int b = 0; b < nb; b++)
        ops_get_row(x + b * dim, &m->tok_embd, r[b].token);
    for (int l = 0; l < c->n_layers; l++) {
        const struct model_layer *w = &m->layers[l];
        for (int b = 0; b < nb; b++)
            ops_rmsnorm(xb + b * dim, x + b * dim, w->attn_norm, dim, c->rms_eps);
        float *const qkv_out[3] = {q, k, v};
        const struct model_matrix *const qkv[3] = {&w->wq, &w->wk, &w->wv};
        ops_matmul_batch(sc, qkv_out, qkv, 3, xb, nb);
        for (int b = 0; b < nb; b++) {
            forward_rope(c, q + b * qd, k + b * kv_dim, r[b].pos);
            size_t at = ((size_t)l * (size_t)r[b].s->n_ctx + (size_t)r[b].pos) * (size_t)kv_dim;
            memcpy(r[b].s->key_cache + at, k + b * kv_dim, (size_t)kv_dim * sizeof(float));
            memcpy(r[b].s->value_cache + at, v + b * kv_dim, (size_t)kv_dim * sizeof(float));
        }
        for (int b = 0; b < nb; b++)
            forward_attention(c, r[b].s, l, r[b].pos, q + b * qd, xb2 + b * qd);
        float *const wo_out[1] = {xb};
        const struct model_matrix *const wo[1] = {&w->wo};
        ops_matmul_batch(sc, wo_out, wo, 1, xb2, nb);
        for (int i = 0; i < nb * dim; i++)
            x[i] += xb[i];

        for (int b = 0; b < nb; b++)
            ops_rmsnorm(xb + b * dim, x + b * dim, w->ffn_norm, dim, c->rms_eps);
        float *const ffn_out[2] = {hb, hb2};
        const struct model_matrix *const ffn[2] = {&w->w1, &w->w3};
        ops_matmul_batch(sc, ffn_out, ffn, 2, xb, nb);
        for (int b = 0; b < nb; b++)
            ops_swiglu(hb + b * hid, hb2 + b * hid, hid);
        float *const w2_out[1] = {xb};
        const struct model_matrix *const w2[1] = {&w->w2};
        ops_matmul_batch(sc, w2_out, w2, 1, hb, nb);
        for (int i = 0; i < nb * dim; i++)
            x[i] += xb[i];
    }
    if (!logits) {
        memcpy(r[nb - 1].s->x, x + (nb - 1) * dim, (size_t)dim * sizeof(float));
        return 0;
    }
    float *out = hb2 + nb * hid;
    for (int b = 0; b < nb; b++)
        ops_rmsnorm(x + b * dim, x + b * dim, m->output_norm, dim, c->rms_eps);
    float *const lg_out[1] = {out};
    const struct model_matrix *const lg[1] = {&m->output};
    ops_matmul_batch(sc, lg_out, lg, 1, x, nb);
    for (int b = 0; b < nb; b++) {
        if (!forward_finite(out + (size_t)b * c->vocab_size, c->vocab_size))
            return -1;
        memcpy(r[b].s->logits, out + (size_t)b * c->vocab_size, (size_t)c->vocab_size * sizeof(float));
    }
    return 0;
}

const float *model_forward_batch(const struct model *m, struct model_state *s, const int *tokens,
                                 int n, int pos) {
    const struct model_config *c = &m->cfg;
    bool ok = n > 0 && pos >= 0 && pos <= s->n_ctx - n;
    for (int i = 0; ok && i < n; i++)
        ok = tokens[i] >= 0 && tokens[i] < c->vocab_size;
    if (!ok) {
        s->error = FORWARD_ERR_RANGE;
        return NULL;
    }
    struct ops_scratch *sc = &forward_cpu0;
    struct forward_row rows[FORWARD_BATCH];
    for (int done = 0; done < n;) {
        int nb = MIN(FORWARD_BATCH, n - done);
        for (int b = 0; b < nb; b++)
            rows[b] = (struct forward_row){s, tokens[done + b], pos + done + b};
        if (nb == 1 || forward_rows(m, sc, rows, nb, false) != 0) {
            /* one token, or no scratch memory: the one-token pass */
            for (int i = 0; i < nb; i++)
                if (!forward_one(m, sc, s, tokens[done + i], pos + done + i))
                    return NULL;
        } else if (done + nb == n) {
            ops_rmsnorm(s->x, s->x, m->output_norm, c->dim, c->rms_eps);
            ops_matmul(sc, s->logits, &m->output, s->x);
            if (!forward_finite(s->logits, c->vocab_size)) {
                s->error = FORWARD_ERR_NONFINITE;
                return NULL;
            }
        }
        done += nb;
    }
    return s->logits;
}

int model_forward_multi(const struct model *m, struct model_state *const *s, const int *tokens,
                        const int *pos, int n) {
    const struct model_config *c = &m->cfg;
    for (int i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= c->vocab_size || pos[i] < 0 || pos[i] >= s[i]->n_ctx) {
            s[i]->error = FORWARD_ERR_RANGE;
            return -1;
        }
    }
    struct ops_scratch *sc = &forward_cpu0;
    struct forward_row rows[FORWARD_BATCH];
    for (int done = 0; done < n;) {
        int nb = MIN(FORWARD_BATCH, n - done);
        for (int b = 0; b < nb; b++)
            rows[b] = (struct forward_row){s[done + b], tokens[done + b], pos[done + b]};
        if (nb == 1 || forward_rows(m, sc, rows, nb, true) != 0) {
            for (int i = 0; i < nb; i++)
                if (!forward_one(m, sc, s[done + i], tokens[done + i], pos[done + i]))
                    return -1;
        }
        done += nb;
    }
    return 0;
}
