/*
 * A deterministic stand-in model for the host tests of the HTTP API: 256 byte
 * tokens plus BOS (256) and EOS (257). Generating echoes the prompt's bytes in upper
 * case, one token per step after one prompt step, then EOS; stop strings and
 * n_predict behave as the real generator's do, and its defaults are the parameter
 * table's (gen_param.c). Its status can be switched to test the 503 paths. Running
 * generations are stepped by harness_gen_poll, the harness's stand-in for the kernel's
 * generation scheduler (kernel/llm/sched.c), with the same sink protocol: a step only
 * when the sink is ready, output per step, done last.
 */
#include "http/api_backend.h"
#include "port.h"

#define FAKE_BOS 256
#define FAKE_EOS 257
#define FAKE_VOCAB 258
#define FAKE_CTX 512
#define FAKE_RUNNING 64 /* generations running at once, as SCHED_MAX_SEQS */

static int fake_status = API_MODEL_READY;
static unsigned long fake_started; /* generations run so far, for harness_metrics */

struct fake_gen {
    int prompt[FAKE_CTX];
    int n_prompt;
    int pos; /* next prompt byte to echo */
    int n_gen;
    bool prompt_done;
    struct gen_params p;
    char text[4096]; /* everything generated, for stop-string matching */
    size_t n_text;
    size_t released;
    enum gen_finish finish;
    const struct sched_sink *sink; /* set while running */
    void *ctx;
};

static struct fake_gen *fake_running[FAKE_RUNNING];

static int fake_status_fn(void) {
    return fake_status;
}

static const char *fake_error(void) {
    return fake_status == API_MODEL_ERROR ? "bad magic 0x00000000" : "";
}

static void fake_info(struct api_model_info *mi) {
    memset(mi, 0, sizeof(*mi));
    mi->name = "fake-echo";
    mi->arch = "fake";
    mi->chat_template = "fake";
    mi->n_vocab = FAKE_VOCAB;
    mi->n_ctx_train = FAKE_CTX;
    mi->n_ctx = FAKE_CTX;
    mi->n_embd = 8;
    mi->n_layer = 1;
    mi->n_head = 1;
    mi->n_params = 1234;
    mi->size_bytes = 4936;
}

static int fake_tokenize(const char *text, size_t len, bool add_bos, bool special, int *out,
                         int max) {
    int n = 0;
    if (add_bos) {
        if (n >= max)
            return -1;
        out[n++] = FAKE_BOS;
    }
    for (size_t i = 0; i < len; i++) {
        if (n >= max)
            return -1;
        out[n++] = (uint8_t)text[i];
    }
    return n;
}

static int fake_piece(int prev, int token, char *out, size_t cap) {
    if (token < 0 || token >= FAKE_VOCAB)
        return -1;
    if (token >= 256)
        return 0;
    out[0] = (char)token;
    return 1;
}

static size_t fake_chat(const struct chat_message *msgs, size_t n, char *out, size_t cap) {
    size_t len = 0;
    for (size_t i = 0; i <= n; i++) {
        const char *role = i < n ? msgs[i].role : "assistant";
        char head[64];
        int h = snprintf(head, sizeof(head), "<%s>", role);
        for (int k = 0; k < h; k++, len++)
            if (len + 1 < cap)
                out[len] = head[k];
        if (i == n)
            break;
        for (size_t k = 0; k < msgs[i].content_len; k++, len++)
            if (len + 1 < cap)
                out[len] = msgs[i].content[k];
        if (len + 1 < cap)
            out[len] = '\n';
        len++;
    }
    if (cap)
        out[len < cap ? len : cap - 1] = 0;
    return len;
}

static void *fake_gen_start(const int *prompt, int n, const struct gen_params *p, enum gen_err *why,
                            char *err, size_t errlen) {
    if (n <= 0 || n > FAKE_CTX) {
        *why = GEN_ERR_REQUEST;
        snprintf(err, errlen, "prompt has %d tokens, the context holds %d", n, FAKE_CTX);
        return NULL;
    }
    /* The prompt "<oom>" stands in for an engine that has no memory left. */
    static const char oom[] = "<oom>";
    int skip = prompt[0] == FAKE_BOS;
    bool fake_oom = n - skip == (int)sizeof(oom) - 1;
    for (int i = 0; fake_oom && i < n - skip; i++)
        fake_oom = prompt[skip + i] == (uint8_t)oom[i];
    struct fake_gen *g = fake_oom ? NULL : port_alloc(sizeof(*g));
    if (!g) {
        *why = GEN_ERR_NO_MEMORY;
        snprintf(err, errlen, "out of memory for the generation");
        return NULL;
    }
    memset(g, 0, sizeof(*g));
    memcpy(g->prompt, prompt, (size_t)n * sizeof(int));
    g->n_prompt = n;
    g->p = *p;
    return g;
}

/* Bytes of text[released..n_text) that can no longer start a stop string. */
static size_t fake_releasable(const struct fake_gen *g) {
    size_t end = g->n_text;
    for (int s = 0; s < g->p.n_stop; s++) {
        size_t sl = strlen(g->p.stop[s]);
        for (size_t k = 1; k < sl && k <= g->n_text; k++) {
            if (memcmp(g->text + g->n_text - k, g->p.stop[s], k) == 0 && g->n_text - k < end)
                end = g->n_text - k;
        }
    }
    return end > g->released ? end - g->released : 0;
}

