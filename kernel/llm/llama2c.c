/*
 * llama2.c checkpoint loader (see llama2c.h). Called by model.c; relies on arch.c
 * for matrix checks. Layouts (little endian, matrices row-major [out][in]):
 *
 *   legacy  int32 dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len
 *           (vocab_size < 0: a separate classifier follows), then f32:
 *           tok_embd[vocab][dim] rms_att[L][dim] wq[L][dim][dim] wk[L][kv][dim]
 *           wv[L][kv][dim] wo[L][dim][dim] rms_ffn[L][dim] w1[L][hid][dim]
 *           w2[L][dim][hid] w3[L][hid][dim] rms_final[dim]
 *           freq_cis_real[seq][hd/2] freq_cis_imag[seq][hd/2] (unused) [wcls[vocab][dim]]
 *   v1      256-byte header: uint32 magic "ak42", int32 version = 1, the 7 int32
 *           above, uint8 shared_classifier; then f32: rms_att[L][dim] rms_ffn[L][dim]
 *           rms_final[dim] tok_embd wq wk wv wo w1 w2 w3 [wcls]
 *   v2      as v1 with version = 2 and int32 group_size after shared_classifier;
 *           norms f32 as v1, then for tok_embd, each layer's wq, then wk, wv, wo, w1,
 *           w2, w3 (layer by layer within each kind), [wcls]: int8 q[numel] followed
 *           by f32 scale[numel / group_size]
 */
#include "llm/llama2c.h"
#include "llm/arch.h"

struct l2c {
    const uint8_t *data;
    size_t len;
    uint64_t off;
    char *err;
    size_t errlen;
};

bool llama2c_is_versioned(const uint8_t *data, size_t len) {
    uint32_t magic;
    if (len < 4)
        return false;
    memcpy(&magic, data, 4);
    return magic == LLAMA2C_MAGIC;
}

/* Take `n` elements of `size` bytes; NULL (and an error naming `what`) if past the end. */
static const void *l2c_take(struct l2c *c, uint64_t n, uint64_t size, const char *what) {
    uint64_t bytes = n * size; /* n and size are bounded by MODEL_MAX_* products, < 2^62 */
    if (c->off > c->len || bytes > c->len - c->off) {
        port_fail(c->err, c->errlen,
                  "llama2.c %s: needs %llu bytes at offset 0x%llx, file truncated (len %lu)", what,
                  (unsigned long long)bytes, (unsigned long long)c->off, (unsigned long)c->len);
        return NULL;
    }
    const void *p = c->data + c->off;
    c->off += bytes;
    return p;
}

/* Bind `count` consecutive matrices of rows x cols (f32 or int8+scales). */
static int l2c_matrices(struct l2c *c, struct model_matrix *first, size_t stride, int count,
                        int rows, int cols, int group, const char *what) {
    for (int i = 0; i < count; i++) {
        struct model_matrix *w = (struct model_matrix *)((uint8_t *)first + stride * (size_t)i);
        w->rows = rows;
        w->cols = cols;
        if (group) {
            w->type = MODEL_WTYPE_Q8_SPLIT;
            w->group = group;
            w->data = l2c_take(c, (uint64_t)rows * (uint64_t)cols, 1, what);
            if (!w->data)
                return -1;
            w->scales = l2c_take(c, (uint64_t)rows * (uint64_t)cols / (uint64_t)group, 4, what);
            if (!w->scales)
                return -1;
        } else {
            w->type = MODEL_WTYPE_F32;
            w->data = l2c_take(c, (uint64_t)rows * (uint64_t)cols, 4, what);
            if (!w->data)
                return -1;
        }
    }
    return 0;
}

