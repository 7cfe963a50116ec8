/*
 * The `llama` architecture bound to GGUF tensor names (see arch.h). Called by
 * model.c. The tensor-name table below is the whole binding; shapes are given as
 * ggml ne0 x ne1 where ne0 is the input (row length) dimension.
 */
#include "llm/arch.h"
#include "llm/ops.h"
#include "llm/quant.h"

/* What a tensor is: a vector of `ne0`, or a matrix of ne1 rows by ne0 columns. */
enum arch_dim {
    ARCH_DIM_EMBD,    /* dim */
    ARCH_DIM_HIDDEN,  /* hidden_dim */
    ARCH_DIM_Q,       /* n_heads * head_dim */
    ARCH_DIM_KV,      /* n_kv_heads * head_dim */
    ARCH_DIM_VOCAB,   /* vocab_size */
    ARCH_DIM_NONE,    /* vector: no second dimension */
};

struct arch_tensor {
    const char *fmt;  /* name, %d = layer */
    enum arch_dim ne0, ne1;
    size_t field;     /* offsetof in struct model_layer */
    bool matrix;
};

#define LAYER_FIELD(f) __builtin_offsetof(struct model_layer, f)

static const struct arch_tensor arch_llama_layer[] = {
    {"blk.%d.attn_norm.weight", ARCH_DIM_EMBD, ARCH_DIM_NONE, LAYER_FIELD(attn_norm), false},
    {"blk.%d.attn_q.weight", ARCH_DIM_EMBD, ARCH_DIM_Q, LAYER_FIELD(wq), true},
    {"blk.%d.attn_k.weight", ARCH_DIM_EMBD, ARCH_DIM_KV, LAYER_FIELD(wk), true},
    {"blk.%d.attn_v.weight", ARCH_DIM_EMBD, ARCH_DIM_KV, LAYER_FIELD(wv), true},
    {"blk.%d.attn_output.weight", ARCH_DIM_Q, ARCH_DIM_EMBD, LAYER_FIELD(wo), true},
    {"blk.%d.ffn_norm.weight", ARCH_DIM_EMBD, ARCH_DIM_NONE, LAYER_FIELD(ffn_norm), false},
    {"blk.%d.ffn_gate.weight", ARCH_DIM_EMBD, ARCH_DIM_HIDDEN, LAYER_FIELD(w1), true},
    {"blk.%d.ffn_down.weight", ARCH_DIM_HIDDEN, ARCH_DIM_EMBD, LAYER_FIELD(w2), true},
    {"blk.%d.ffn_up.weight", ARCH_DIM_EMBD, ARCH_DIM_HIDDEN, LAYER_FIELD(w3), true},
};

static uint64_t arch_dim_value(const struct model_config *c, enum arch_dim d) {
    switch (d) {
    case ARCH_DIM_EMBD: return (uint64_t)c->dim;
    case ARCH_DIM_HIDDEN: return (uint64_t)c->hidden_dim;
    case ARCH_DIM_Q: return (uint64_t)c->n_heads * (uint64_t)c->head_dim;
    case ARCH_DIM_KV: return (uint64_t)c->n_kv_heads * (uint64_t)c->head_dim;
    case ARCH_DIM_VOCAB: return (uint64_t)c->vocab_size;
    default: return 1;
    }
}

int arch_check_matrix(const struct model_matrix *w, const char *what, char *err, size_t errlen) {
    if (!ops_supports(w->type)) {
        port_fail(err, errlen, "tensor %s: type %s (%u) not supported: no kernels for it", what,
                  model_wtype_name(w->type), (unsigned)w->type);
        return -1;
    }
    if (!quant_row_bytes(w->type, w->cols)) {
        port_fail(err, errlen, "tensor %s: row of %d not a whole number of %s blocks", what, w->cols,
                  model_wtype_name(w->type));
        return -1;
    }
    return 0;
}

