/*
 * generate.c: the generation loop of one request (see generate.h): prompt evaluation
 * in chunks (cllm.prefill_chunk tokens a step), then per step: sample, decode, hold
 * back text that is not final yet (an incomplete UTF-8 character, a possible start of
 * a stop string); the forward pass of a chunk or of the new token waits, so that
 * gen_forward_pending can run it together with other requests' rows in one pass (the
 * next gen_step runs it alone otherwise); a grammar, when the request has one, vets
 * each sampled token (see generate.h). Called by console.c and the HTTP API; relies
 * on model.h (model_state_init, model_forward_rows for the batched pass,
 * model_forward_batch and model_forward for a request alone), tokenizer.h, sampler.h,
 * grammar.h and port.h.
 */
#include "llm/generate.h"

#include "llm/llm.h"
#include "llm/tokenizer.h"
#include "port.h"

#define GEN_SEED_MIX 0x9E3779B97F4A7C15ull /* spreads clock seeds over all 64 bits */

const char *gen_finish_name(enum gen_finish f) {
    switch (f) {
    case GEN_FINISH_LENGTH:
        return "length";
    case GEN_FINISH_STOP:
    case GEN_FINISH_EOS:
        return "stop";
    case GEN_FINISH_ERROR:
        return "error";
    default:
        return NULL;
    }
}

void gen_free(struct gen_request *req) {
    if (req->state) {
        model_state_free(req->state);
        port_free(req->state);
    }
    sampler_free(&req->sampler);
    port_free(req->tokens);
    req->state = NULL;
    req->tokens = NULL;
    if (req->grammar) {
        grammar_state_free(&req->gstate);
        grammar_free(req->grammar);
    }
    port_free(req->masked);
    port_free(req->biased);
    req->grammar = NULL;
    req->masked = NULL;
    req->biased = NULL;
}

