/*
 * API routing and the small endpoints: /health, /v1/models, /props, /slots,
 * /metrics, /tokenize, /detokenize; the API-key check; the request counters behind
 * /metrics and the sources of its other lines; api_app, the ops the server calls.
 * The generation endpoints are in api_gen.c. The server hands it each parsed request;
 * it answers through the response writer (http_resp.c).
 */
#include "http/api.h"
#include "http/conn.h"
#include "http/json.h"
#include "http/server.h"
#include "http/web.h"
#ifndef CLLM_HOST
#include "memlayout.h"
#include "mm.h"
#endif

/* What /v1/models says of the bundled demonstration model. */
#define API_DEMO_DESCRIPTION                                                                       \
    "the bundled demonstration model (about 1 M parameters, trained by cllm on the King "          \
    "James Bible): it continues text in the style of that book; it is not an assistant"

static const struct api_backend *api_backend;
/* Longest API key accepted, bytes (`cllm run --api-key` checks the same bound). A longer
 * one is never cut short: api_configure refuses it and every request answers 503. */
#define API_KEY_MAX 255
static char api_key[API_KEY_MAX + 1];
static bool api_key_refused;

struct api_metric {
    const char *route;
    int status;
    uint64_t count;
};

#define API_METRICS_MAX 64
static struct api_metric api_metrics[API_METRICS_MAX];
static uint64_t api_prompt_tokens, api_gen_tokens, api_prompt_us, api_gen_us;
static struct gen_cycles api_cycles; /* finished generations' phases but network */

#define API_METRICS_SOURCES 4
static size_t (*api_metrics_sources[API_METRICS_SOURCES])(char *buf, size_t cap);

const struct http_app api_app = {
    .handle = api_handle,
    .conn_gone = api_task_free,
    .responded = api_metrics_record,
};

void api_configure(const struct api_backend *backend, const char *key) {
    api_backend = backend;
    size_t n = key ? strlen(key) : 0;
    api_key_refused = n > API_KEY_MAX;
    if (api_key_refused) {
        port_log("api: error: cllm.api_key is %u bytes, longer than the %d accepted: every "
                 "request is refused (503) until it is shortened",
                 (unsigned)n, API_KEY_MAX);
        n = 0;
    }
    memcpy(api_key, key ? key : "", n);
    api_key[n] = '\0';
    if (api_key[0])
        port_log("api: api key required");
}

void api_metrics_add_source(size_t (*format)(char *buf, size_t cap)) {
    for (size_t i = 0; i < API_METRICS_SOURCES; i++) {
        if (!api_metrics_sources[i]) {
            api_metrics_sources[i] = format;
            return;
        }
    }
}

const struct api_backend *api_backend_get(void) {
    return api_backend;
}

void api_metrics_record(const char *route, int status) {
    if (!route)
        route = "other";
    for (size_t i = 0; i < API_METRICS_MAX; i++) {
        struct api_metric *m = &api_metrics[i];
        if (!m->route) {
            m->route = route;
            m->status = status;
        }
        if (m->status == status && strcmp(m->route, route) == 0) {
            m->count++;
            return;
        }
    }
}

void api_metrics_tokens(int n_prompt, int n_gen, uint64_t t_prompt_us, uint64_t t_gen_us) {
    api_prompt_tokens += (uint64_t)(n_prompt > 0 ? n_prompt : 0);
    api_gen_tokens += (uint64_t)(n_gen > 0 ? n_gen : 0);
    api_prompt_us += t_prompt_us;
    api_gen_us += t_gen_us;
}

const char *const api_phase_names[API_N_PHASES] = {"queue", "prompt", "decode", "sampling",
                                                   "network"};

void api_phase_values(const struct gen_cycles *c, uint64_t out[API_N_PHASES]) {
    out[0] = c->queue;
    out[1] = c->prompt;
    out[2] = c->decode;
    out[3] = c->sampling;
    out[4] = c->network;
}

void api_metrics_phases(const struct gen_cycles *cyc) {
    api_cycles.queue += cyc->queue;
    api_cycles.prompt += cyc->prompt;
    api_cycles.decode += cyc->decode;
    api_cycles.sampling += cyc->sampling;
}

/* The phases of every finished generation, in cycles and seconds; network is the
 * server's whole time handing responses to TCP. */