/* Look up one tensor, check type and shape (ne0 x ne1), bind it. */
static int arch_bind(struct model *m, const char *name, enum arch_dim ne0, enum arch_dim ne1, bool matrix,
                     void *dst, char *err, size_t errlen) {
    const struct gguf_tensor *t = gguf_find_tensor(&m->gguf, name);
    uint64_t want0 = arch_dim_value(&m->cfg, ne0), want1 = arch_dim_value(&m->cfg, ne1);
    if (!t) {
        port_fail(err, errlen, "tensor %s: missing", name);
        return -1;
    }
    if (t->ne[0] != want0 || t->ne[1] != want1 || t->ne[2] != 1 || t->ne[3] != 1) {
        port_fail(err, errlen, "tensor %s: shape %llux%llux%llux%llu, expected %llux%llu", name,
                  (unsigned long long)t->ne[0], (unsigned long long)t->ne[1], (unsigned long long)t->ne[2],
                  (unsigned long long)t->ne[3], (unsigned long long)want0, (unsigned long long)want1);
        return -1;
    }
    if (!matrix) {
        if (t->type != GGUF_GGML_F32) {
            port_fail(err, errlen, "tensor %s: type %s (%u), norm weights must be F32", name,
                      gguf_type_name(t->type), (unsigned)t->type);
            return -1;
        }
        *(const float **)dst = (const float *)t->data;
        return 0;
    }
    struct model_matrix *w = dst;
    w->type = t->type;
    w->data = t->data;
    w->rows = (int)want1;
    w->cols = (int)want0;
    return arch_check_matrix(w, name, err, errlen);
}