/* All layers' matrices of one kind, f32 contiguous (legacy, v1) or q/s per layer (v2). */
#define L2C_LAYERS(c, m, f, rows, cols, group)                                                     \
    l2c_matrices((c), &(m)->layers[0].f, sizeof(struct model_layer), (m)->cfg.n_layers, (rows),    \
                 (cols), (group), #f)

static int l2c_norms(struct l2c *c, struct model *m, size_t field, const char *what) {
    for (int l = 0; l < m->cfg.n_layers; l++) {
        const float *p = l2c_take(c, (uint64_t)m->cfg.dim, 4, what);
        if (!p)
            return -1;
        *(const float **)((uint8_t *)&m->layers[l] + field) = p;
    }
    return 0;
}

static int l2c_check_config(struct model *m, const int32_t h[7], char *err, size_t errlen) {
    static const char *names[7] = {"dim",        "hidden_dim", "n_layers", "n_heads",
                                   "n_kv_heads", "vocab_size", "seq_len"};
    static const int32_t maxes[7] = {MODEL_MAX_DIM, MODEL_MAX_DIM * 4, MODEL_MAX_LAYERS,
                                     MODEL_MAX_DIM, MODEL_MAX_DIM,     MODEL_MAX_VOCAB,
                                     MODEL_MAX_CTX};
    for (int i = 0; i < 7; i++) {
        int32_t v = i == 5 && h[i] < 0 && h[i] != INT32_MIN ? -h[i] : h[i];
        if (v <= 0 || v > maxes[i]) {
            port_fail(err, errlen, "llama2.c header %s: %ld out of range 1..%ld", names[i],
                      (long)h[i], (long)maxes[i]);
            return -1;
        }
    }
    struct model_config *cf = &m->cfg;
    cf->dim = h[0];
    cf->hidden_dim = h[1];
    cf->n_layers = h[2];
    cf->n_heads = h[3];
    cf->n_kv_heads = h[4];
    cf->vocab_size = h[5] < 0 ? -h[5] : h[5];
    cf->seq_len = h[6];
    if (cf->dim % cf->n_heads || cf->n_heads % cf->n_kv_heads || (cf->dim / cf->n_heads) % 2) {
        port_fail(err, errlen, "llama2.c header n_heads: %d heads / %d kv heads do not fit dim %d",
                  cf->n_heads, cf->n_kv_heads, cf->dim);
        return -1;
    }
    cf->head_dim = cf->dim / cf->n_heads;
    cf->rope_dim = cf->head_dim;
    cf->rms_eps = LLAMA2C_RMS_EPS;
    cf->rope_theta = LLAMA2C_ROPE_THETA;
    return 0;
}

int llama2c_load(struct model *m, const uint8_t *data, size_t len, char *err, size_t errlen) {
    struct l2c c = {data, len, 0, err, errlen};
    int32_t h[7];
    int version = 0, group = 0;
    bool shared;
    if ((uintptr_t)data % 4) {
        port_fail(err, errlen, "llama2.c file not 4-byte aligned in memory");
        return -1;
    }
    if (llama2c_is_versioned(data, len)) {
        if (len < LLAMA2C_HEADER_V) {
            port_fail(err, errlen, "llama2.c header truncated (len %lu)", (unsigned long)len);
            return -1;
        }
        int32_t v;
        memcpy(&v, data + 4, 4);
        if (v != 1 && v != 2) {
            port_fail(err, errlen, "llama2.c version %ld not supported (1 or 2)", (long)v);
            return -1;
        }
        version = v;
        memcpy(h, data + 8, sizeof(h));
        shared = data[36] != 0;
        if (version == 2) {
            int32_t gs;
            memcpy(&gs, data + 37, 4);
            if (gs <= 0 || gs % 4 || gs > MODEL_MAX_DIM) {
                port_fail(err, errlen,
                          "llama2.c header group_size: %ld not a positive multiple of 4", (long)gs);
                return -1;
            }
            group = gs;
        }
        c.off = LLAMA2C_HEADER_V;
    } else {
        if (len < sizeof(h)) {
            port_fail(err, errlen, "llama2.c header truncated (len %lu)", (unsigned long)len);
            return -1;
        }
        memcpy(h, data, sizeof(h));
        shared = h[5] > 0;
        c.off = sizeof(h);
    }
    if (l2c_check_config(m, h, err, errlen))
        return -1;
    struct model_config *cf = &m->cfg;
    if (group && (cf->dim % group || cf->hidden_dim % group)) {
        port_fail(err, errlen,
                  "llama2.c header group_size: %d does not divide dim %d and hidden_dim %d", group,
                  cf->dim, cf->hidden_dim);
        return -1;
    }
    m->layers = port_alloc(sizeof(struct model_layer) * (size_t)cf->n_layers);
    if (!m->layers) {
        port_fail(err, errlen, "out of memory for %d layers", cf->n_layers);
        return -1;
    }
    memset(m->layers, 0, sizeof(struct model_layer) * (size_t)cf->n_layers);
    int d = cf->dim, hd = cf->hidden_dim, kv = cf->n_kv_heads * cf->head_dim, L = cf->n_layers;
    size_t att = __builtin_offsetof(struct model_layer, attn_norm);
    size_t ffn = __builtin_offsetof(struct model_layer, ffn_norm);
    if (version == 0) {
        if (l2c_matrices(&c, &m->tok_embd, 0, 1, cf->vocab_size, d, 0, "token_embedding") ||
            l2c_norms(&c, m, att, "rms_att") || L2C_LAYERS(&c, m, wq, d, d, 0) ||
            L2C_LAYERS(&c, m, wk, kv, d, 0) || L2C_LAYERS(&c, m, wv, kv, d, 0) ||
            L2C_LAYERS(&c, m, wo, d, d, 0) || l2c_norms(&c, m, ffn, "rms_ffn") ||
            L2C_LAYERS(&c, m, w1, hd, d, 0) || L2C_LAYERS(&c, m, w2, d, hd, 0) ||
            L2C_LAYERS(&c, m, w3, hd, d, 0))
            return -1;
        if (!(m->output_norm = l2c_take(&c, (uint64_t)d, 4, "rms_final")) ||
            !l2c_take(&c, (uint64_t)cf->seq_len * (uint64_t)cf->head_dim, 4, "freq_cis"))
            return -1;
    } else {
        if (l2c_norms(&c, m, att, "rms_att") || l2c_norms(&c, m, ffn, "rms_ffn") ||
            !(m->output_norm = l2c_take(&c, (uint64_t)d, 4, "rms_final")))
            return -1;
        if (l2c_matrices(&c, &m->tok_embd, 0, 1, cf->vocab_size, d, group, "token_embedding") ||
            L2C_LAYERS(&c, m, wq, d, d, group) || L2C_LAYERS(&c, m, wk, kv, d, group) ||
            L2C_LAYERS(&c, m, wv, kv, d, group) || L2C_LAYERS(&c, m, wo, d, d, group) ||
            L2C_LAYERS(&c, m, w1, hd, d, group) || L2C_LAYERS(&c, m, w2, d, hd, group) ||
            L2C_LAYERS(&c, m, w3, hd, d, group))
            return -1;
    }
    if (shared) {
        m->output = m->tok_embd;
        m->tied_output = true;
    } else if (l2c_matrices(&c, &m->output, 0, 1, cf->vocab_size, d, group, "wcls")) {
        return -1;
    }
    (void)L;
    cf->wtype = m->layers[0].wq.type;
    snprintf(m->name, sizeof(m->name), "llama2c-v%d", version);
    return 0;
}