static void api_metrics_put_phases(struct hbuf *b) {
    struct gen_cycles c = api_cycles;
    c.network = http_server_sent_cycles();
    uint64_t v[API_N_PHASES], hz = port_cycles_hz();
    api_phase_values(&c, v);
    hbuf_printf(b,
                "# HELP cllm_cycles_per_second Rate of the cycle counter of the phases (the "
                "TSC).\n# TYPE cllm_cycles_per_second gauge\ncllm_cycles_per_second %llu\n"
                "# HELP cllm_phase_cycles_total Cycles of generation requests by phase: queue, "
                "prompt, decode, sampling, network (every response written through TCP).\n"
                "# TYPE cllm_phase_cycles_total counter\n",
                (unsigned long long)hz);
    for (int i = 0; i < API_N_PHASES; i++)
        hbuf_printf(b, "cllm_phase_cycles_total{phase=\"%s\"} %llu\n", api_phase_names[i],
                    (unsigned long long)v[i]);
    hbuf_puts(b, "# HELP cllm_phase_seconds_total The phases in seconds.\n"
                 "# TYPE cllm_phase_seconds_total counter\n");
    for (int i = 0; i < API_N_PHASES; i++) {
        hbuf_printf(b, "cllm_phase_seconds_total{phase=\"%s\"} ", api_phase_names[i]);
        api_put_double(b, (double)(int64_t)v[i] / (double)(int64_t)hz);
        hbuf_puts(b, "\n");
    }
}

uint64_t api_created(void) {
    uint64_t t = port_unix_time();
    return t ? t : port_time_us() / 1000000u;
}

void api_put_double(struct hbuf *b, double v) {
    struct json_writer w;
    json_write_init(&w, b);
    json_write_double(&w, v);
}

void api_respond_json(struct http_conn *c, int status, struct hbuf *b) {
    if (b->failed)
        http_respond_error(c, 500, "out of memory building the response");
    else
        http_respond(c, status, "application/json; charset=utf-8", b->data, b->len, NULL);
}

/* 503 unless the model is ready; true when it is. */
static bool api_require_model(struct http_conn *c) {
    const struct api_backend *b = api_backend;
    int st = b ? b->status() : API_MODEL_NONE;
    if (st == API_MODEL_READY)
        return true;
    char msg[200];
    if (st == API_MODEL_LOADING)
        snprintf(msg, sizeof(msg), "Loading model");
    else if (st == API_MODEL_ERROR)
        snprintf(msg, sizeof(msg), "Model failed to load: %s", b->error());
    else
        snprintf(msg, sizeof(msg), "No model loaded");
    http_respond_error(c, 503, msg);
    return false;
}

static void api_health(struct http_conn *c, const struct http_request *req) {
    if (!api_require_model(c))
        return;
    static const char ok[] = "{\"status\":\"ok\"}";
    http_respond(c, 200, "application/json; charset=utf-8", ok, sizeof(ok) - 1, NULL);
}

static void api_write_meta(struct json_writer *w, const struct api_model_info *mi) {
    json_write_key(w, "n_vocab");
    json_write_int(w, mi->n_vocab);
    json_write_key(w, "n_ctx_train");
    json_write_int(w, mi->n_ctx_train);
    json_write_key(w, "n_embd");
    json_write_int(w, mi->n_embd);
    json_write_key(w, "n_params");
    json_write_int(w, (int64_t)mi->n_params);
    json_write_key(w, "size");
    json_write_int(w, (int64_t)mi->size_bytes);
}

static void api_models(struct http_conn *c, const struct http_request *req) {
    if (!api_require_model(c))
        return;
    struct api_model_info mi;
    api_backend->info(&mi);
    struct hbuf b;
    struct json_writer w;
    hbuf_init(&b);
    json_write_init(&w, &b);
    json_write_object_begin(&w);
    json_write_key(&w, "object");
    json_write_string(&w, "list");
    json_write_key(&w, "data");
    json_write_array_begin(&w);
    json_write_object_begin(&w);
    json_write_key(&w, "id");
    json_write_string(&w, mi.name);
    json_write_key(&w, "object");
    json_write_string(&w, "model");
    json_write_key(&w, "created");
    json_write_int(&w, (int64_t)api_created());
    json_write_key(&w, "owned_by");
    json_write_string(&w, "cllm");
    if (mi.demo) {
        json_write_key(&w, "demo");
        json_write_bool(&w, true);
        json_write_key(&w, "description");
        json_write_string(&w, API_DEMO_DESCRIPTION);
    }
    json_write_key(&w, "meta");
    json_write_object_begin(&w);
    api_write_meta(&w, &mi);
    json_write_object_end(&w);
    json_write_object_end(&w);
    json_write_array_end(&w);
    json_write_object_end(&w);
    api_respond_json(c, 200, &b);
    hbuf_free(&b);
}

