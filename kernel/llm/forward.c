/*
 * The forward pass for one token of one sequence: RMSNorm, RoPE, grouped-query
 * attention over the KV cache, gated FFN, final norm and the output matrix. Called
 * by generation code and host tests through model_forward (model.h); the math is in
 * ops.c. What differs between architectures is read from the options the binding
 * (arch.c) set in model_config and model_layer: RoPE pairing (2i, 2i+1 or i,
 * i + rope_dim/2), base and position scale per layer, Llama 3 frequency divisors,
 * Q/K/V biases, per-head Q/K norms, post-attention and post-FFN norms, the FFN
 * activation, the embedding scale, the attention scale and sliding windows, and the
 * logit soft-cap.
 *
 * model_forward_rows runs rows of several sequences through each layer together (a
 * prompt chunk of one, the next token of others: one scheduler turn), so every weight
 * matrix is read once per batch instead of once per token; model_forward_batch
 * (several prompt tokens of one sequence) is its plain case. The rows of one sequence
 * at consecutive positions attend as one block (forward_block), each K and V row read
 * once for all of them. All give the same numbers as model_forward token by token.
 *
 * Scratch (the rounded matmul inputs, a batch's activations) lives in a struct
 * ops_scratch passed down from the entry points; there is one per CPU that runs
 * forward passes, today only the boot CPU's below.
 */
#include "llm/ops.h"

/* The boot CPU's scratch, owned here: it grows to the largest model seen and lives
 * as long as the kernel. */
static struct ops_scratch forward_cpu0;

/* The cos and sin of every pair of rope_dim at recent (position, base, scale) keys of
 * one sequence, so that powf/sinf/cosf (software x87 under QEMU's TCG) run once per
 * position and base instead of in every layer. Two ways per set, the set chosen by
 * position: a batch of FORWARD_BATCH positions and gemma3's two bases stay resident.
 * The table holds the very floats the direct computation gives. Owned by the
 * model_state (s->rope, freed by model_state_free); one sequence runs on one CPU at
 * a time, so it needs no lock. */
#define FORWARD_ROPE_SETS 32
#define FORWARD_ROPE_WAYS 2 /* the replacement below alternates between the two */
#define FORWARD_ROPE_ENTRY(rd) ((size_t)((rd) + 1) / 2 * 2) /* floats of one key's angles */

struct forward_rope_key {
    int pos;            /* position; only meaningful when theta != 0 */
    float theta, scale; /* the layer's base and position scale; theta 0: empty */
};

struct forward_rope_cache {
    struct forward_rope_key key[FORWARD_ROPE_SETS][FORWARD_ROPE_WAYS];
    uint8_t victim[FORWARD_ROPE_SETS]; /* the way the next miss in the set replaces */
    float cs[]; /* (SETS * WAYS, FORWARD_ROPE_ENTRY(rd)): cos and sin of pair j at 2j, 2j + 1 */
};

/* The angle of pair j = i / 2 of rope_dim rd for pos with layer w's base and scale:
 * pos * scale * theta^(-2j/rd) / freqs[j], its cos in *fcr and sin in *fci. The table
 * stores what this gives, so cached and direct values are equal bit for bit. */
static void forward_rope_pair(const struct model *m, const struct model_layer *w, int pos, int i,
                              float *fcr, float *fci) {
    float freq = 1.0f / powf(w->rope_theta, (float)i / (float)m->cfg.rope_dim);
    if (m->rope_freqs)
        freq /= m->rope_freqs[i / 2];
    float val = (float)pos * w->rope_scale * freq;
    *fcr = cosf(val);
    *fci = sinf(val);
}

/* The angles of (pos, layer w's base and scale) from s's table, computed on a miss;
 * NULL when the table cannot be allocated (the caller then computes each pair). */
