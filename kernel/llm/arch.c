/*
 * The architecture bindings (see arch.h): one table per architecture, naming its
 * hyperparameter key prefix, its per-layer tensors (required and optional) and the
 * options the forward pass reads (RoPE pairing, FFN activation, embedding scale,
 * sliding-window layers). arch_bind looks the file's general.architecture up in
 * arch_table and binds from the row; nothing else in the engine names an
 * architecture. Called by model.c. Shapes are ggml ne0 x ne1, ne0 the input (row
 * length) dimension.
 *
 * Facts of the architectures (as llama.cpp runs them):
 * - llama: RoPE on pairs (2i, 2i+1); Llama 3 files divide the frequencies by
 *   rope_freqs.weight; `<arch>.rope.scaling.type` linear scales positions.
 * - qwen2: llama with biases on Q, K and V and RoPE on pairs (i, i + head_dim/2).
 * - gemma3: embeddings times sqrt(dim); norm weights used as stored (the converter
 *   already stored 1 + w); RMSNorm per head on Q and K before RoPE; RMSNorm of the
 *   attention and FFN outputs before each residual add; GeGLU (tanh); every 6th
 *   layer global (RoPE base <arch>.rope.freq_base), the others sliding windows of
 *   <arch>.attention.sliding_window positions with RoPE base 10000; scores scaled
 *   by 1/sqrt(key_length).
 */
#include "llm/arch.h"
#include "llm/ops.h"
#include "llm/quant.h"

/* What a tensor is: a vector of `ne0`, or a matrix of ne1 rows by ne0 columns. */
enum arch_dim {
    ARCH_DIM_EMBD,       /* dim */
    ARCH_DIM_HEAD,       /* head_dim */
    ARCH_DIM_ROPE_PAIRS, /* rope_dim / 2 */
    ARCH_DIM_HIDDEN,     /* hidden_dim */
    ARCH_DIM_Q,          /* n_heads * head_dim */
    ARCH_DIM_KV,         /* n_kv_heads * head_dim */
    ARCH_DIM_VOCAB,      /* vocab_size */
    ARCH_DIM_NONE,       /* vector: no second dimension */
};

