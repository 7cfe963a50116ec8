/*
 * The API backend over the kernel's one loaded model: llm.h (model, status),
 * tokenizer.h, chat.h (template detected from the GGUF), generate.h (one
 * gen_request per API request) and the generation scheduler (sched.h), which steps
 * them in the poll loop's gen_poll. main.c registers it with the API; host tests use
 * a fake instead (tests/host/http_fake_backend.c).
 */
#include "http/api_backend.h"
#include "http/http_param.h"
#include "llm/embed.h"
#include "llm/llm.h"
#include "llm/sched.h"
#include "llm/tokenizer.h"
#include "port.h"

_Static_assert(API_MAX_SLOTS <= SCHED_MAX_SEQS, "the scheduler cannot run every API slot");

static int api_llm_status(void) {
    const struct llm *l = llm_record();
    if (l->status == LLM_STATUS_READY && l->tok)
        return API_MODEL_READY;
    return l->status == LLM_STATUS_ERROR ? API_MODEL_ERROR : API_MODEL_NONE;
}

static const char *api_llm_error(void) {
    return llm_record()->error;
}

static uint64_t api_llm_matrix(const struct model_matrix *m) {
    return (uint64_t)m->rows * (uint64_t)m->cols;
}

static void api_llm_info(struct api_model_info *mi) {
    const struct llm *l = llm_record();
    const struct model *m = &l->model;
    const struct model_config *cfg = &m->cfg;
    memset(mi, 0, sizeof(*mi));
    mi->name = l->name ? l->name : m->name;
    mi->arch = "llama";
    mi->chat_template = chat_template_name(chat_detect_model(l->chat_template, l->tok));
    mi->n_vocab = cfg->vocab_size;
    mi->n_ctx_train = cfg->seq_len;
    mi->n_ctx = l->n_ctx > 0 ? l->n_ctx : cfg->seq_len; /* cllm.ctx, bounded by the KV pool */
    mi->n_embd = cfg->dim;
    mi->n_layer = cfg->n_layers;
    mi->n_head = cfg->n_heads;
    uint64_t n = api_llm_matrix(&m->tok_embd) + (uint64_t)cfg->dim;
    if (!m->tied_output)
        n += api_llm_matrix(&m->output);
    for (int i = 0; m->layers && i < cfg->n_layers; i++) {
        const struct model_layer *ly = &m->layers[i];
        n += api_llm_matrix(&ly->wq) + api_llm_matrix(&ly->wk) + api_llm_matrix(&ly->wv) +
             api_llm_matrix(&ly->wo) + api_llm_matrix(&ly->w1) + api_llm_matrix(&ly->w2) +
             api_llm_matrix(&ly->w3) + 2u * (uint64_t)cfg->dim;
    }
    mi->n_params = n;
    mi->size_bytes = m->format == MODEL_FORMAT_GGUF ? m->gguf.len : 0;
    mi->demo = strcmp(mi->name, LLM_DEMO_NAME) == 0;
}

static int api_llm_tokenize(const char *text, size_t len, bool add_bos, bool special, int *out,
                            int max) {
    const struct tokenizer *t = llm_record()->tok;
    if (!t)
        return -1;
    bool bos = add_bos && t->add_bos;
    int n = special ? tokenizer_encode_special(t, text, len, bos, out, max)
                    : tokenizer_encode(t, text, len, bos, out, max);
    /* A template that writes the BOS text itself must not get a second BOS. */
    if (n >= 2 && bos && out[0] == t->bos_id && out[1] == t->bos_id) {
        memmove(out, out + 1, (size_t)(n - 1) * sizeof(int));
        n--;
    }
    return n;
}

static int api_llm_piece(int prev, int token, char *out, size_t cap) {
    const struct llm *l = llm_record();
    if (!l->tok || token < 0 || token >= l->model.cfg.vocab_size)
        return -1;
    return tokenizer_decode(l->tok, prev, token, out, cap);
}

static size_t api_llm_chat(const struct chat_message *msgs, size_t n, char *out, size_t cap) {
    const struct llm *l = llm_record();
    return chat_apply_model(l->chat_template, l->tok, msgs, n, true, out, cap);
}

static void *api_llm_gen_start(const int *prompt, int n, const struct gen_params *p,
                               enum gen_err *why, char *err, size_t errlen) {
    const struct llm *l = llm_get();
    if (!l) {
        *why = GEN_ERR_NO_MODEL;
        snprintf(err, errlen, "no model loaded");
        return NULL;
    }
    struct gen_request *req = port_alloc(sizeof(*req));
    if (!req) {
        *why = GEN_ERR_NO_MEMORY;
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    memset(req, 0, sizeof(*req));
    *why = gen_init(req, l, prompt, n, p, err, errlen);
    if (*why != GEN_OK) {
        port_free(req);
        return NULL;
    }
    return req;
}

static int api_llm_gen_run(void *g, const struct sched_sink *sink, void *ctx) {
    return sched_add(g, sink, ctx);
}

static int api_llm_gen_share(void *g, void *first) {
    return gen_share(g, first);
}

static void api_llm_gen_stats(void *g, struct api_gen_stats *st) {
    const struct gen_request *req = g;
    st->n_prompt = req->n_prompt;
    st->n_gen = req->n_gen;
    st->n_eval = req->n_eval;
    st->finish = req->finish;
    st->t_prompt_us = req->t_prompt_us;
    st->t_gen_us = req->t_gen_us;
    st->t_grammar_us = req->t_grammar_us;
    st->n_masked = req->n_masked;
    st->n_cached = req->n_cached;
    st->cyc = req->cyc;
}

static void api_llm_gen_free(void *g) {
    if (!g)
        return;
    sched_remove(g);
    gen_free(g);
    port_free(g);
}

static enum gen_err api_llm_embed(const int *tokens, int n, float *out, char *err, size_t errlen) {
    return embed_tokens(llm_get(), tokens, n, out, err, errlen);
}

const struct api_backend api_llm_backend = {
    .status = api_llm_status,
    .error = api_llm_error,
    .info = api_llm_info,
    .tokenize = api_llm_tokenize,
    .piece = api_llm_piece,
    .chat = api_llm_chat,
    .params_default = gen_params_default,
    .gen_start = api_llm_gen_start,
    .gen_run = api_llm_gen_run,
    .gen_share = api_llm_gen_share,
    .gen_stats = api_llm_gen_stats,
    .gen_free = api_llm_gen_free,
    .embed = api_llm_embed,
};