/* Required positive integer hyperparameter. */
static int arch_get_int(struct model *m, const char *key, int max, int *out, char *err, size_t errlen) {
    uint32_t v;
    if (!gguf_get_u32(&m->gguf, key, &v)) {
        port_fail(err, errlen, "metadata %s: missing or not an integer", key);
        return -1;
    }
    if (v == 0 || v > (uint32_t)max) {
        port_fail(err, errlen, "metadata %s: value %u out of range 1..%d", key, (unsigned)v, max);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int arch_read_config(struct model *m, char *err, size_t errlen) {
    struct model_config *c = &m->cfg;
    struct gguf_str arch;
    if (!gguf_get_str(&m->gguf, "general.architecture", &arch)) {
        port_fail(err, errlen, "metadata general.architecture: missing");
        return -1;
    }
    if (!gguf_str_eq(arch, "llama")) {
        char show[40];
        size_t n = MIN(arch.len, sizeof(show) - 1);
        for (size_t i = 0; i < n; i++)
            show[i] = (arch.ptr[i] >= 32 && arch.ptr[i] < 127) ? arch.ptr[i] : '?';
        show[n] = 0;
        port_fail(err, errlen, "metadata general.architecture: '%s' not supported (llama)", show);
        return -1;
    }
    if (arch_get_int(m, "llama.embedding_length", MODEL_MAX_DIM, &c->dim, err, errlen) ||
        arch_get_int(m, "llama.feed_forward_length", MODEL_MAX_DIM * 4, &c->hidden_dim, err, errlen) ||
        arch_get_int(m, "llama.block_count", MODEL_MAX_LAYERS, &c->n_layers, err, errlen) ||
        arch_get_int(m, "llama.attention.head_count", MODEL_MAX_DIM, &c->n_heads, err, errlen) ||
        arch_get_int(m, "llama.context_length", MODEL_MAX_CTX, &c->seq_len, err, errlen))
        return -1;
    c->n_kv_heads = c->n_heads;
    if (gguf_find_kv(&m->gguf, "llama.attention.head_count_kv") &&
        arch_get_int(m, "llama.attention.head_count_kv", MODEL_MAX_DIM, &c->n_kv_heads, err, errlen))
        return -1;
    if (c->dim % c->n_heads || c->n_heads % c->n_kv_heads) {
        port_fail(err, errlen, "metadata llama.attention.head_count: %d heads / %d kv heads do not divide dim %d",
                  c->n_heads, c->n_kv_heads, c->dim);
        return -1;
    }
    c->head_dim = c->dim / c->n_heads;
    if (c->head_dim % 2) {
        port_fail(err, errlen, "metadata llama.attention.head_count: head size %d is odd", c->head_dim);
        return -1;
    }
    c->rope_dim = c->head_dim;
    uint32_t rd;
    if (gguf_get_u32(&m->gguf, "llama.rope.dimension_count", &rd) && rd != (uint32_t)c->head_dim) {
        port_fail(err, errlen, "metadata llama.rope.dimension_count: %u, only full rotary (%d) supported",
                  (unsigned)rd, c->head_dim);
        return -1;
    }
    c->rms_eps = 1e-5f;
    gguf_get_f32(&m->gguf, "llama.attention.layer_norm_rms_epsilon", &c->rms_eps);
    c->rope_theta = 10000.0f;
    gguf_get_f32(&m->gguf, "llama.rope.freq_base", &c->rope_theta);
    if (!(c->rms_eps > 0 && c->rms_eps < 1) || !(c->rope_theta > 1 && c->rope_theta < 1e9f)) {
        port_fail(err, errlen, "metadata llama.attention.layer_norm_rms_epsilon/rope.freq_base out of range");
        return -1;
    }
    const struct gguf_tensor *te = gguf_find_tensor(&m->gguf, "token_embd.weight");
    if (!te) {
        port_fail(err, errlen, "tensor token_embd.weight: missing");
        return -1;
    }
    uint32_t vs;
    if (gguf_get_u32(&m->gguf, "llama.vocab_size", &vs))
        c->vocab_size = (int)MIN(vs, (uint32_t)MODEL_MAX_VOCAB + 1);
    else
        c->vocab_size = (int)MIN(te->ne[1], (uint64_t)MODEL_MAX_VOCAB + 1);
    if (c->vocab_size <= 0 || c->vocab_size > MODEL_MAX_VOCAB) {
        port_fail(err, errlen, "metadata llama.vocab_size: %d out of range", c->vocab_size);
        return -1;
    }
    return 0;
}

int arch_bind_llama(struct model *m, char *err, size_t errlen) {
    struct model_config *c = &m->cfg;
    char name[64];
    if (arch_read_config(m, err, errlen))
        return -1;
    m->layers = port_alloc(sizeof(struct model_layer) * (size_t)c->n_layers);
    if (!m->layers) {
        port_fail(err, errlen, "out of memory for %d layers", c->n_layers);
        return -1;
    }
    memset(m->layers, 0, sizeof(struct model_layer) * (size_t)c->n_layers);
    if (arch_bind(m, "token_embd.weight", ARCH_DIM_EMBD, ARCH_DIM_VOCAB, true, &m->tok_embd, err, errlen) ||
        arch_bind(m, "output_norm.weight", ARCH_DIM_EMBD, ARCH_DIM_NONE, false, &m->output_norm, err, errlen))
        return -1;
    if (gguf_find_tensor(&m->gguf, "output.weight")) {
        if (arch_bind(m, "output.weight", ARCH_DIM_EMBD, ARCH_DIM_VOCAB, true, &m->output, err, errlen))
            return -1;
        m->tied_output = false;
    } else {
        m->output = m->tok_embd;
        m->tied_output = true;
    }
    for (int l = 0; l < c->n_layers; l++) {
        for (size_t i = 0; i < ARRAY_SIZE(arch_llama_layer); i++) {
            const struct arch_tensor *at = &arch_llama_layer[i];
            snprintf(name, sizeof(name), at->fmt, l);
            if (arch_bind(m, name, at->ne0, at->ne1, at->matrix, (uint8_t *)&m->layers[l] + at->field, err,
                          errlen))
                return -1;
        }
    }
    c->wtype = m->layers[0].wq.type;
    return 0;
}
