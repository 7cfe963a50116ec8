/*
 * embed.c: mean-pooled, normalized last hidden states (see embed.h). Called by
 * api_llm.c; relies on model.h (model_state_init, model_forward) and port.h.
 */
#include "llm/embed.h"

#include "llm/llm.h"
#include "port.h"

static enum gen_err embed_fail(enum gen_err why, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static enum gen_err embed_fail(enum gen_err why, char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return why;
}

enum gen_err embed_tokens(const struct llm *llm, const int *tokens, int n, float *out, char *err,
                          size_t errlen) {
    if (!llm)
        return embed_fail(GEN_ERR_NO_MODEL, err, errlen, "no model loaded");
    const struct model *m = &llm->model;
    const struct model_config *cfg = &m->cfg;
    if (n <= 0 || n > cfg->seq_len)
        return embed_fail(GEN_ERR_REQUEST, err, errlen, "input: %d tokens, want 1..%d", n,
                          cfg->seq_len);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= cfg->vocab_size)
            return embed_fail(GEN_ERR_REQUEST, err, errlen,
                              "input: token %d out of range (vocab %d)", tokens[i],
                              cfg->vocab_size);
    struct model_state *s = port_alloc(sizeof *s);
    double *sum = port_alloc((size_t)cfg->dim * sizeof *sum); /* (dim) */
    if (!s || !sum || model_state_init(s, m, n) != 0) {
        port_free(s);
        port_free(sum);
        return embed_fail(GEN_ERR_NO_MEMORY, err, errlen,
                          "out of memory for a state of %d positions", n);
    }
    memset(sum, 0, (size_t)cfg->dim * sizeof *sum);
    enum gen_err rc = GEN_OK;
    for (int i = 0; i < n && rc == GEN_OK; i++) {
        if (!model_forward(m, s, tokens[i], i)) {
            rc = embed_fail(GEN_ERR_REQUEST, err, errlen, "forward pass failed at %d of %d", i, n);
            break;
        }
        for (int d = 0; d < cfg->dim; d++)
            sum[d] += (double)s->x[d];
    }
    double norm = 0;
    for (int d = 0; d < cfg->dim; d++)
        norm += sum[d] * sum[d];
    norm = norm > 0 ? (double)sqrtf((float)norm) : 1; /* the mean's scale cancels */
    for (int d = 0; rc == GEN_OK && d < cfg->dim; d++)
        out[d] = (float)(sum[d] / norm);
    model_state_free(s);
    port_free(s);
    port_free(sum);
    return rc;
}
