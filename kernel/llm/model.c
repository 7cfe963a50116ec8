/*
 * model_load (format detection and binding) and the per-sequence state (see
 * model.h). Called by llm_boot.c, the generation code and host tests; relies on
 * gguf.c + arch.c for GGUF files and llama2c.c for llama2.c checkpoints.
 */
#include "llm/model.h"
#include "llm/arch.h"
#include "llm/llama2c.h"

const char *model_wtype_name(uint32_t type) {
    return type == MODEL_WTYPE_Q8_SPLIT ? "Q8" : gguf_type_name(type);
}

static void model_copy_name(struct model *m) {
    struct gguf_str s;
    size_t n = 0;
    if (gguf_get_str(&m->gguf, "general.name", &s)) {
        for (size_t i = 0; i < s.len && n + 1 < sizeof(m->name); i++) {
            char ch = s.ptr[i];
            if (ch >= 32 && ch < 127)
                m->name[n++] = ch;
        }
    }
    m->name[n] = 0;
    if (!n)
        snprintf(m->name, sizeof(m->name), "llama");
}

int model_load(struct model *m, const uint8_t *data, size_t len, char *err, size_t errlen) {
    memset(m, 0, sizeof(*m));
    if (!data || len == 0) {
        snprintf(err, errlen, "model file empty (len %lu)", (unsigned long)len);
        return -1;
    }
    if (gguf_is_gguf(data, len)) {
        m->format = MODEL_FORMAT_GGUF;
        if (gguf_open(&m->gguf, data, len, err, errlen))
            return -1;
        if (arch_bind_gguf(m, err, errlen)) {
            model_free(m);
            return -1;
        }
        model_copy_name(m);
        return 0;
    }
    m->format = MODEL_FORMAT_LLAMA2C;
    if (llama2c_load(m, data, len, err, errlen)) {
        /* Neither GGUF nor a plausible llama2.c header: say what the magic was. */
        if (!llama2c_is_versioned(data, len) && len >= 4 && !strncmp(err, "llama2.c header", 15)) {
            char inner[128];
            uint32_t magic;
            memcpy(&magic, data, 4);
            snprintf(inner, sizeof(inner), "%s", err);
            snprintf(err, errlen, "bad magic 0x%08x: not GGUF, and as llama2.c: %s",
                     (unsigned)magic, inner);
        }
        model_free(m);
        return -1;
    }
    arch_use_llama(m);
    return 0;
}

void model_free(struct model *m) {
    if (m->format == MODEL_FORMAT_GGUF)
        gguf_close(&m->gguf);
    port_free(m->layers);
    memset(m, 0, sizeof(*m));
}

static float *model_alloc_floats(size_t n, bool *ok) {
    float *p = port_alloc((n ? n : 1) * sizeof(float));
    if (!p)
        *ok = false;
    else
        memset(p, 0, (n ? n : 1) * sizeof(float));
    return p;
}

/* The buffers of a state for n_ctx positions (clamped as model.h says), no KV. */
static int model_state_buffers(struct model_state *s, const struct model *m, int n_ctx) {
    const struct model_config *c = &m->cfg;
    bool ok = true;
    memset(s, 0, sizeof(*s));
    if (n_ctx <= 0 || n_ctx > c->seq_len)
        n_ctx = c->seq_len;
    s->n_ctx = n_ctx;
    size_t kv = (size_t)c->n_kv_heads * (size_t)c->head_dim;
    size_t q = (size_t)c->n_heads * (size_t)c->head_dim;
    /* Sizes come from file values (heads, context): refuse what does not fit in
     * size_t instead of letting the product wrap. */
    uint64_t att = (uint64_t)c->n_heads * (uint64_t)n_ctx * sizeof(float);
    if (att > (uint64_t)SIZE_MAX / 2)
        return -1;
    s->x = model_alloc_floats((size_t)c->dim, &ok);
    s->xb = model_alloc_floats(MAX((size_t)c->dim, q), &ok);
    s->xb2 = model_alloc_floats((size_t)c->dim, &ok);
    s->hb = model_alloc_floats((size_t)c->hidden_dim, &ok);
    s->hb2 = model_alloc_floats((size_t)c->hidden_dim, &ok);
    s->q = model_alloc_floats(q, &ok);
    s->att = model_alloc_floats((size_t)c->n_heads * (size_t)n_ctx, &ok);
    s->logits = model_alloc_floats((size_t)c->vocab_size, &ok);
    s->k = model_alloc_floats(kv, &ok);
    s->v = model_alloc_floats(kv, &ok);
    if (!ok) {
        model_state_free(s);
        return -1;
    }
    return 0;
}

int model_state_init_pool(struct model_state *s, const struct model *m, int n_ctx,
                          struct kv_pool *pool) {
    const struct model_config *c = &m->cfg;
    if (!pool || pool->n_layers != c->n_layers || pool->kv_dim != c->n_kv_heads * c->head_dim)
        return -1;
    if (model_state_buffers(s, m, n_ctx) != 0)
        return -1;
    if (kv_seq_init(&s->kv, pool, s->n_ctx) != 0) {
        model_state_free(s);
        return -1;
    }
    return 0;
}

int model_state_init(struct model_state *s, const struct model *m, int n_ctx) {
    const struct model_config *c = &m->cfg;
    if (model_state_buffers(s, m, n_ctx) != 0)
        return -1;
    struct kv_pool *own = port_alloc(sizeof(*own));
    size_t bb = kv_block_bytes(c->n_layers, c->n_kv_heads * c->head_dim, KV_TYPE_F32, KV_BLOCK_LEN);
    long blocks = ((long)s->n_ctx + KV_BLOCK_LEN - 1) / KV_BLOCK_LEN;
    if (!own || !bb || (uint64_t)blocks * bb > (uint64_t)SIZE_MAX / 2 ||
        kv_pool_init(own, c->n_layers, c->n_kv_heads * c->head_dim, KV_TYPE_F32, KV_BLOCK_LEN,
                     (size_t)blocks * bb, NULL, 0) != 0) {
        port_free(own);
        model_state_free(s);
        return -1;
    }
    s->own = own;
    if (kv_seq_init(&s->kv, own, s->n_ctx) != 0 || kv_seq_reserve(&s->kv, s->n_ctx) != 0) {
        model_state_free(s);
        return -1;
    }
    return 0;
}

void model_state_free(struct model_state *s) {
    port_free(s->x);
    port_free(s->xb);
    port_free(s->xb2);
    port_free(s->hb);
    port_free(s->hb2);
    port_free(s->q);
    port_free(s->att);
    port_free(s->logits);
    port_free(s->k);
    port_free(s->v);
    port_free(s->rope);
    kv_seq_free(&s->kv);
    if (s->own) {
        kv_pool_free(s->own);
        port_free(s->own);
    }
    memset(s, 0, sizeof(*s));
}