static int fake_gen_step(void *vg, struct gen_output *out) {
    struct fake_gen *g = vg;
    out->token = -1;
    out->len = 0;
    if (g->finish != GEN_FINISH_NONE)
        return -1;
    if (!g->prompt_done) {
        g->prompt_done = true;
        return GEN_STEP_PROMPT;
    }
    while (g->pos < g->n_prompt && g->prompt[g->pos] >= 256)
        g->pos++;
    bool length = g->p.n_predict >= 0 && g->n_gen >= g->p.n_predict;
    if (length || g->pos >= g->n_prompt || g->n_text >= sizeof(g->text)) {
        g->finish = length ? GEN_FINISH_LENGTH : GEN_FINISH_EOS;
        out->len = g->n_text - g->released;
        memcpy(out->text, g->text + g->released, out->len);
        g->released = g->n_text;
        return GEN_STEP_DONE;
    }
    int tok = g->prompt[g->pos++];
    char ch = (char)tok;
    if (ch >= 'a' && ch <= 'z')
        ch = (char)(ch - 'a' + 'A');
    g->text[g->n_text++] = ch;
    g->n_gen++;
    out->token = (uint8_t)ch;
    for (int s = 0; s < g->p.n_stop; s++) {
        size_t sl = strlen(g->p.stop[s]);
        if (g->n_text >= sl && memcmp(g->text + g->n_text - sl, g->p.stop[s], sl) == 0) {
            g->n_text -= sl;
            g->finish = GEN_FINISH_STOP;
            out->len = g->n_text > g->released ? g->n_text - g->released : 0;
            memcpy(out->text, g->text + g->released, out->len);
            g->released = g->n_text;
            return GEN_STEP_DONE;
        }
    }
    size_t r = fake_releasable(g);
    memcpy(out->text, g->text + g->released, r);
    out->len = r;
    g->released += r;
    return GEN_STEP_TOKEN;
}

static void fake_gen_stats(void *vg, struct api_gen_stats *st) {
    struct fake_gen *g = vg;
    st->n_prompt = g->n_prompt;
    st->n_gen = g->n_gen;
    st->n_eval = g->n_prompt + g->n_gen;
    st->finish = g->finish;
    st->t_prompt_us = 1000;
    st->t_gen_us = (uint64_t)g->n_gen * 500;
    st->t_grammar_us = 0;
    st->n_masked = 0;
    st->cyc = (struct gen_cycles){0};
}

static int fake_gen_run(void *vg, const struct sched_sink *sink, void *ctx) {
    struct fake_gen *g = vg;
    for (int i = 0; i < FAKE_RUNNING; i++) {
        if (!fake_running[i]) {
            fake_running[i] = g;
            g->sink = sink;
            g->ctx = ctx;
            fake_started++;
            return 0;
        }
    }
    return -1;
}

static void fake_gen_free(void *g) {
    for (int i = 0; i < FAKE_RUNNING; i++) {
        if (fake_running[i] == g)
            fake_running[i] = NULL;
    }
    port_free(g);
}

bool harness_gen_poll(void) {
    bool stepped = false;
    for (int i = 0; i < FAKE_RUNNING; i++) {
        struct fake_gen *g = fake_running[i];
        if (!g || (g->sink->ready && !g->sink->ready(g->ctx)))
            continue;
        struct gen_output out = {.has_prob = false}; /* the fake reports no probabilities */
        int r = fake_gen_step(g, &out);
        g->sink->output(g->ctx, &out);
        if (r == GEN_STEP_DONE) {
            fake_running[i] = NULL;
            g->sink->done(g->ctx);
        }
        stepped = true;
    }
    return stepped;
}

int harness_gen_active(void) {
    int n = 0;
    for (int i = 0; i < FAKE_RUNNING; i++)
        n += fake_running[i] != NULL;
    return n;
}

size_t harness_metrics(char *buf, size_t cap) {
    int n = snprintf(buf, cap,
                     "# TYPE cllm_fake_generations_total counter\n"
                     "cllm_fake_generations_total %lu\n",
                     fake_started);
    return n > 0 ? (size_t)n : 0;
}

/* A stand-in embedding of n_embd 8: how many tokens fall in each residue class mod
 * 8, normalized; an input with token id 255 fails as an engine would. */
static enum gen_err fake_embed(const int *tokens, int n, float *out, char *err, size_t errlen) {
    float norm = 0;
    for (int d = 0; d < 8; d++)
        out[d] = 0;
    for (int i = 0; i < n; i++) {
        if (tokens[i] == 255) {
            snprintf(err, errlen, "token 255 refused");
            return GEN_ERR_REQUEST;
        }
        out[tokens[i] % 8] += 1;
    }
    for (int d = 0; d < 8; d++)
        norm += out[d] * out[d];
    for (int d = 0; d < 8; d++)
        out[d] /= sqrtf(norm);
    return GEN_OK;
}

static const struct api_backend fake_backend = {
    .status = fake_status_fn,
    .error = fake_error,
    .info = fake_info,
    .tokenize = fake_tokenize,
    .piece = fake_piece,
    .chat = fake_chat,
    .params_default = gen_params_default,
    .gen_start = fake_gen_start,
    .gen_run = fake_gen_run,
    .gen_stats = fake_gen_stats,
    .gen_free = fake_gen_free,
    .embed = fake_embed,
};

const struct api_backend *harness_backend(const char *model) {
    return &fake_backend;
}

void harness_set_status(int status) {
    fake_status = status;
}