static const float *forward_rope_lookup(const struct model *m, struct model_state *s,
                                        const struct model_layer *w, int pos) {
    int rd = m->cfg.rope_dim;
    struct forward_rope_cache *rc = s->rope;
    if (!rc) {
        size_t n = FORWARD_ROPE_SETS * FORWARD_ROPE_WAYS * FORWARD_ROPE_ENTRY(rd);
        rc = port_alloc(sizeof(*rc) + n * sizeof(float));
        if (!rc)
            return NULL;
        memset(rc, 0, sizeof(*rc));
        s->rope = rc;
    }
    int set = pos % FORWARD_ROPE_SETS;
    struct forward_rope_key *key = rc->key[set];
    for (int way = 0; way < FORWARD_ROPE_WAYS; way++) {
        if (key[way].theta == w->rope_theta && key[way].scale == w->rope_scale &&
            key[way].pos == pos) {
            rc->victim[set] = (uint8_t)(1 - way);
            return rc->cs + (size_t)(set * FORWARD_ROPE_WAYS + way) * FORWARD_ROPE_ENTRY(rd);
        }
    }
    int way = rc->victim[set];
    float *cs = rc->cs + (size_t)(set * FORWARD_ROPE_WAYS + way) * FORWARD_ROPE_ENTRY(rd);
    for (int i = 0; i < rd; i += 2)
        forward_rope_pair(m, w, pos, i, &cs[i], &cs[i + 1]);
    key[way] = (struct forward_rope_key){pos, w->rope_theta, w->rope_scale};
    rc->victim[set] = (uint8_t)(1 - way);
    return cs;
}

/* Rotate q (n_heads heads) and k (n_kv_heads heads) of sequence s in place for
 * position pos, with layer w's base and scale (angles from forward_rope_lookup), by
 * the kernel set's ops_rope. NORM pairs are (2j, 2j+1), NEOX (j, j + rope_dim/2). */
static void forward_rope(const struct model *m, struct model_state *s, const struct model_layer *w,
                         float *q, float *k, int pos) {
    const struct model_config *c = &m->cfg;
    int hd = c->head_dim, rd = c->rope_dim;
    int half = c->rope_kind == MODEL_ROPE_NEOX ? rd / 2 : 0;
    const float *cs = forward_rope_lookup(m, s, w, pos);
    if (cs) {
        ops_rope(q, c->n_heads, hd, cs, rd / 2, half);
        ops_rope(k, c->n_kv_heads, hd, cs, rd / 2, half);
        return;
    }
    for (int i = 0; i < rd; i += 2) { /* no memory for the table: pair by pair */
        float one[2];
        forward_rope_pair(m, w, pos, i, &one[0], &one[1]);
        int at = half ? i / 2 : i;
        ops_rope(q + at, c->n_heads, hd, one, 1, half);
        ops_rope(k + at, c->n_kv_heads, hd, one, 1, half);
    }
}

/* The projections' optional extras, on q (n_heads heads) and k, v (n_kv_heads): the
 * biases, then the per-head RMSNorms of q and k; then RoPE. */
static void forward_qkv_post(const struct model *m, struct model_state *s,
                             const struct model_layer *w, float *q, float *k, float *v, int pos) {
    const struct model_config *c = &m->cfg;
    int hd = c->head_dim, qd = c->n_heads * hd, kvd = c->n_kv_heads * hd;
    if (w->bq) {
        for (int i = 0; i < qd; i++)
            q[i] += w->bq[i];
        for (int i = 0; i < kvd; i++) {
            k[i] += w->bk[i];
            v[i] += w->bv[i];
        }
    }
    if (w->attn_q_norm) {
        for (int h = 0; h < c->n_heads; h++)
            ops_rmsnorm(q + h * hd, q + h * hd, w->attn_q_norm, hd, c->rms_eps);
        for (int h = 0; h < c->n_kv_heads; h++)
            ops_rmsnorm(k + h * hd, k + h * hd, w->attn_k_norm, hd, c->rms_eps);
    }
    forward_rope(m, s, w, q, k, pos);
}

/* x(dim) += out, normed first by `post_norm` where the layer has one. */
static void forward_residual(const struct model_config *c, float *x, float *out,
                             const float *post_norm) {
    if (post_norm)
        ops_rmsnorm(out, out, post_norm, c->dim, c->rms_eps);
    for (int i = 0; i < c->dim; i++)
        x[i] += out[i];
}