static void api_props(struct http_conn *c, const struct http_request *req) {
    const struct api_backend *be = api_backend;
    bool ready = be && be->status() == API_MODEL_READY;
    struct hbuf b;
    struct json_writer w;
    hbuf_init(&b);
    json_write_init(&w, &b);
    json_write_object_begin(&w);
    json_write_key(&w, "total_slots");
    json_write_int(&w, API_MAX_SLOTS);
    json_write_key(&w, "build_info");
    json_write_string(&w, "cllm");
    if (ready) {
        struct api_model_info mi;
        struct gen_params gp;
        be->info(&mi);
        be->params_default(&gp);
        json_write_key(&w, "model_path");
        json_write_string(&w, mi.name);
        json_write_key(&w, "chat_template");
        json_write_string(&w, mi.chat_template);
        json_write_key(&w, "default_generation_settings");
        json_write_object_begin(&w);
        json_write_key(&w, "n_ctx");
        json_write_int(&w, mi.n_ctx);
        json_write_key(&w, "n_predict");
        json_write_int(&w, gp.n_predict);
        json_write_key(&w, "temperature");
        json_write_double(&w, gp.sample.temperature);
        json_write_key(&w, "top_k");
        json_write_int(&w, gp.sample.top_k);
        json_write_key(&w, "top_p");
        json_write_double(&w, gp.sample.top_p);
        json_write_key(&w, "min_p");
        json_write_double(&w, gp.sample.min_p);
        json_write_key(&w, "repeat_penalty");
        json_write_double(&w, gp.sample.repeat_penalty);
        json_write_key(&w, "repeat_last_n");
        json_write_int(&w, gp.sample.repeat_last_n);
        json_write_key(&w, "presence_penalty");
        json_write_double(&w, gp.sample.presence_penalty);
        json_write_key(&w, "frequency_penalty");
        json_write_double(&w, gp.sample.frequency_penalty);
        json_write_object_end(&w);
        json_write_key(&w, "meta");
        json_write_object_begin(&w);
        api_write_meta(&w, &mi);
        json_write_object_end(&w);
    } else {
        json_write_key(&w, "model_path");
        json_write_null(&w);
    }
    json_write_object_end(&w);
    api_respond_json(c, 200, &b);
    hbuf_free(&b);
}

static void api_slots(struct http_conn *c, const struct http_request *req) {
    struct hbuf b;
    struct json_writer w;
    hbuf_init(&b);
    json_write_init(&w, &b);
    int active = api_tasks_active();
    json_write_array_begin(&w);
    for (int i = 0; i < API_MAX_SLOTS; i++) {
        json_write_object_begin(&w);
        json_write_key(&w, "id");
        json_write_int(&w, i);
        json_write_key(&w, "is_processing");
        json_write_bool(&w, i < active);
        json_write_object_end(&w);
    }
    json_write_array_end(&w);
    api_respond_json(c, 200, &b);
    hbuf_free(&b);
}