/* gen_init's failure: the message into err, the reason returned. */
static enum gen_err gen_refuse(enum gen_err why, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static enum gen_err gen_refuse(enum gen_err why, char *err, size_t errlen, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return why;
}

/* Compile the request's grammar and its parse state; on failure everything is freed. */
static enum gen_err gen_init_grammar(struct gen_request *req, const struct gen_params *params,
                                     char *err, size_t errlen) {
    char why[160];
    if (grammar_compile(&req->grammar, params->grammar, params->grammar_len, why, sizeof why) !=
        0) {
        req->grammar = NULL;
        gen_free(req);
        return gen_refuse(GEN_ERR_REQUEST, err, errlen, "grammar: %s", why);
    }
    if (grammar_state_init(&req->gstate, req->grammar, why, sizeof why) != 0) {
        grammar_free(req->grammar);
        req->grammar = NULL;
        gen_free(req);
        return gen_refuse(GEN_ERR_REQUEST, err, errlen, "grammar: %s", why);
    }
    req->masked = port_alloc((size_t)req->llm->model.cfg.vocab_size * sizeof *req->masked);
    if (!req->masked) {
        gen_free(req);
        return gen_refuse(GEN_ERR_NO_MEMORY, err, errlen, "out of memory for the grammar's mask");
    }
    return GEN_OK;
}

enum gen_err gen_init(struct gen_request *req, const struct llm *llm, const int *prompt,
                      int n_prompt, const struct gen_params *params, char *err, size_t errlen) {
    memset(req, 0, sizeof *req);
    req->cyc_init = port_cycles();
    if (!llm || !llm->tok)
        return gen_refuse(GEN_ERR_NO_MODEL, err, errlen, "no model loaded");
    const struct model_config *cfg = &llm->model.cfg;
    if (n_prompt <= 0)
        return gen_refuse(GEN_ERR_REQUEST, err, errlen,
                          "prompt: empty (at least one token, e.g. BOS, is needed)");
    /* A prompt the whole pool cannot hold is the server's limit (503), not the
     * request's fault; past the context (cllm.ctx, the model's) it is the request's. */
    if (llm->kv && n_prompt > kv_pool_positions(llm->kv))
        return gen_refuse(GEN_ERR_NO_MEMORY, err, errlen,
                          "prompt: %d tokens do not fit in the KV pool of %ld positions", n_prompt,
                          kv_pool_positions(llm->kv));
    int limit = llm->n_ctx > 0 ? MIN(llm->n_ctx, cfg->seq_len) : cfg->seq_len;
    if (n_prompt > limit)
        return gen_refuse(GEN_ERR_REQUEST, err, errlen,
                          "prompt: %d tokens exceed the context of %d", n_prompt, limit);
    if (llm->kv)
        limit = (int)MIN((long)limit, kv_pool_positions(llm->kv));
    for (int i = 0; i < n_prompt; i++)
        if (prompt[i] < 0 || prompt[i] >= cfg->vocab_size)
            return gen_refuse(GEN_ERR_REQUEST, err, errlen,
                              "prompt: token %d at %d out of range (vocab %d)", prompt[i], i,
                              cfg->vocab_size);
    if (params->n_stop < 0 || params->n_stop > GEN_MAX_STOP)
        return gen_refuse(GEN_ERR_REQUEST, err, errlen, "stop: %d strings, at most %d",
                          params->n_stop, GEN_MAX_STOP);
    for (int i = 0; i < params->n_stop; i++) {
        size_t n = 0;
        while (n <= GEN_STOP_MAX_LEN && params->stop[i][n])
            n++;
        if (n == 0 || n > GEN_STOP_MAX_LEN)
            return gen_refuse(GEN_ERR_REQUEST, err, errlen, "stop[%d]: length %u not in 1..%d", i,
                              (unsigned)n, GEN_STOP_MAX_LEN);
    }
    for (int i = 0; i < params->n_stop_ids; i++)
        if (params->stop_ids[i] < 0 || params->stop_ids[i] >= cfg->vocab_size)
            return gen_refuse(GEN_ERR_REQUEST, err, errlen,
                              "stop: token %d out of range (vocab %d)", params->stop_ids[i],
                              cfg->vocab_size);
    if (params->n_bias < 0 || params->n_bias > GEN_MAX_BIAS)
        return gen_refuse(GEN_ERR_REQUEST, err, errlen, "logit_bias: %d entries, at most %d",
                          params->n_bias, GEN_MAX_BIAS);
    for (int i = 0; i < params->n_bias; i++)
        if (params->bias[i].id < 0 || params->bias[i].id >= cfg->vocab_size)
            return gen_refuse(GEN_ERR_REQUEST, err, errlen,
                              "logit_bias: token %d out of range (vocab %d)", params->bias[i].id,
                              cfg->vocab_size);
    if (params->sample.top_k < 0)
        return gen_refuse(GEN_ERR_REQUEST, err, errlen, "top_k: value %d is negative",
                          params->sample.top_k);
    req->llm = llm;
    req->params = *params;
    req->n_prompt = n_prompt;
    req->n_known = n_prompt;
    /* positions needed: the prompt, then every sampled token but the last */
    long need = params->n_predict < 0 ? (long)limit : (long)n_prompt + params->n_predict;
    req->n_ctx = need < limit ? (int)need : limit;
    struct sampler_params sp = params->sample;
    if (sp.seed == GEN_SEED_RANDOM)
        sp.seed = (port_time_us() + 1) * GEN_SEED_MIX;
    int src = sampler_init(&req->sampler, cfg->vocab_size, &sp, err, errlen);
    if (src != 0)
        return src == SAMPLER_ERR_MEMORY ? GEN_ERR_NO_MEMORY : GEN_ERR_REQUEST;
    req->tokens = port_alloc(((size_t)req->n_ctx + 1) * sizeof *req->tokens);
    req->state = port_alloc(sizeof *req->state);
    if (!req->tokens || !req->state) {
        port_free(req->state);
        req->state = NULL;
        gen_free(req);
        return gen_refuse(GEN_ERR_NO_MEMORY, err, errlen,
                          "out of memory for a request of %d positions", req->n_ctx);
    }
    int src_kv = llm->kv ? model_state_init_pool(req->state, &llm->model, req->n_ctx, llm->kv)
                         : model_state_init(req->state, &llm->model, req->n_ctx);
    if (src_kv != 0) {
        port_free(req->state);
        req->state = NULL;
        gen_free(req);
        return gen_refuse(GEN_ERR_NO_MEMORY, err, errlen,
                          "out of memory for the KV cache (%d positions)", req->n_ctx);
    }
    memcpy(req->tokens, prompt, (size_t)n_prompt * sizeof *prompt);
    if (params->n_bias &&
        !(req->biased = port_alloc((size_t)cfg->vocab_size * sizeof *req->biased))) {
        gen_free(req);
        return gen_refuse(GEN_ERR_NO_MEMORY, err, errlen, "out of memory for logit_bias");
    }
    req->params.grammar = NULL; /* borrowed: not valid past this call */
    return params->grammar ? gen_init_grammar(req, params, err, errlen) : GEN_OK;
}

/* Bytes at the end of s[0..n) that form an incomplete UTF-8 character. */
static size_t gen_utf8_partial(const char *s, size_t n) {
    for (size_t back = 1; back <= 4 && back <= n; back++) {
        uint8_t c = (uint8_t)s[n - back];
        if ((c & 0xC0) == 0x80)
            continue; /* continuation byte: keep looking for the lead */
        size_t want = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        return back < want ? back : 0;
    }
    return 0;
}

/* Bytes at the end of s[0..n) that are a proper prefix of some stop string. */
static size_t gen_stop_partial(const struct gen_params *p, const char *s, size_t n) {
    size_t keep = 0;
    for (int i = 0; i < p->n_stop; i++) {
        size_t sl = strlen(p->stop[i]);
        for (size_t k = MIN(sl - 1, n); k > keep; k--) {
            if (memcmp(s + n - k, p->stop[i], k) == 0) {
                keep = k;
                break;
            }
        }
    }
    return keep;
}

/* Offset of the first complete stop string in s[0..n), or -1. */
static long gen_stop_find(const struct gen_params *p, const char *s, size_t n) {
    long best = -1;
    for (int i = 0; i < p->n_stop; i++) {
        size_t sl = strlen(p->stop[i]);
        for (size_t at = 0; at + sl <= n; at++) {
            if (memcmp(s + at, p->stop[i], sl) == 0) {
                if (best < 0 || (long)at < best)
                    best = (long)at;
                break;
            }
        }
    }
    return best;
}

/* Move the first n held bytes to out. */
static void gen_release(struct gen_request *req, struct gen_output *out, size_t n) {
    memcpy(out->text + out->len, req->hold, n);
    out->len += n;
    memmove(req->hold, req->hold + n, req->n_hold - n);
    req->n_hold -= n;
}

static int gen_finish(struct gen_request *req, struct gen_output *out, enum gen_finish why) {
    req->finish = why;
    if (why != GEN_FINISH_STOP)
        gen_release(req, out, req->n_hold);
    req->n_hold = 0;
    return GEN_STEP_DONE;
}

/* Prompt tokens one step hands to the pass after it (cllm.prefill_chunk). */
int gen_prompt_budget(const struct gen_request *req) {
    return req->llm->prefill_chunk > 0 ? req->llm->prefill_chunk : GEN_PROMPT_CHUNK;
}

static int gen_chunk(const struct gen_request *req) {
    int n = gen_prompt_budget(req);
    return req->chunk_room > 0 ? MIN(n, req->chunk_room) : n;
}

bool gen_in_prompt(const struct gen_request *req) {
    return req->finish == GEN_FINISH_NONE && !req->share &&
           req->n_eval + req->n_chunk < req->n_known;
}

int gen_kv_need(const struct gen_request *req) {
    int at = req->n_eval + req->n_chunk; /* a chunk no pass ran: the step runs it first */
    int need;
    if (at < req->n_known) {
        need = at + MIN(req->n_known - at, gen_chunk(req));
        if (need == req->n_known && req->pending)
            need++; /* the token that waited through a preemption runs in the same pass */
    } else {
        need = at + (req->pending ? 2 : 1);
    }
    return MIN(need, req->n_ctx);
}

int gen_share(struct gen_request *req, struct gen_request *first) {
    if (!req->state || !first->state || req->state->own || first->state->own ||
        req->state->kv.pool != first->state->kv.pool || req->llm != first->llm ||
        req->n_prompt != first->n_prompt || req->n_eval || req->n_gen || req == first ||
        memcmp(req->tokens, first->tokens, (size_t)req->n_prompt * sizeof *req->tokens) != 0)
        return -1;
    req->share = first;
    return 0;
}

/* For a request that waits for its sibling's prompt (gen_share): 1 while the sibling
 * has not run all of it; 0 once it took the sibling's blocks and logits, or gave up
 * waiting (the sibling went past its prompt or stopped: it runs the prompt itself);
 * -1 when the pool has no block for the copy yet. The sibling's logits are the
 * prompt's last ones while exactly the prompt is evaluated (sampling only reads them). */
static int gen_share_take(struct gen_request *req) {
    const struct gen_request *src = req->share;
    if (src->finish != GEN_FINISH_NONE || src->n_eval > src->n_prompt ||
        src->n_known > src->n_prompt) {
        req->share = NULL;
        return 0;
    }
    if (src->n_eval < src->n_prompt)
        return 1;
    if (kv_seq_fork(&req->state->kv, &src->state->kv, src->n_prompt) != 0)
        return -1;
    memcpy(req->state->logits, src->state->logits,
           (size_t)req->llm->model.cfg.vocab_size * sizeof *req->state->logits);
    req->logits = req->state->logits;
    req->n_eval = req->n_shared = src->n_prompt;
    req->share = NULL;
    return 0;
}

int gen_kv_reserve(struct gen_request *req) {
    struct kv_seq *kv = &req->state->kv;
    if (req->share) {
        int r = gen_share_take(req);
        if (r != 0)
            return r > 0 ? 0 : -1;
    }
    if (req->params.cache_prompt && !req->state->own && req->n_eval == 0 && !kv->n_blocks) {
        /* Reuse cached blocks of the known tokens, all but the last: its logits are
         * needed, so at least one token is always run. */
        req->n_eval = kv_seq_match(kv, req->tokens, req->n_known - 1);
        if (!req->n_preempted)
            req->n_cached = req->n_eval;
    }
    return kv_seq_reserve(kv, gen_kv_need(req));
}

void gen_preempt(struct gen_request *req) {
    if (!req->state || req->state->own || req->finish != GEN_FINISH_NONE)
        return;
    kv_seq_release(&req->state->kv);
    req->n_known = MAX(req->n_known, req->n_eval);
    req->n_eval = 0;
    req->n_chunk = 0;
    req->n_preempted++;
    req->logits = NULL;
}

/* Run the prompt chunk that awaits its forward pass (no batched pass took it), alone. */
static int gen_prompt_run(struct gen_request *req) {
    uint64_t t0 = port_time_us(), c0 = port_cycles();
    int n = req->n_chunk;
    req->logits = model_forward_batch(&req->llm->model, req->state, req->tokens + req->n_eval, n,
                                      req->n_eval);
    if (req->logits) {
        req->n_chunk = 0;
        req->n_eval += n;
        kv_seq_publish(&req->state->kv, req->tokens, req->n_eval);
    }
    req->t_prompt_us += port_time_us() - t0;
    req->cyc.prompt += port_cycles() - c0;
    return req->logits ? 0 : -1;
}

/* Run the sampled token that awaits its forward pass, alone. */
static int gen_forward_one(struct gen_request *req) {
    uint64_t t0 = port_time_us(), c0 = port_cycles();
    req->logits =
        model_forward(&req->llm->model, req->state, req->tokens[req->n_eval], req->n_eval);
    req->pending = false;
    req->n_eval++;
    kv_seq_publish(&req->state->kv, req->tokens, req->n_eval);
    req->t_gen_us += port_time_us() - t0;
    req->cyc.decode += port_cycles() - c0;
    return req->logits ? 0 : -1;
}

/* The rows the request's last step left to the batched pass: its prompt chunk, and
 * its sampled token when that comes right after (all of it after a preemption); 0
 * when it left none. */
static int gen_rows_of(const struct gen_request *r) {
    if (!r || r->finish != GEN_FINISH_NONE)
        return 0;
    bool token = r->pending && r->n_eval + r->n_chunk >= r->n_known;
    return r->n_chunk + (token ? 1 : 0);
}

/* Whether the request's rows end where it samples next (the logits are wanted), not
 * inside its prompt (a chunk that more prompt follows). */
static bool gen_rows_sample(const struct gen_request *r) {
    return r->n_eval + r->n_chunk >= r->n_known;
}

/* Rows [from, from + n) of request r's gen_rows_of into rows; its last row gives
 * logits where it samples next. */
static void gen_rows_fill(const struct gen_request *r, int from, int n, struct model_row *rows) {
    int all = gen_rows_of(r);
    for (int i = 0; i < n; i++) {
        int at = r->n_eval + from + i;
        bool logits = from + i == all - 1 && gen_rows_sample(r);
        rows[i] = (struct model_row){r->state, r->tokens[at], at, logits};
    }
}

/* The requests' rows were run: move each past them. The time of the pass is shared
 * by rows, prompt rows to t_prompt_us, the sampled token's to t_gen_us. */
static void gen_rows_done(struct gen_request *const *batch, int n, int rows, uint64_t us,
                          uint64_t cycles) {
    uint64_t share = us / (uint64_t)rows, cyc_share = cycles / (uint64_t)rows;
    for (int i = 0; i < n; i++) {
        struct gen_request *r = batch[i];
        int chunk = r->n_chunk, all = gen_rows_of(r);
        bool sample = gen_rows_sample(r);
        r->t_prompt_us += share * (uint64_t)chunk;
        r->cyc.prompt += cyc_share * (uint64_t)chunk;
        r->n_eval += chunk;
        r->n_chunk = 0;
        if (all > chunk) {
            r->pending = false;
            r->n_eval++;
            r->t_gen_us += share;
            r->cyc.decode += cyc_share;
        }
        kv_seq_publish(&r->state->kv, r->tokens, r->n_eval);
        r->logits = sample ? r->state->logits : NULL;
    }
}

int gen_forward_pending(struct gen_request *const *reqs, int n) {
    struct gen_request *batch[GEN_BATCH_MAX];
    struct model_row rows[GEN_PASS_ROWS];
    int n_batch = 0, n_rows = 0, total = 0;
    uint64_t t0 = port_time_us(), c0 = port_cycles();
    for (int i = 0; i < n; i++) {
        struct gen_request *r = reqs[i];
        int all = gen_rows_of(r);
        if (!all)
            continue;
        if (n_batch == GEN_BATCH_MAX || (n_batch && r->llm != batch[0]->llm)) {
            /* past the batch, or another model: alone (errors: its next gen_step) */
            if (r->n_chunk && gen_prompt_run(r) != 0)
                continue;
            if (r->pending && r->n_eval >= r->n_known)
                (void)gen_forward_one(r);
            continue;
        }
        batch[n_batch++] = r;
        /* Rows go to the model GEN_PASS_ROWS at a time, in order: a request's rows
         * split across two calls still see each other. */
        for (int from = 0; from < all;) {
            int k = MIN(all - from, GEN_PASS_ROWS - n_rows);
            gen_rows_fill(r, from, k, rows + n_rows);
            n_rows += k;
            from += k;
            if (n_rows == GEN_PASS_ROWS) {
                if (model_forward_rows(&r->llm->model, rows, n_rows) != 0)
                    return 0; /* all still pending: each next gen_step runs its own */
                total += n_rows;
                n_rows = 0;
            }
        }
    }
    if (n_batch == 0)
        return 0;
    if (n_rows && model_forward_rows(&batch[0]->llm->model, rows, n_rows) != 0)
        return 0;
    total += n_rows;
    gen_rows_done(batch, n_batch, total, port_time_us() - t0, port_cycles() - c0);
    return n_batch;
}

#define GEN_MASKED_LOGIT (-1e30f) /* a refused token's logit: probability 0 after softmax */

/* Whether the grammar lets tok follow prev: its bytes continue the parse (a token with
 * no text never does), or it ends the generation where the text is a whole sentence. */
static bool gen_grammar_allows(struct gen_request *req, int prev, int tok) {
    const struct tokenizer *t = req->llm->tok;
    if (tokenizer_is_eog(t, tok))
        return grammar_complete(&req->gstate);
    char piece[TOKENIZER_PIECE_MAX];
    int n = tokenizer_decode(t, prev, tok, piece, sizeof piece);
    return n > 0 && grammar_accepts(&req->gstate, (const uint8_t *)piece, (size_t)n);
}

/* The logits to sample from: the model's, or with logit_bias added (a ban at
 * GEN_MASKED_LOGIT, like a token the grammar refuses). */
static const float *gen_biased_logits(struct gen_request *req) {
    const struct gen_params *p = &req->params;
    if (!p->n_bias)
        return req->logits;
    memcpy(req->biased, req->logits, (size_t)req->llm->model.cfg.vocab_size * sizeof *req->biased);
    for (int i = 0; i < p->n_bias; i++) {
        float *l = &req->biased[p->bias[i].id];
        *l = p->bias[i].bias <= GEN_BIAS_BAN ? GEN_MASKED_LOGIT : *l + p->bias[i].bias;
    }
    return req->biased;
}

/* The next token: a draw from the (biased) logits; under a grammar a refused draw is
 * repeated over the allowed tokens only. -1 when the grammar allows no token at all. */
static int gen_sample(struct gen_request *req) {
    const float *logits = gen_biased_logits(req);
    int tok = sampler_sample(&req->sampler, logits, req->tokens, req->n_eval);
    if (!req->grammar)
        return tok;
    uint64_t t0 = port_time_us();
    int prev = req->tokens[req->n_eval - 1];
    if (!gen_grammar_allows(req, prev, tok)) {
        int allowed = 0;
        for (int v = 0; v < req->llm->model.cfg.vocab_size; v++) {
            bool ok = gen_grammar_allows(req, prev, v);
            req->masked[v] = ok ? logits[v] : GEN_MASKED_LOGIT;
            allowed += ok;
        }
        req->n_masked++;
        tok = allowed ? sampler_sample(&req->sampler, req->masked, req->tokens, req->n_eval) : -1;
    }
    req->t_grammar_us += port_time_us() - t0;
    return tok;
}

/* The log probability of tok and the n_probs most likely tokens, from the logits it
 * was sampled from (in double: a sum over the whole vocabulary). */
static void gen_probs(const struct gen_request *req, int tok, struct gen_output *out) {
    const float *l = req->logits;
    int n_vocab = req->llm->model.cfg.vocab_size;
    float max = l[0];
    for (int v = 1; v < n_vocab; v++)
        max = MAX(max, l[v]);
    double sum = 0;
    for (int v = 0; v < n_vocab; v++)
        sum += (double)expf(l[v] - max);
    float lse = max + logf((float)sum);
    int k = MIN(req->params.n_probs, GEN_MAX_PROBS);
    out->n_top = 0;
    for (int v = 0; v < n_vocab; v++) { /* insertion into the k best so far */
        int at = out->n_top;
        while (at > 0 && l[out->top[at - 1].id] < l[v])
            at--;
        if (at >= k)
            continue;
        int last = MIN(out->n_top, k - 1);
        memmove(out->top + at + 1, out->top + at, (size_t)(last - at) * sizeof *out->top);
        out->top[at].id = v;
        out->n_top = last + 1;
    }
    for (int i = 0; i < out->n_top; i++)
        out->top[i].logprob = l[out->top[i].id] - lse;
    out->prob = (struct gen_prob){.id = tok, .logprob = l[tok] - lse};
    out->has_prob = true;
}

/* Feed the bytes of the sampled token to the grammar (gen_sample allowed them). */
static void gen_grammar_advance(struct gen_request *req, const char *bytes, size_t n) {
    uint64_t t0 = port_time_us();
    (void)grammar_advance(&req->gstate, (const uint8_t *)bytes, n);
    req->t_grammar_us += port_time_us() - t0;
}

/* The sampling part of a step, begun at t0 (port_time_us) and c0 (port_cycles), ends:
 * it counts in t_gen_us (llama.cpp's predicted_ms) and in the sampling phase. */
static void gen_sampled(struct gen_request *req, uint64_t t0, uint64_t c0) {
    req->t_gen_us += port_time_us() - t0;
    req->cyc.sampling += port_cycles() - c0;
}

int gen_step(struct gen_request *req, struct gen_output *out) {
    out->token = -1;
    out->len = 0;
    out->has_prob = false;
    out->n_top = 0;
    if (req->finish != GEN_FINISH_NONE)
        return -1;
    if (!req->stepped) {
        req->cyc.queue = port_cycles() - req->cyc_init;
        req->stepped = true;
    }
    /* The scheduler reserved these already; a caller stepping alone gets them here. */
    if (gen_kv_reserve(req) != 0) {
        req->state->error = "the KV pool has no free block for this generation";
        return gen_finish(req, out, GEN_FINISH_ERROR);
    }
    if (req->share)
        return GEN_STEP_PROMPT; /* its sibling still evaluates the prompt: nothing to do */
    if (req->n_chunk && gen_prompt_run(req) != 0) /* a chunk no batched pass took */
        return gen_finish(req, out, GEN_FINISH_ERROR);
    if (req->n_eval < req->n_known) {
        /* The next chunk waits for the pass after this step (gen_forward_pending), with
         * the other requests' rows, or for the next gen_step. */
        req->n_chunk = MIN(req->n_known - req->n_eval, gen_chunk(req));
        req->logits = NULL;
        return GEN_STEP_PROMPT;
    }
    if (req->pending && gen_forward_one(req) != 0)
        return gen_finish(req, out, GEN_FINISH_ERROR);
    const struct gen_params *p = &req->params;
    if (p->n_predict >= 0 && req->n_gen >= p->n_predict)
        return gen_finish(req, out, GEN_FINISH_LENGTH);
    uint64_t t0 = port_time_us(), c0 = port_cycles();
    int tok = gen_sample(req);
    if (tok < 0) {
        gen_sampled(req, t0, c0);
        return gen_finish(req, out, GEN_FINISH_ERROR); /* the grammar allows nothing */
    }
    req->tokens[req->n_eval] = tok;
    req->n_gen++;
    out->token = tok;
    out->prev = req->tokens[req->n_eval - 1];
    const struct tokenizer *t = req->llm->tok;
    bool eog = tokenizer_is_eog(t, tok);
    if (eog && !p->ignore_eos) {
        gen_sampled(req, t0, c0);
        return gen_finish(req, out, GEN_FINISH_EOS);
    }
    for (int i = 0; i < p->n_stop_ids; i++) {
        if (tok == p->stop_ids[i]) { /* a stop token: its text is not part of the answer */
            gen_release(req, out, req->n_hold);
            gen_sampled(req, t0, c0);
            return gen_finish(req, out, GEN_FINISH_STOP);
        }
    }
    if (p->logprobs && !eog)
        gen_probs(req, tok, out);
    if (!eog) {
        int n = tokenizer_decode(t, req->tokens[req->n_eval - 1], tok, req->hold + req->n_hold,
                                 sizeof req->hold - req->n_hold);
        if (n > 0 && req->grammar)
            gen_grammar_advance(req, req->hold + req->n_hold, (size_t)n);
        req->n_hold += n > 0 ? (size_t)n : 0;
    }
    long stop_at = gen_stop_find(p, req->hold, req->n_hold);
    if (stop_at >= 0) {
        gen_release(req, out, (size_t)stop_at);
        gen_sampled(req, t0, c0);
        return gen_finish(req, out, GEN_FINISH_STOP);
    }
    size_t keep =
        MAX(gen_utf8_partial(req->hold, req->n_hold), gen_stop_partial(p, req->hold, req->n_hold));
    gen_release(req, out, req->n_hold - keep);
    int rc = GEN_STEP_TOKEN;
    if (req->grammar && grammar_done(&req->gstate)) {
        rc = gen_finish(req, out, GEN_FINISH_EOS); /* nothing more can follow */
    } else if (p->n_predict >= 0 && req->n_gen >= p->n_predict) {
        rc = gen_finish(req, out, GEN_FINISH_LENGTH); /* the last token needs no forward pass */
    } else if (req->n_eval >= req->n_ctx) {           /* the context is full */
        rc = gen_finish(req, out, GEN_FINISH_LENGTH);
    } else {
        req->pending = true; /* run by gen_forward_pending with others, or next step */
        req->logits = NULL;
    }
    gen_sampled(req, t0, c0);
    return rc;
}