/* The gated FFN activations, by enum model_act. */
static void (*const forward_glu[])(float *g, const float *up, int n) = {
    [MODEL_ACT_SILU] = ops_swiglu,
    [MODEL_ACT_GELU] = ops_geglu,
};

/* x(dim) = row `token` of the embeddings, times the architecture's scale. */
static void forward_embed(const struct model *m, float *x, int token) {
    ops_get_row(x, &m->tok_embd, token);
    if (m->cfg.embd_scale != 1.0f)
        for (int i = 0; i < m->cfg.dim; i++)
            x[i] *= m->cfg.embd_scale;
}

/* logits(vocab) = softcap * tanh(logits / softcap) where the model asks for it. */
static void forward_softcap(const struct model_config *c, float *logits) {
    if (c->logit_softcap <= 0)
        return;
    for (int i = 0; i < c->vocab_size; i++)
        logits[i] = c->logit_softcap * tanhf(logits[i] / c->logit_softcap);
}

/* Attention of one row: q(n_heads * head_dim) over positions 0..pos of layer l into
 * out(n_heads * head_dim), K and V from the sequence's blocks (kv.h), heads split across
 * CPUs (ops_par_rows); a layer with a sliding window sees positions pos - n_swa + 1 ..
 * pos only. */
struct forward_att {
    const struct model *m;
    struct model_state *s;
    int l, pos;
    const float *qv;
    float *outv;
};

/* The first position a row at pos attends to in layer w: pos - n_swa + 1 in a layer
 * with a sliding window, else 0. */
static int forward_first(const struct model_layer *w, int pos) {
    return w->n_swa && pos >= w->n_swa ? pos - w->n_swa + 1 : 0;
}

/* Query heads [h0, h1) of the attention job a (an ops_par_fn), taken by the KV head
 * they share: each K and V row is read once for all of that KV head's query heads in
 * the range, a block's run of positions per kernel call. Every score and output is the
 * same whatever the range (the kernels compute each query head's on its own), so any
 * split across CPUs gives the same bits; each range writes only its heads' scores and
 * outputs. */
static void forward_heads(void *arg, int h0, int h1) {
    const struct forward_att *a = arg;
    const struct model_config *c = &a->m->cfg;
    struct model_state *s = a->s;
    int hd = c->head_dim, rep = c->n_heads / c->n_kv_heads, pos = a->pos, l = a->l;
    int t0 = forward_first(&a->m->layers[l], pos);
    for (int h = h0; h < h1;) {
        int kvh = h / rep, nq = MIN(h1, (kvh + 1) * rep) - h;
        struct ops_att at = {
            .q = a->qv + h * hd,
            .out = a->outv + h * hd,
            .nq = nq,
            .hd = hd,
            .kv_stride = c->n_kv_heads * hd,
            .s_stride = s->n_ctx,
            .scale = c->attn_scale,
        };
        float *att = s->att + (size_t)h * (size_t)s->n_ctx; /* (nq, n_ctx) */
        struct kv_run run;
        for (int t = t0; t <= pos; t += run.n) {
            kv_run(&s->kv, l, t, pos + 1, kvh * hd, &run);
            ops_att_scores(&at, run.type, run.k, run.n, att + t);
        }
        for (int i = 0; i < nq; i++)
            ops_softmax(att + (size_t)i * (size_t)s->n_ctx + t0, pos + 1 - t0);
        memset(at.out, 0, (size_t)nq * (size_t)hd * sizeof(float));
        for (int t = t0; t <= pos; t += run.n) {
            kv_run(&s->kv, l, t, pos + 1, kvh * hd, &run);
            ops_att_values(&at, run.type, run.v, run.n, att + t);
        }
        h += nq;
    }
}

static void forward_attention(const struct model *m, struct model_state *s, int l, int pos,
                              const float *qv, float *outv) {
    struct forward_att a = {m, s, l, pos, qv, outv};
    const struct model_config *c = &m->cfg;
    uint64_t work = 2u * (uint64_t)c->n_heads * (uint64_t)(pos + 1) * (uint64_t)c->head_dim;
    /* Heads go out by KV-head group: each K/V row is read once per group. */
    ops_par_groups(forward_heads, &a, c->n_heads, work, c->n_heads / c->n_kv_heads);
}