static void api_metrics_handler(struct http_conn *c, const struct http_request *req) {
#ifndef CLLM_HOST
    /* Read before this response's own buffers exist, so an idle server always reports
     * the same heap (tests compare it to find leaks). */
    unsigned long long heap_bytes = heap_bytes_in_use();
    unsigned long long free_bytes = (unsigned long long)page_count(PAGE_OWNER_FREE) * PAGE_SIZE;
    static struct mem_table mem; /* static: the poll loop's stack is small */
    mem_table_read(&mem, bootinfo_get());
#endif
    struct hbuf b;
    hbuf_init(&b);
    hbuf_puts(&b, "# HELP cllm_requests_total HTTP responses by route and status.\n"
                  "# TYPE cllm_requests_total counter\n");
    for (size_t i = 0; i < API_METRICS_MAX && api_metrics[i].route; i++)
        hbuf_printf(&b, "cllm_requests_total{path=\"%s\",status=\"%d\"} %llu\n",
                    api_metrics[i].route, api_metrics[i].status,
                    (unsigned long long)api_metrics[i].count);
    hbuf_printf(&b,
                "# HELP cllm_prompt_tokens_total Prompt tokens processed.\n"
                "# TYPE cllm_prompt_tokens_total counter\n"
                "cllm_prompt_tokens_total %llu\n"
                "# HELP cllm_tokens_predicted_total Tokens generated.\n"
                "# TYPE cllm_tokens_predicted_total counter\n"
                "cllm_tokens_predicted_total %llu\n",
                (unsigned long long)api_prompt_tokens, (unsigned long long)api_gen_tokens);
    hbuf_puts(&b, "# HELP cllm_prompt_seconds_total Time spent on prompts.\n"
                  "# TYPE cllm_prompt_seconds_total counter\ncllm_prompt_seconds_total ");
    api_put_double(&b, (double)(int64_t)api_prompt_us / 1e6);
    hbuf_puts(&b, "\n# HELP cllm_tokens_predicted_seconds_total Time spent generating.\n"
                  "# TYPE cllm_tokens_predicted_seconds_total counter\n"
                  "cllm_tokens_predicted_seconds_total ");
    api_put_double(&b, (double)(int64_t)api_gen_us / 1e6);
    hbuf_printf(&b,
                "\n# HELP cllm_requests_processing Generations in progress.\n"
                "# TYPE cllm_requests_processing gauge\ncllm_requests_processing %d\n"
                "# HELP cllm_http_connections Open HTTP connections.\n"
                "# TYPE cllm_http_connections gauge\ncllm_http_connections %u\n"
                "# HELP cllm_http_connections_evicted_total Idle or unfinished connections "
                "reset to admit newer ones.\n"
                "# TYPE cllm_http_connections_evicted_total counter\n"
                "cllm_http_connections_evicted_total %llu\n",
                api_tasks_active(), (unsigned)http_server_n_conns(),
                (unsigned long long)http_server_n_evicted());
    api_metrics_put_phases(&b);
#ifndef CLLM_HOST
    hbuf_printf(&b,
                "# HELP cllm_memory_heap_bytes Heap bytes in use.\n"
                "# TYPE cllm_memory_heap_bytes gauge\ncllm_memory_heap_bytes %llu\n"
                "# HELP cllm_memory_free_bytes RAM not held by any owner.\n"
                "# TYPE cllm_memory_free_bytes gauge\ncllm_memory_free_bytes %llu\n",
                heap_bytes, free_bytes);
    size_t mem_len = mem_table_format(&mem, NULL, 0);
    char *mem_text = port_alloc(mem_len + 1);
    if (mem_text) {
        mem_table_format(&mem, mem_text, mem_len + 1);
        hbuf_append(&b, mem_text, mem_len);
    } else {
        b.failed = true;
    }
    port_free(mem_text);
#endif
    /* On the heap: the poll loop's stack is small. */
    size_t cap = API_NET_STATS_BYTES;
    char *tmp = api_metrics_sources[0] ? port_alloc(cap) : NULL;
    for (size_t i = 0; tmp && i < API_METRICS_SOURCES && api_metrics_sources[i]; i++) {
        size_t n = api_metrics_sources[i](tmp, cap);
        hbuf_append(&b, tmp, MIN(n, cap - 1));
    }
    port_free(tmp);
    if (b.failed)
        http_respond_error(c, 500, "out of memory building the response");
    else
        http_respond(c, 200, "text/plain; version=0.0.4", b.data, b.len, NULL);
    hbuf_free(&b);
}

bool api_body_object(struct http_conn *c, const struct http_request *req, struct json_doc *doc) {
    if (json_parse(doc, req->body, req->body_len) != 0) {
        char msg[160];
        snprintf(msg, sizeof(msg), "invalid JSON body: %s", doc->err);
        json_doc_free(doc);
        http_respond_error(c, 400, msg);
        return false;
    }
    if (doc->root->type != JSON_OBJECT) {
        json_doc_free(doc);
        http_respond_error(c, 400, "request body must be a JSON object");
        return false;
    }
    return true;
}

