/*
 * The API (llama.cpp-shaped, OpenAI-compatible), the app the HTTP server hosts
 * (api_app, struct http_app in server.h): routing, API-key check, the small endpoints
 * and the request counters (api.c), the generation endpoints with their per-request
 * tasks (api_gen.c). main.c configures it (the model backend, the key, the extra
 * /metrics sources) and hands it to the server; the host test harness does the same
 * with a fake model. A generation's output arrives through the backend's scheduler
 * (a sched_sink per task), outside the server's calls.
 */
#ifndef CLLM_HTTP_API_H
#define CLLM_HTTP_API_H

#include "http/api_backend.h"
#include "http/hbuf.h"
#include "http/http_parse.h"
#include "http/server.h"

struct http_conn;

/* The app: handle = api_handle, conn_gone = api_task_free, responded =
 * api_metrics_record. */
extern const struct http_app api_app;

/* The model (NULL: none, every model endpoint answers 503) and the API key (NULL or
 * "": no authentication). */
void api_configure(const struct api_backend *backend, const char *api_key);
const struct api_backend *api_backend_get(void);

/* Answer one request: at once, or by starting a task (c->app_state, c->busy). The
 * request and its body are only valid during the call. */
void api_handle(struct http_conn *c, const struct http_request *req);
/* Drop the connection's task, if any: its generation stops (the connection is going
 * away, or the answer is complete). */
void api_task_free(struct http_conn *c);
/* Generations in progress. */
int api_tasks_active(void);

/* Metrics: one response sent for `route` (a static label; NULL counts as "other"). */
void api_metrics_record(const char *route, int status);
void api_metrics_tokens(int n_prompt, int n_gen, uint64_t t_prompt_us, uint64_t t_gen_us);
/* A request's phases, by name, in the order /metrics and "timings" list them. */
#define API_N_PHASES 5
extern const char *const api_phase_names[API_N_PHASES]; /* queue prompt decode sampling network */
/* The values of c in api_phase_names' order. */
void api_phase_values(const struct gen_cycles *c, uint64_t out[API_N_PHASES]);
/* Metrics: a finished generation's phases (its network phase is not added: /metrics
 * reports the server's whole time sending, http_server_sent_cycles). */
void api_metrics_phases(const struct gen_cycles *cyc);
/* The `created` field of answers: Unix time, or seconds since boot without a wall clock. */
uint64_t api_created(void);
/* Metrics: another subsystem's counters, appended to /metrics as Prometheus text.
 * format is snprintf-like (returns the length it needed, writes at most cap - 1
 * bytes and a NUL); main.c adds the scheduler's and the network stack's. At most
 * API_METRICS_SOURCES; more are ignored. */
void api_metrics_add_source(size_t (*format)(char *buf, size_t cap));

/* api_gen.c: POST bodies of the generation endpoints. */
enum api_kind {
    API_KIND_COMPLETION = 0, /* /v1/completions (OpenAI) */
    API_KIND_CHAT,           /* /v1/chat/completions (OpenAI) */
    API_KIND_NATIVE,         /* /completion (llama.cpp) */
};
void api_gen_handle(struct http_conn *c, const struct http_request *req, enum api_kind kind);

/* Parse the body as a JSON object into doc (the caller frees it); on failure answer 400
 * naming the byte offset and return false (nothing to free then). */
struct json_doc;
bool api_body_object(struct http_conn *c, const struct http_request *req, struct json_doc *doc);

/* Answer b as JSON with status (a 500 if building b ran out of memory). */
void api_respond_json(struct http_conn *c, int status, struct hbuf *b);

/* api_embed.c: POST /v1/embeddings (openai) and llama.cpp's /embedding. */
void api_embed_handle(struct http_conn *c, const struct http_request *req, bool openai);

/* A double as text (no %f in the kernel's printf). */
void api_put_double(struct hbuf *b, double v);

#endif