/* Block scratch at most, in floats (4 MiB): a longer run attends as several blocks.
 * Tests build with a small value to split runs. */
#ifndef FORWARD_ATT_FLOATS
#define FORWARD_ATT_FLOATS (1u << 20)
#endif

/* Attention of a run of rows of one sequence at consecutive positions p0 .. p0 + nr - 1
 * (a prompt chunk), in one split across CPUs a layer: each job reads a K and a V row
 * once for every row of the run and every query head of its group, where row by row
 * they were read once a row. Row r attends to forward_first(p0 + r) .. p0 + r, as
 * alone; a position outside a row's range is never touched for it (the run's later K
 * and V are stored already, and could be non-finite). Each score is the same dot times
 * scale, each softmax over the same window and each weighted sum the same updates in
 * the same order as in forward_heads, so every row gets its one-row bits.
 *
 * The job of heads [h, h + nq) (one KV head's group or part of one) owns the slices
 * of qo and att from head h on, and lays them out by (row, head), so that rows
 * ra .. rb - 1 of the group are one ops_att of (rb - ra) * nq queries. */
struct forward_block {
    const struct model *m;
    struct model_state *s;
    int l, p0, nr;   /* layer, first position, rows */
    int lo, span;    /* the first row's first position; scores per (row, head) */
    const float *qv; /* (nr, n_heads * head_dim) the rows' queries */
    float *outv;     /* (nr, n_heads * head_dim) their attention outputs */
    float *qo;       /* (n_heads, nr, head_dim) scratch: a job's queries, then outputs */
    float *att;      /* (n_heads, nr, span) scratch: scores, then weights */
};

/* One group of a block job: KV head kvh, nq query heads a row, its (nr, nq, head_dim)
 * queries or outputs and (nr, nq, span) scores. */
struct forward_group {
    int kvh, nq;
    float *qo, *att;
};

/* Rows [r0, r0 + n) of group g over positions [t0, t1) of one KV block: their scores
 * (values false) or their weighted sums of the V rows. */
static void forward_block_call(const struct forward_block *a, const struct forward_group *g, int r0,
                               int n, int t0, int t1, bool values) {
    const struct model_config *c = &a->m->cfg;
    int hd = c->head_dim;
    size_t first = (size_t)r0 * (size_t)g->nq; /* (row, head) index of the call's first */
    struct ops_att at = {
        .q = g->qo + first * (size_t)hd,
        .out = g->qo + first * (size_t)hd,
        .nq = n * g->nq,
        .hd = hd,
        .kv_stride = c->n_kv_heads * hd,
        .s_stride = a->span,
        .scale = c->attn_scale,
    };
    float *s = g->att + first * (size_t)a->span + (t0 - a->lo);
    struct kv_run run;
    kv_run(&a->s->kv, a->l, t0, t1, g->kvh * hd, &run); /* within one block: n = t1 - t0 */
    if (values)
        ops_att_values(&at, run.type, run.v, run.n, s);
    else
        ops_att_scores(&at, run.type, run.k, run.n, s);
}

/* Scores (values false) or weighted sums of group g, a KV block at a time: the rows
 * whose range holds the whole block (a contiguous range, as both ends of a row's range
 * grow with the row) in one call, each row that holds part of it in a call of its own. */
static void forward_block_pass(const struct forward_block *a, const struct forward_group *g,
                               bool values) {
    const struct model_layer *w = &a->m->layers[a->l];
    int end = a->p0 + a->nr;
    struct kv_run run;
    for (int t = a->lo; t < end; t += run.n) {
        kv_run(&a->s->kv, a->l, t, end, g->kvh * a->m->cfg.head_dim, &run);
        int ra = -1, rb = -1;
        for (int r = 0; r < a->nr; r++) {
            int t0 = MAX(t, forward_first(w, a->p0 + r)), t1 = MIN(t + run.n, a->p0 + r + 1);
            if (t0 >= t1)
                continue;
            if (t0 == t && t1 == t + run.n) {
                ra = ra < 0 ? r : ra;
                rb = r + 1;
            } else {
                forward_block_call(a, g, r, 1, t0, t1, values);
            }
        }
        if (ra >= 0)
            forward_block_call(a, g, ra, rb - ra, t, t + run.n, values);
    }
}