static void api_tokenize(struct http_conn *c, const struct http_request *req) {
    if (!api_require_model(c))
        return;
    struct json_doc doc;
    if (!api_body_object(c, req, &doc))
        return;
    const struct json_value *content = json_get(doc.root, "content");
    const struct json_value *add = json_get(doc.root, "add_special");
    const struct json_value *special = json_get(doc.root, "parse_special");
    const char *bad = NULL;
    if (!content || content->type != JSON_STRING)
        bad = "field 'content': expected a string";
    else if (add && add->type != JSON_BOOL)
        bad = "field 'add_special': expected a boolean";
    else if (special && special->type != JSON_BOOL)
        bad = "field 'parse_special': expected a boolean";
    if (bad) {
        json_doc_free(&doc);
        http_respond_error(c, 400, bad);
        return;
    }
    size_t max = content->u.str.len + 8;
    int *toks = max <= API_MAX_TOKENS ? port_alloc(max * sizeof(int)) : NULL;
    int n = -1;
    if (toks)
        n = api_backend->tokenize(content->u.str.s, content->u.str.len, add && add->boolean,
                                  !special || special->boolean, toks, (int)max);
    json_doc_free(&doc);
    if (n < 0) {
        bool too_long = toks == NULL;
        port_free(toks);
        http_respond_error(c, too_long ? 413 : 500,
                           too_long ? "field 'content': too long" : "tokenizer failed");
        return;
    }
    struct hbuf b;
    struct json_writer w;
    hbuf_init(&b);
    json_write_init(&w, &b);
    json_write_object_begin(&w);
    json_write_key(&w, "tokens");
    json_write_array_begin(&w);
    for (int i = 0; i < n; i++)
        json_write_int(&w, toks[i]);
    json_write_array_end(&w);
    json_write_object_end(&w);
    port_free(toks);
    api_respond_json(c, 200, &b);
    hbuf_free(&b);
}

static void api_detokenize(struct http_conn *c, const struct http_request *req) {
    if (!api_require_model(c))
        return;
    struct json_doc doc;
    if (!api_body_object(c, req, &doc))
        return;
    const struct json_value *toks = json_get(doc.root, "tokens");
    char msg[128];
    if (!toks || toks->type != JSON_ARRAY) {
        json_doc_free(&doc);
        http_respond_error(c, 400, "field 'tokens': expected an array of token ids");
        return;
    }
    struct api_model_info mi;
    api_backend->info(&mi);
    struct hbuf text;
    hbuf_init(&text);
    int prev = -1;
    size_t i = 0;
    for (const struct json_value *t = toks->u.list.first; t; t = t->next, i++) {
        if (t->type != JSON_NUMBER || !t->is_int || t->u.num < 0 || t->u.num >= mi.n_vocab) {
            snprintf(msg, sizeof(msg), "field 'tokens[%u]': expected a token id in 0..%d",
                     (unsigned)i, mi.n_vocab - 1);
            json_doc_free(&doc);
            hbuf_free(&text);
            http_respond_error(c, 400, msg);
            return;
        }
        char piece[256];
        int tok = (int)t->u.num;
        int n = api_backend->piece(prev, tok, piece, sizeof(piece));
        if (n > 0)
            hbuf_append(&text, piece, (size_t)n);
        prev = tok;
    }
    json_doc_free(&doc);
    struct hbuf b;
    struct json_writer w;
    hbuf_init(&b);
    json_write_init(&w, &b);
    json_write_object_begin(&w);
    json_write_key(&w, "content");
    json_write_stringn(&w, text.data ? text.data : "", text.len);
    json_write_object_end(&w);
    hbuf_free(&text);
    api_respond_json(c, 200, &b);
    hbuf_free(&b);
}

static void api_completions(struct http_conn *c, const struct http_request *req) {
    if (api_require_model(c))
        api_gen_handle(c, req, API_KIND_COMPLETION);
}

static void api_chat(struct http_conn *c, const struct http_request *req) {
    if (api_require_model(c))
        api_gen_handle(c, req, API_KIND_CHAT);
}

static void api_native(struct http_conn *c, const struct http_request *req) {
    if (api_require_model(c))
        api_gen_handle(c, req, API_KIND_NATIVE);
}

static void api_embeddings(struct http_conn *c, const struct http_request *req) {
    if (api_require_model(c))
        api_embed_handle(c, req, true);
}

static void api_embedding(struct http_conn *c, const struct http_request *req) {
    if (api_require_model(c))
        api_embed_handle(c, req, false);
}

struct api_route {
    const char *method;
    const char *path;
    void (*fn)(struct http_conn *c, const struct http_request *req);
    bool open; /* answered without the API key */
};

