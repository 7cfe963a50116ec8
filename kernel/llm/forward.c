/*
 * The llama forward pass for one token of one sequence: RMSNorm, interleaved RoPE
 * (rotate pairs 2i, 2i+1 within each head), grouped-query attention over the KV
 * cache, SwiGLU FFN, final norm and the output matrix. Called by generation code
 * and host tests through model_forward (model.h); the math is in ops.c.
 */
#include "llm/ops.h"

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

/* s->xb(n_heads * head_dim) = attention of s->q over positions 0..pos of layer l. */
static void forward_attention(const struct model_config *c, struct model_state *s, int l, int pos) {
    int hd = c->head_dim, kv_dim = c->n_kv_heads * hd, rep = c->n_heads / c->n_kv_heads;
    size_t loff = (size_t)l * (size_t)s->n_ctx * (size_t)kv_dim;
    float scale = 1.0f / sqrtf((float)hd);
    for (int h = 0; h < c->n_heads; h++) {
        const float *q = s->q + h * hd;
        float *att = s->att + (size_t)h * (size_t)s->n_ctx;
        int kvh = h / rep;
        for (int t = 0; t <= pos; t++)
            att[t] = ops_dot(q, s->key_cache + loff + (size_t)t * kv_dim + kvh * hd, hd) * scale;
        ops_softmax(att, pos + 1);
        float *out = s->xb + h * hd;
        memset(out, 0, (size_t)hd * sizeof(float));
        for (int t = 0; t <= pos; t++)
            ops_axpy(out, att[t], s->value_cache + loff + (size_t)t * kv_dim + kvh * hd, hd);
    }
}

const float *model_forward(const struct model *m, struct model_state *s, int token, int pos) {
    const struct model_config *c = &m->cfg;
    if (token < 0 || token >= c->vocab_size || pos < 0 || pos >= s->n_ctx)
        return NULL;
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
        ops_matmul_n(qkv_out, qkv, 3, s->xb);
        forward_rope(c, s->q, k, pos);
        forward_attention(c, s, l, pos);
        ops_matmul(s->xb2, &w->wo, s->xb);
        for (int i = 0; i < c->dim; i++)
            s->x[i] += s->xb2[i];

        ops_rmsnorm(s->xb, s->x, w->ffn_norm, c->dim, c->rms_eps);
        float *const ffn_out[2] = {s->hb, s->hb2};
        const struct model_matrix *const ffn[2] = {&w->w1, &w->w3};
        ops_matmul_n(ffn_out, ffn, 2, s->xb);
        ops_swiglu(s->hb, s->hb2, c->hidden_dim);
        ops_matmul(s->xb2, &w->w2, s->hb);
        for (int i = 0; i < c->dim; i++)
            s->x[i] += s->xb2[i];
    }
    ops_rmsnorm(s->x, s->x, m->output_norm, c->dim, c->rms_eps);
    ops_matmul(s->logits, &m->output, s->x);
    return s->logits;
}