/* Query heads [h0, h1) of the block job a (an ops_par_fn), by the KV head they share. */
static void forward_block_heads(void *arg, int h0, int h1) {
    const struct forward_block *a = arg;
    const struct model_config *c = &a->m->cfg;
    const struct model_layer *w = &a->m->layers[a->l];
    int hd = c->head_dim, qd = c->n_heads * hd, rep = c->n_heads / c->n_kv_heads, nr = a->nr;
    size_t row_bytes = (size_t)hd * sizeof(float);
    for (int h = h0; h < h1;) {
        struct forward_group g = {h / rep, MIN(h1, (h / rep + 1) * rep) - h,
                                  a->qo + (size_t)h * (size_t)nr * (size_t)hd,
                                  a->att + (size_t)h * (size_t)nr * (size_t)a->span};
        for (int r = 0; r < nr; r++)
            for (int i = 0; i < g.nq; i++)
                memcpy(g.qo + (size_t)(r * g.nq + i) * (size_t)hd, a->qv + r * qd + (h + i) * hd,
                       row_bytes);
        forward_block_pass(a, &g, false);
        for (int r = 0; r < nr; r++) {
            int t0 = forward_first(w, a->p0 + r);
            for (int i = 0; i < g.nq; i++)
                ops_softmax(g.att + (size_t)(r * g.nq + i) * (size_t)a->span + (t0 - a->lo),
                            a->p0 + r + 1 - t0);
        }
        memset(g.qo, 0, (size_t)nr * (size_t)g.nq * row_bytes);
        forward_block_pass(a, &g, true);
        for (int r = 0; r < nr; r++)
            for (int i = 0; i < g.nq; i++)
                memcpy(a->outv + r * qd + (h + i) * hd, g.qo + (size_t)(r * g.nq + i) * (size_t)hd,
                       row_bytes);
        h += g.nq;
    }
}

/* Floats of block scratch that a run of n rows from p0 may need: its queries and its
 * scores over at most p0 + n positions. */
static size_t forward_block_floats(const struct model_config *c, int p0, int n) {
    return (size_t)n * ((size_t)c->n_heads * (size_t)(p0 + n) + (size_t)(c->n_heads * c->head_dim));
}

/* The rows from r[b] that attend as one block: consecutive positions of r[b]'s
 * sequence, as many as FORWARD_ATT_FLOATS of scratch allows (1: attend alone). */
static int forward_block_rows(const struct model *m, const struct model_row *r, int nb, int b) {
    int n = 1;
    while (b + n < nb && r[b + n].s == r[b].s && r[b + n].pos == r[b].pos + n &&
           forward_block_floats(&m->cfg, r[b].pos, n + 1) <= FORWARD_ATT_FLOATS)
        n++;
    return n;
}

/* Block scratch the rows r[0..nb) need: the most that one of their blocks needs. */
static size_t forward_block_need(const struct model *m, const struct model_row *r, int nb) {
    size_t need = 0;
    for (int b = 0, n; b < nb; b += n) {
        n = forward_block_rows(m, r, nb, b);
        if (n > 1)
            need = MAX(need, forward_block_floats(&m->cfg, r[b].pos, n));
    }
    return need;
}

/* Attention of n rows of s at positions p0 .. p0 + n - 1 in layer l: q(n, n_heads *
 * head_dim) into out (the same shape), with scratch (forward_block_floats). */
static void forward_block(const struct model *m, struct model_state *s, int l, int p0, int n,
                          const float *q, float *out, float *scratch) {
    const struct model_config *c = &m->cfg;
    int lo = forward_first(&m->layers[l], p0), span = p0 + n - lo;
    struct forward_block a = {
        .m = m,
        .s = s,
        .l = l,
        .p0 = p0,
        .nr = n,
        .lo = lo,
        .span = span,
        .qv = q,
        .outv = out,
        .qo = scratch,
        .att = scratch + (size_t)n * (size_t)(c->n_heads * c->head_dim),
    };
    uint64_t work =
        2u * (uint64_t)c->n_heads * (uint64_t)n * (uint64_t)span * (uint64_t)c->head_dim;
    ops_par_groups(forward_block_heads, &a, c->n_heads, work, c->n_heads / c->n_kv_heads);
}