static const struct api_route api_routes[] = {
    {"GET", "/", web_page_handle, true},
    {"GET", "/health", api_health, true},
    {"GET", "/v1/health", api_health, true},
    {"GET", "/v1/models", api_models, false},
    {"GET", "/models", api_models, false},
    {"GET", "/props", api_props, false},
    {"GET", "/slots", api_slots, false},
    {"GET", "/metrics", api_metrics_handler, false},
    {"POST", "/v1/completions", api_completions, false},
    {"POST", "/completions", api_completions, false},
    {"POST", "/v1/chat/completions", api_chat, false},
    {"POST", "/chat/completions", api_chat, false},
    {"POST", "/completion", api_native, false},
    {"POST", "/tokenize", api_tokenize, false},
    {"POST", "/detokenize", api_detokenize, false},
    {"POST", "/v1/embeddings", api_embeddings, false},
    {"POST", "/embeddings", api_embeddings, false},
    {"POST", "/embedding", api_embedding, false},
};

/* Constant-time comparison of the presented key with the configured one. */
static bool api_key_matches(const char *given) {
    size_t n = strlen(api_key);
    size_t g = strlen(given);
    unsigned diff = (unsigned)(n ^ g);
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned)(api_key[i] ^ (i < g ? given[i] : 0));
    return diff == 0;
}

static bool api_authorized(const struct http_request *req) {
    if (api_key_refused)
        return false;
    if (!api_key[0])
        return true;
    const char *auth = http_header_get(req, "Authorization");
    if (auth && strncmp(auth, "Bearer ", 7) == 0) {
        const char *k = auth + 7;
        while (*k == ' ')
            k++;
        return api_key_matches(k);
    }
    const char *x = http_header_get(req, "X-Api-Key");
    return x && api_key_matches(x);
}

void api_handle(struct http_conn *c, const struct http_request *req) {
    const struct api_route *path_match = NULL;
    if (api_key_refused) { /* closed, not open: the configured key could not be kept */
        char msg[128];
        snprintf(msg, sizeof(msg),
                 "the API key (cllm.api_key) is longer than %d bytes; every request is refused "
                 "until it is shortened",
                 API_KEY_MAX);
        c->route = "other";
        http_respond_error(c, 503, msg);
        return;
    }
    for (size_t i = 0; i < ARRAY_SIZE(api_routes); i++) {
        const struct api_route *r = &api_routes[i];
        if (strcmp(r->path, req->path) != 0)
            continue;
        path_match = r;
        /* HEAD is GET without the body (http_respond leaves it out). */
        if (strcmp(r->method, req->method) != 0 &&
            !(strcmp(req->method, "HEAD") == 0 && strcmp(r->method, "GET") == 0))
            continue;
        c->route = r->path;
        if (!r->open && !api_authorized(req)) {
            http_respond_error(c, 401, "Invalid API Key");
            return;
        }
        r->fn(c, req);
        return;
    }
    c->route = path_match ? path_match->path : "other";
    if (path_match && strcmp(req->method, "OPTIONS") == 0) {
        /* CORS preflight of a browser client: answered without the key, as llama.cpp does. */
        char allow[160];
        snprintf(allow, sizeof(allow),
                 "Allow: %s, OPTIONS\r\nAccess-Control-Allow-Methods: %s, OPTIONS\r\n"
                 "Access-Control-Allow-Headers: Content-Type, Authorization, X-Api-Key\r\n",
                 path_match->method, path_match->method);
        http_respond(c, 204, NULL, "", 0, allow);
        return;
    }
    if (!path_match) {
        if (!api_authorized(req)) {
            http_respond_error(c, 401, "Invalid API Key");
            return;
        }
        char msg[160];
        snprintf(msg, sizeof(msg), "File Not Found: %.100s", req->path);
        http_respond_error(c, 404, msg);
        return;
    }
    char msg[96], allow[48];
    snprintf(msg, sizeof(msg), "method %.16s not allowed; use %s", req->method, path_match->method);
    snprintf(allow, sizeof(allow), "Allow: %s%s\r\n", path_match->method,
             strcmp(path_match->method, "GET") == 0 ? ", HEAD" : "");
    c->route = path_match->path;
    /* The error body, with an Allow header naming the method the path takes. */
    http_respond_error_headers(c, 405, msg, allow);
}
