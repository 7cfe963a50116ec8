/*
 * The API (llama.cpp-shaped, OpenAI-compatible) behind the HTTP server: routing,
 * API-key check, the small endpoints (api.c) and the generation endpoints with their
 * per-request tasks (api_gen.c). server.c calls api_handle for each parsed request
 * and api_task_step once per poll turn for a connection with an active generation.
 */
#ifndef CLLM_HTTP_API_H
#define CLLM_HTTP_API_H

#include "http/api_backend.h"
#include "http/hbuf.h"
#include "http/http_parse.h"

struct http_conn;

/* The model (NULL: none, every model endpoint answers 503) and the API key (NULL or
 * "": no authentication). */
void api_configure(const struct api_backend *backend, const char *api_key);
const struct api_backend *api_backend_get(void);

/* Answer one request: at once, or by starting a task (c->task, c->busy). The request
 * and its body are only valid during the call. */
void api_handle(struct http_conn *c, const struct http_request *req);
/* Advance the connection's task by one generation step (one token). */
void api_task_step(struct http_conn *c);
/* After a poll turn's steps: run the forward passes they left pending, batched. */
void api_tasks_flush(void);
/* Drop the connection's task, if any (the connection is going away). */
void api_task_free(struct http_conn *c);
/* Generations in progress. */
int api_tasks_active(void);

/* Metrics: one response sent for `route` (a static label; NULL counts as "other"). */
void api_metrics_record(const char *route, int status);
void api_metrics_tokens(int n_prompt, int n_gen, uint64_t t_prompt_us, uint64_t t_gen_us);
/* The `created` field of answers: Unix time, or seconds since boot without a wall clock. */
uint64_t api_created(void);
/* Metrics: one batched decode pass over `rows` generations. */
void api_metrics_batch(int rows);

/* api_gen.c: POST bodies of the generation endpoints. */
enum api_kind {
    API_KIND_COMPLETION = 0, /* /v1/completions (OpenAI) */
    API_KIND_CHAT,           /* /v1/chat/completions (OpenAI) */
    API_KIND_NATIVE,         /* /completion (llama.cpp) */
};
void api_gen_handle(struct http_conn *c, const struct http_request *req, enum api_kind kind);

/* A double as text (no %f in the kernel's printf). */
void api_put_double(struct hbuf *b, double v);

#endif