#define FORWARD_ERR_RANGE "token or position out of range (or no KV block held for it)"
#define FORWARD_ERR_NONFINITE                                                                      \
    "logits not finite (NaN or inf): NaN weights or an overflow in the model"

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
static const float *forward_one(const struct model *m, struct ops_scratch *sc,
                                struct model_state *s, int token, int pos) {
    const struct model_config *c = &m->cfg;
    if (token < 0 || token >= c->vocab_size || pos < 0 || pos >= kv_seq_positions(&s->kv)) {
        s->error = FORWARD_ERR_RANGE;
        return NULL;
    }
    forward_embed(m, s->x, token);
    for (int l = 0; l < c->n_layers; l++) {
        const struct model_layer *w = &m->layers[l];
        float *k = s->k, *v = s->v;

        ops_rmsnorm(s->xb, s->x, w->attn_norm, c->dim, c->rms_eps);
        float *const qkv_out[3] = {s->q, k, v};
        const struct model_matrix *const qkv[3] = {&w->wq, &w->wk, &w->wv};
        ops_matmul_n(sc, qkv_out, qkv, 3, s->xb);
        forward_qkv_post(m, s, w, s->q, k, v, pos);
        kv_store(&s->kv, l, pos, k, v);
        forward_attention(m, s, l, pos, s->q, s->xb);
        ops_matmul(sc, s->xb2, &w->wo, s->xb);
        forward_residual(c, s->x, s->xb2, w->attn_post_norm);

        ops_rmsnorm(s->xb, s->x, w->ffn_norm, c->dim, c->rms_eps);
        float *const ffn_out[2] = {s->hb, s->hb2};
        const struct model_matrix *const ffn[2] = {&w->w1, &w->w3};
        ops_matmul_n(sc, ffn_out, ffn, 2, s->xb);
        forward_glu[c->ffn_act](s->hb, s->hb2, c->hidden_dim);
        ops_matmul(sc, s->xb2, &w->w2, s->hb);
        forward_residual(c, s->x, s->xb2, w->ffn_post_norm);
    }
    ops_rmsnorm(s->x, s->x, m->output_norm, c->dim, c->rms_eps);
    ops_matmul(sc, s->logits, &m->output, s->x);
    forward_softcap(c, s->logits);
    if (!forward_finite(s->logits, c->vocab_size)) {
        s->error = FORWARD_ERR_NONFINITE;
        return NULL;
    }
    return s->logits;
}

void model_scratch_release(void) {
    ops_scratch_free(&forward_cpu0);
}

const float *model_forward(const struct model *m, struct model_state *s, int token, int pos) {
    return forward_one(m, &forward_cpu0, s, token, pos);
}

/* Rows of one pass through the layers at most; a longer list runs as several passes,
 * in order (so a sequence's rows split across two still see each other). */
#define FORWARD_BATCH 64
/* Rows whose logits one product with the output matrix computes: (vocab) floats of
 * scratch each, so fewer than FORWARD_BATCH. */
#define FORWARD_LOGITS_BATCH 16

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

/* The final norm and the output matrix for the rows of r[0..nb) that ask for logits,
 * FORWARD_LOGITS_BATCH at a time: x(nb, dim) holds the rows' residual streams,
 * lx(k, dim) and out(k, vocab) are scratch for k = MIN(rows asking, FORWARD_LOGITS_BATCH). -1 when
 * a row's logits are not finite. */
static int forward_logits(const struct model *m, struct ops_scratch *sc, const struct model_row *r,
                          int nb, float *x, float *lx, float *out) {
    const struct model_config *c = &m->cfg;
    int dim = c->dim, vocab = c->vocab_size;
    int who[FORWARD_LOGITS_BATCH], n = 0;
    for (int b = 0; b < nb; b++) {
        if (r[b].logits) {
            ops_rmsnorm(lx + n * dim, x + b * dim, m->output_norm, dim, c->rms_eps);
            who[n++] = b;
        }
        if (n == FORWARD_LOGITS_BATCH || (n && b == nb - 1)) {
            float *const lg_out[1] = {out};
            const struct model_matrix *const lg[1] = {&m->output};
            ops_matmul_batch(sc, lg_out, lg, 1, lx, n);
            for (int i = 0; i < n; i++) {
                float *o = out + (size_t)i * (size_t)vocab;
                forward_softcap(c, o);
                if (!forward_finite(o, vocab))
                    return -1;
                memcpy(r[who[i]].s->logits, o, (size_t)vocab * sizeof(float));
            }
            n = 0;
        }
    }
    return 0;
}