struct arch_tensor {
    const char *fmt; /* name, %d = layer */
    enum arch_dim ne0, ne1;
    size_t field; /* offsetof in struct model_layer */
    bool matrix;  /* else an F32 vector */
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

static const struct arch_tensor arch_qkv_bias[] = {
    {"blk.%d.attn_q.bias", ARCH_DIM_Q, ARCH_DIM_NONE, LAYER_FIELD(bq), false},
    {"blk.%d.attn_k.bias", ARCH_DIM_KV, ARCH_DIM_NONE, LAYER_FIELD(bk), false},
    {"blk.%d.attn_v.bias", ARCH_DIM_KV, ARCH_DIM_NONE, LAYER_FIELD(bv), false},
};

static const struct arch_tensor arch_gemma3_layer[] = {
    {"blk.%d.attn_q_norm.weight", ARCH_DIM_HEAD, ARCH_DIM_NONE, LAYER_FIELD(attn_q_norm), false},
    {"blk.%d.attn_k_norm.weight", ARCH_DIM_HEAD, ARCH_DIM_NONE, LAYER_FIELD(attn_k_norm), false},
    {"blk.%d.post_attention_norm.weight", ARCH_DIM_EMBD, ARCH_DIM_NONE, LAYER_FIELD(attn_post_norm),
     false},
    {"blk.%d.post_ffw_norm.weight", ARCH_DIM_EMBD, ARCH_DIM_NONE, LAYER_FIELD(ffn_post_norm),
     false},
};

/* One architecture: every layer has the llama tensors (arch_llama_layer) and the
 * `extra` ones; the rest are the forward pass's options. */
struct arch_desc {
    const char *name;                /* general.architecture, and the metadata key prefix */
    const struct arch_tensor *extra; /* (n_extra) further tensors of each layer */
    int n_extra;
    enum model_rope rope;
    enum model_act act;
    bool embd_scale_sqrt; /* embeddings times sqrt(dim) */
    bool rope_freqs;      /* may carry rope_freqs.weight (Llama 3) */
    int swa_period;       /* layer l is global if l % swa_period == swa_period - 1, else
                             sliding (<arch>.attention.sliding_window); 0: all global */
    float rope_theta_swa; /* RoPE base of sliding layers (<arch>.rope.freq_base_swa) */
    float rms_eps;        /* default of <arch>.attention.layer_norm_rms_epsilon */
};

static const struct arch_desc arch_table[] = {
    {"llama", NULL, 0, MODEL_ROPE_NORM, MODEL_ACT_SILU, false, true, 0, 0, 1e-5f},
    {"qwen2", arch_qkv_bias, ARRAY_SIZE(arch_qkv_bias), MODEL_ROPE_NEOX, MODEL_ACT_SILU, false,
     false, 0, 0, 1e-6f},
    {"gemma3", arch_gemma3_layer, ARRAY_SIZE(arch_gemma3_layer), MODEL_ROPE_NEOX, MODEL_ACT_GELU,
     true, false, 6, 10000.0f, 1e-6f},
};

static uint64_t arch_dim_value(const struct model_config *c, enum arch_dim d) {
    switch (d) {
    case ARCH_DIM_EMBD:
        return (uint64_t)c->dim;
    case ARCH_DIM_HEAD:
        return (uint64_t)c->head_dim;
    case ARCH_DIM_ROPE_PAIRS:
        return (uint64_t)c->rope_dim / 2;
    case ARCH_DIM_HIDDEN:
        return (uint64_t)c->hidden_dim;
    case ARCH_DIM_Q:
        return (uint64_t)c->n_heads * (uint64_t)c->head_dim;
    case ARCH_DIM_KV:
        return (uint64_t)c->n_kv_heads * (uint64_t)c->head_dim;
    case ARCH_DIM_VOCAB:
        return (uint64_t)c->vocab_size;
    default:
        return 1;
    }
}

int arch_check_matrix(const struct model_matrix *w, const char *what, char *err, size_t errlen) {
    if (!ops_supports(w->type)) {
        port_fail(err, errlen, "tensor %s: type %s (%u) not supported: no kernels for it", what,
                  model_wtype_name(w->type), (unsigned)w->type);
        return -1;
    }
    if (!quant_row_bytes(w->type, w->cols)) {
        port_fail(err, errlen, "tensor %s: row of %d not a whole number of %s blocks", what,
                  w->cols, model_wtype_name(w->type));
        return -1;
    }
    return 0;
}

/* Look up one tensor, check type and shape (ne0 x ne1), bind it. */
static int arch_bind(struct model *m, const char *name, enum arch_dim ne0, enum arch_dim ne1,
                     bool matrix, void *dst, char *err, size_t errlen) {
    const struct gguf_tensor *t = gguf_find_tensor(&m->gguf, name);
    uint64_t want0 = arch_dim_value(&m->cfg, ne0), want1 = arch_dim_value(&m->cfg, ne1);
    if (!t) {
        port_fail(err, errlen, "tensor %s: missing", name);
        return -1;
    }
    if (t->ne[0] != want0 || t->ne[1] != want1 || t->ne[2] != 1 || t->ne[3] != 1) {
        port_fail(err, errlen, "tensor %s: shape %llux%llux%llux%llu, expected %llux%llu", name,
                  (unsigned long long)t->ne[0], (unsigned long long)t->ne[1],
                  (unsigned long long)t->ne[2], (unsigned long long)t->ne[3],
                  (unsigned long long)want0, (unsigned long long)want1);
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

/* The metadata key "<arch>.<suffix>" in buf. */
static const char *arch_key(char *buf, size_t n, const struct arch_desc *a, const char *suffix) {
    snprintf(buf, n, "%s.%s", a->name, suffix);
    return buf;
}

/* Required positive integer hyperparameter <arch>.<suffix>. */
static int arch_get_int(struct model *m, const struct arch_desc *a, const char *suffix, int max,
                        int *out, char *err, size_t errlen) {
    char key[96];
    uint32_t v;
    arch_key(key, sizeof(key), a, suffix);
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

/* Optional integer <arch>.<suffix>: *out keeps its default when the key is absent. */
static int arch_opt_int(struct model *m, const struct arch_desc *a, const char *suffix, int max,
                        int *out, char *err, size_t errlen) {
    char key[96];
    if (!gguf_find_kv(&m->gguf, arch_key(key, sizeof(key), a, suffix)))
        return 0;
    return arch_get_int(m, a, suffix, max, out, err, errlen);
}

/* Optional float <arch>.<suffix> within (lo, hi); *out keeps its default when absent. */
static int arch_opt_float(struct model *m, const struct arch_desc *a, const char *suffix, float lo,
                          float hi, float *out, char *err, size_t errlen) {
    char key[96];
    float v;
    arch_key(key, sizeof(key), a, suffix);
    if (!gguf_find_kv(&m->gguf, key))
        return 0;
    if (!gguf_get_f32(&m->gguf, key, &v) || !(v > lo && v < hi)) {
        port_fail(err, errlen, "metadata %s: not a number in (%g, %g)", key, (double)lo,
                  (double)hi);
        return -1;
    }
    *out = v;
    return 0;
}

/* The row of arch_table named by general.architecture; NULL (and err) if none. */
static const struct arch_desc *arch_find(struct model *m, char *err, size_t errlen) {
    struct gguf_str arch;
    if (!gguf_get_str(&m->gguf, "general.architecture", &arch)) {
        port_fail(err, errlen, "metadata general.architecture: missing");
        return NULL;
    }
    for (size_t i = 0; i < ARRAY_SIZE(arch_table); i++)
        if (gguf_str_eq(arch, arch_table[i].name))
            return &arch_table[i];
    char show[40];
    size_t n = MIN(arch.len, sizeof(show) - 1);
    for (size_t i = 0; i < n; i++)
        show[i] = (arch.ptr[i] >= 32 && arch.ptr[i] < 127) ? arch.ptr[i] : '?';
    show[n] = 0;
    port_fail(err, errlen,
              "metadata general.architecture: '%s' not supported (llama, qwen2, gemma3)", show);
    return NULL;
}

/* Heads and their size: head_dim is <arch>.attention.key_length if given (it must
 * equal value_length), else dim / n_heads. */
static int arch_read_heads(struct model *m, const struct arch_desc *a, char *err, size_t errlen) {
    struct model_config *c = &m->cfg;
    char key[96];
    if (arch_get_int(m, a, "attention.head_count", MODEL_MAX_DIM, &c->n_heads, err, errlen))
        return -1;
    c->n_kv_heads = c->n_heads;
    if (arch_opt_int(m, a, "attention.head_count_kv", MODEL_MAX_DIM, &c->n_kv_heads, err, errlen))
        return -1;
    if (c->n_heads % c->n_kv_heads) {
        port_fail(err, errlen, "metadata %s: %d heads not a multiple of %d kv heads",
                  arch_key(key, sizeof(key), a, "attention.head_count"), c->n_heads, c->n_kv_heads);
        return -1;
    }
    c->head_dim = 0;
    int vlen = 0;
    if (arch_opt_int(m, a, "attention.key_length", 4096, &c->head_dim, err, errlen) ||
        arch_opt_int(m, a, "attention.value_length", 4096, &vlen, err, errlen))
        return -1;
    if (!c->head_dim) {
        if (c->dim % c->n_heads) {
            port_fail(err, errlen, "metadata %s: %d heads do not divide dim %d",
                      arch_key(key, sizeof(key), a, "attention.head_count"), c->n_heads, c->dim);
            return -1;
        }
        c->head_dim = c->dim / c->n_heads;
    }
    if ((vlen && vlen != c->head_dim) || c->head_dim % 2) {
        port_fail(err, errlen,
                  "metadata %s: head size %d (value length %d): must be even and equal",
                  arch_key(key, sizeof(key), a, "attention.key_length"), c->head_dim, vlen);
        return -1;
    }
    c->rope_dim = c->head_dim;
    int rd = c->head_dim;
    if (arch_opt_int(m, a, "rope.dimension_count", 4096, &rd, err, errlen))
        return -1;
    if (rd != c->head_dim) {
        port_fail(err, errlen, "metadata %s: %d, only full rotary (%d) supported",
                  arch_key(key, sizeof(key), a, "rope.dimension_count"), rd, c->head_dim);
        return -1;
    }
    return 0;
}

/* Positions scale for RoPE: 1, or 1 / factor for <arch>.rope.scaling.type linear. */
static int arch_read_rope_scale(struct model *m, const struct arch_desc *a, float *scale, char *err,
                                size_t errlen) {
    char key[96];
    struct gguf_str type;
    float factor = 1.0f;
    *scale = 1.0f;
    if (!gguf_get_str(&m->gguf, arch_key(key, sizeof(key), a, "rope.scaling.type"), &type) ||
        gguf_str_eq(type, "none"))
        return 0;
    if (!gguf_str_eq(type, "linear")) {
        port_fail(err, errlen, "metadata %s: only linear RoPE scaling supported", key);
        return -1;
    }
    if (arch_opt_float(m, a, "rope.scaling.factor", 0.0f, 1e6f, &factor, err, errlen))
        return -1;
    *scale = 1.0f / factor;
    return 0;
}

static int arch_read_config(struct model *m, const struct arch_desc *a, char *err, size_t errlen) {
    struct model_config *c = &m->cfg;
    char key[96];
    if (arch_get_int(m, a, "embedding_length", MODEL_MAX_DIM, &c->dim, err, errlen) ||
        arch_get_int(m, a, "feed_forward_length", MODEL_MAX_DIM * 4, &c->hidden_dim, err, errlen) ||
        arch_get_int(m, a, "block_count", MODEL_MAX_LAYERS, &c->n_layers, err, errlen) ||
        arch_get_int(m, a, "context_length", MODEL_MAX_CTX, &c->seq_len, err, errlen) ||
        arch_read_heads(m, a, err, errlen))
        return -1;
    c->rms_eps = a->rms_eps;
    c->rope_theta = 10000.0f;
    c->logit_softcap = 0;
    if (arch_opt_float(m, a, "attention.layer_norm_rms_epsilon", 0.0f, 1.0f, &c->rms_eps, err,
                       errlen) ||
        arch_opt_float(m, a, "rope.freq_base", 1.0f, 1e9f, &c->rope_theta, err, errlen) ||
        arch_opt_float(m, a, "final_logit_softcapping", 0.0f, 1e6f, &c->logit_softcap, err, errlen))
        return -1;
    const struct gguf_tensor *te = gguf_find_tensor(&m->gguf, "token_embd.weight");
    if (!te) {
        port_fail(err, errlen, "tensor token_embd.weight: missing");
        return -1;
    }
    uint32_t vs;
    if (gguf_get_u32(&m->gguf, arch_key(key, sizeof(key), a, "vocab_size"), &vs))
        c->vocab_size = (int)MIN(vs, (uint32_t)MODEL_MAX_VOCAB + 1);
    else
        c->vocab_size = (int)MIN(te->ne[1], (uint64_t)MODEL_MAX_VOCAB + 1);
    if (c->vocab_size <= 0 || c->vocab_size > MODEL_MAX_VOCAB) {
        port_fail(err, errlen, "metadata %s: %d out of range", key, c->vocab_size);
        return -1;
    }
    c->arch = a->name;
    c->rope_kind = a->rope;
    c->ffn_act = a->act;
    c->embd_scale = a->embd_scale_sqrt ? sqrtf((float)c->dim) : 1.0f;
    c->attn_scale = 1.0f / sqrtf((float)c->head_dim);
    return 0;
}

/* Per-layer attention options: RoPE base and scale, sliding window. */
static int arch_layer_options(struct model *m, const struct arch_desc *a, char *err,
                              size_t errlen) {
    const struct model_config *c = &m->cfg;
    float scale, theta_swa = a->rope_theta_swa;
    int window = 0;
    if (arch_read_rope_scale(m, a, &scale, err, errlen))
        return -1;
    if (a->swa_period &&
        (arch_get_int(m, a, "attention.sliding_window", MODEL_MAX_CTX, &window, err, errlen) ||
         arch_opt_float(m, a, "rope.freq_base_swa", 1.0f, 1e9f, &theta_swa, err, errlen)))
        return -1;
    for (int l = 0; l < c->n_layers; l++) {
        struct model_layer *w = &m->layers[l];
        bool sliding = a->swa_period && l % a->swa_period != a->swa_period - 1;
        w->rope_theta = sliding ? theta_swa : c->rope_theta;
        w->rope_scale = sliding ? 1.0f : scale;
        w->n_swa = sliding ? window : 0;
    }
    return 0;
}

/* Bind one table of per-layer tensors for layer l. */
static int arch_bind_layer(struct model *m, int l, const struct arch_tensor *t, int n, char *err,
                           size_t errlen) {
    char name[64];
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof(name), t[i].fmt, l);
        if (arch_bind(m, name, t[i].ne0, t[i].ne1, t[i].matrix,
                      (uint8_t *)&m->layers[l] + t[i].field, err, errlen))
            return -1;
    }
    return 0;
}

int arch_bind_gguf(struct model *m, char *err, size_t errlen) {
    struct model_config *c = &m->cfg;
    const struct arch_desc *a = arch_find(m, err, errlen);
    if (!a || arch_read_config(m, a, err, errlen))
        return -1;
    m->layers = port_alloc(sizeof(struct model_layer) * (size_t)c->n_layers);
    if (!m->layers) {
        port_fail(err, errlen, "out of memory for %d layers", c->n_layers);
        return -1;
    }
    memset(m->layers, 0, sizeof(struct model_layer) * (size_t)c->n_layers);
    if (arch_bind(m, "token_embd.weight", ARCH_DIM_EMBD, ARCH_DIM_VOCAB, true, &m->tok_embd, err,
                  errlen) ||
        arch_bind(m, "output_norm.weight", ARCH_DIM_EMBD, ARCH_DIM_NONE, false, &m->output_norm,
                  err, errlen))
        return -1;
    if (gguf_find_tensor(&m->gguf, "output.weight")) {
        if (arch_bind(m, "output.weight", ARCH_DIM_EMBD, ARCH_DIM_VOCAB, true, &m->output, err,
                      errlen))
            return -1;
        m->tied_output = false;
    } else {
        m->output = m->tok_embd;
        m->tied_output = true;
    }
    m->rope_freqs = NULL;
    if (a->rope_freqs && gguf_find_tensor(&m->gguf, "rope_freqs.weight") &&
        arch_bind(m, "rope_freqs.weight", ARCH_DIM_ROPE_PAIRS, ARCH_DIM_NONE, false, &m->rope_freqs,
                  err, errlen))
        return -1;
    for (int l = 0; l < c->n_layers; l++) {
        if (arch_bind_layer(m, l, arch_llama_layer, (int)ARRAY_SIZE(arch_llama_layer), err,
                            errlen) ||
            arch_bind_layer(m, l, a->extra, a->n_extra, err, errlen))
            return -1;
    }
    if (arch_layer_options(m, a, err, errlen))
        return -1;
    c->wtype = m->layers[0].wq.type;
    return 0;
}

void arch_use_llama(struct model *m) {
    struct model_config *c = &m->cfg;
    c->arch = arch_table[0].name;
    c->rope_kind = MODEL_ROPE_NORM;
    c->ffn_act = MODEL_ACT_SILU;
    c->embd_scale = 1.0f;
    c->attn_scale = 1.0f / sqrtf((float)c->head_dim);
    c->logit_softcap = 0;
    for (int l = 0; l < c->n_layers; l++) {
        m->layers[l].rope_theta = c->rope_theta;
        m->layers[l].rope_scale = 1.0f;
        m->layers[l].n_swa = 0;
    }
}