/* Rows r[0..nb) (nb <= FORWARD_BATCH) through every layer, the matrices shared by all
 * rows. In each layer every row's K and V are stored before any row attends, each
 * row over its own sequence's cache, so rows of one sequence (in position order) see
 * the ones before them; consecutive rows of a sequence attend as a block, with block
 * scratch after the activations (without it, when memory is short, one by one). The rows that ask
 * for it get their logits in their state. -1 if the scratch cannot be had, or if a row's logits are
 * not finite (the caller then runs the rows one by one, which names the sequence). */
static int forward_rows(const struct model *m, struct ops_scratch *sc, const struct model_row *r,
                        int nb) {
    const struct model_config *c = &m->cfg;
    int dim = c->dim, hid = c->hidden_dim, kv_dim = c->n_kv_heads * c->head_dim;
    int qd = c->n_heads * c->head_dim, wide = MAX(dim, qd);
    size_t per_row = (size_t)(dim + 2 * wide + qd + 2 * kv_dim + 2 * hid);
    int n_logits = 0;
    for (int b = 0; b < nb; b++)
        n_logits += r[b].logits;
    size_t logits = (size_t)MIN(n_logits, FORWARD_LOGITS_BATCH) * (size_t)(dim + c->vocab_size);
    size_t blocks = forward_block_need(m, r, nb), acts = (size_t)nb * per_row + logits;
    float *x = forward_scratch(sc, acts + blocks);
    if (!x && blocks) { /* without block scratch the rows attend one by one */
        blocks = 0;
        x = forward_scratch(sc, acts);
    }
    if (!x)
        return -1;
    float *xb = x + nb * dim, *xb2 = xb + nb * wide, *q = xb2 + nb * wide;
    float *k = q + nb * qd, *v = k + nb * kv_dim, *hb = v + nb * kv_dim, *hb2 = hb + nb * hid;
    ops_prof_mark(OPS_PROF_NONE);
    for (int b = 0; b < nb; b++)
        forward_embed(m, x + b * dim, r[b].token);
    ops_prof_mark(OPS_PROF_EMBED);
    for (int l = 0; l < c->n_layers; l++) {
        const struct model_layer *w = &m->layers[l];
        for (int b = 0; b < nb; b++)
            ops_rmsnorm(xb + b * dim, x + b * dim, w->attn_norm, dim, c->rms_eps);
        ops_prof_mark(OPS_PROF_NORM);
        float *const qkv_out[3] = {q, k, v};
        const struct model_matrix *const qkv[3] = {&w->wq, &w->wk, &w->wv};
        ops_matmul_batch(sc, qkv_out, qkv, 3, xb, nb);
        ops_prof_mark(OPS_PROF_MATMUL);
        for (int b = 0; b < nb; b++) {
            forward_qkv_post(m, r[b].s, w, q + b * qd, k + b * kv_dim, v + b * kv_dim, r[b].pos);
            kv_store(&r[b].s->kv, l, r[b].pos, k + b * kv_dim, v + b * kv_dim);
        }
        ops_prof_mark(OPS_PROF_ROPE);
        for (int b = 0, n; b < nb; b += n) {
            n = blocks ? forward_block_rows(m, r, nb, b) : 1;
            if (n > 1)
                forward_block(m, r[b].s, l, r[b].pos, n, q + b * qd, xb2 + b * qd, x + acts);
            else
                forward_attention(m, r[b].s, l, r[b].pos, q + b * qd, xb2 + b * qd);
        }
        ops_prof_mark(OPS_PROF_ATTENTION);
        float *const wo_out[1] = {xb};
        const struct model_matrix *const wo[1] = {&w->wo};
        ops_matmul_batch(sc, wo_out, wo, 1, xb2, nb);
        ops_prof_mark(OPS_PROF_MATMUL);
        for (int b = 0; b < nb; b++)
            forward_residual(c, x + b * dim, xb + b * dim, w->attn_post_norm);
        ops_prof_mark(OPS_PROF_RESIDUAL);

        for (int b = 0; b < nb; b++)
            ops_rmsnorm(xb + b * dim, x + b * dim, w->ffn_norm, dim, c->rms_eps);
        ops_prof_mark(OPS_PROF_NORM);
        float *const ffn_out[2] = {hb, hb2};
        const struct model_matrix *const ffn[2] = {&w->w1, &w->w3};
        ops_matmul_batch(sc, ffn_out, ffn, 2, xb, nb);
        ops_prof_mark(OPS_PROF_MATMUL);
        for (int b = 0; b < nb; b++)
            forward_glu[c->ffn_act](hb + b * hid, hb2 + b * hid, hid);
        ops_prof_mark(OPS_PROF_GLU);
        float *const w2_out[1] = {xb};
        const struct model_matrix *const w2[1] = {&w->w2};
        ops_matmul_batch(sc, w2_out, w2, 1, hb, nb);
        ops_prof_mark(OPS_PROF_MATMUL);
        for (int b = 0; b < nb; b++)
            forward_residual(c, x + b * dim, xb + b * dim, w->ffn_post_norm);
        ops_prof_mark(OPS_PROF_RESIDUAL);
    }
    float *lx = hb2 + nb * hid;
    int rc = forward_logits(m, sc, r, nb, x, lx, lx + MIN(n_logits, FORWARD_LOGITS_BATCH) * dim);
    ops_prof_mark(OPS_PROF_LOGITS);
    return rc;
}

/* Rows r[0..n) (checked by the caller) FORWARD_BATCH at a time; a pass that cannot
 * run batched (one row, no scratch memory, logits not finite) runs row by row, which
 * gives the same numbers and names the failing sequence. 0, or -1 (its s->error). */
static int forward_passes(const struct model *m, const struct model_row *r, int n) {
    struct ops_scratch *sc = &forward_cpu0;
    for (int done = 0; done < n;) {
        int nb = MIN(FORWARD_BATCH, n - done);
        if (nb == 1 || forward_rows(m, sc, r + done, nb) != 0) {
            for (int i = done; i < done + nb; i++)
                if (!forward_one(m, sc, r[i].s, r[i].token, r[i].pos))
                    return -1;
        }
        done += nb;
    }
    return 0;
}

/* Whether row r may run: a token of the vocabulary at a position with a held block. */
static bool forward_row_ok(const struct model *m, const struct model_row *r) {
    return r->token >= 0 && r->token < m->cfg.vocab_size && r->pos >= 0 &&
           r->pos < kv_seq_positions(&r->s->kv);
}

int model_forward_rows(const struct model *m, const struct model_row *rows, int n) {
    for (int i = 0; i < n; i++) {
        if (!forward_row_ok(m, &rows[i])) {
            rows[i].s->error = FORWARD_ERR_RANGE;
            return -1;
        }
    }
    return forward_passes(m, rows, n);
}

const float *model_forward_batch(const struct model *m, struct model_state *s, const int *tokens,
                                 int n, int pos) {
    bool ok = n > 0 && pos >= 0 && pos <= kv_seq_positions(&s->kv) - n;
    for (int i = 0; ok && i < n; i++)
        ok = tokens[i] >= 0 && tokens[i] < m->cfg.vocab_size;
    if (!ok) {
        s->error = FORWARD_ERR_RANGE;
        return NULL;
    }
    struct model_row rows[FORWARD_BATCH];
    for (int done = 0; done < n;) {
        int nb = MIN(FORWARD_BATCH, n - done);
        for (int b = 0; b < nb; b++)
            rows[b] = (struct model_row){s, tokens[done + b], pos + done + b, done + b == n - 1};
        if (forward_passes(m, rows, nb) != 0)
            return NULL;
        done += nb;
    }
    return s->logits;
}
