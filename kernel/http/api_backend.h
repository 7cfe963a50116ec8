/*
 * The model behind the HTTP API, as an ops table: what the handlers in api.c and
 * api_gen.c need from the tokenizer, the chat templates and the generator. The
 * kernel registers api_llm.c (over llm.h, tokenizer.h, chat.h, generate.h and the
 * generation scheduler, sched.h); host tests register a small deterministic fake, so
 * routing, streaming and limits are tested without a model.
 *
 * A generation's life: gen_start creates it (the caller owns the handle from then
 * on), gen_run hands it to the backend's scheduler, which advances it outside the
 * API's calls (the poll loop's gen_poll) and reports through the sink: output for each
 * step's text, done last. gen_free ends it at any time (running or done) and frees it.
 */
#ifndef CLLM_HTTP_API_BACKEND_H
#define CLLM_HTTP_API_BACKEND_H

#include "llm/chat.h"
#include "llm/generate.h"
#include "llm/sched.h"
#include "types.h"

enum api_model_status {
    API_MODEL_NONE = 0,    /* no model given: /health answers 503 */
    API_MODEL_LOADING = 1, /* not ready yet: 503 "Loading model" */
    API_MODEL_READY = 2,
    API_MODEL_ERROR = 3, /* a model was given but refused: 503 with the reason */
};

struct api_model_info {
    const char *name;          /* model id reported by /v1/models */
    const char *arch;          /* e.g. "llama" */
    const char *chat_template; /* template name in use, e.g. "chatml" */
    int n_vocab;
    int n_ctx_train;
    int n_ctx; /* context positions a request may use */
    int n_embd;
    int n_layer;
    int n_head;
    uint64_t n_params;
    uint64_t size_bytes; /* bytes of the weights */
    bool demo;           /* the bundled demonstration model (llm.h LLM_DEMO_NAME) */
};

/* Counters of one generation, for usage and timings. */
struct api_gen_stats {
    int n_prompt; /* prompt tokens */
    int n_gen;    /* sampled tokens */
    int n_eval;   /* positions evaluated */
    enum gen_finish finish;
    uint64_t t_prompt_us;
    uint64_t t_gen_us;
    uint64_t t_grammar_us; /* part of t_gen_us spent checking tokens against a grammar */
    int n_masked;          /* tokens drawn again under the grammar's whole-vocabulary mask */
    int n_cached;          /* prompt tokens taken from the prefix cache, not evaluated */
    struct gen_cycles cyc; /* time by phase, port_cycles(); network is the API's (api_task.c) */
};

struct api_backend {
    int (*status)(void);        /* enum api_model_status */
    const char *(*error)(void); /* why status is ERROR ("" otherwise) */
    void (*info)(struct api_model_info *out);
    /* Tokens of text (special: control-token text becomes those tokens); count or < 0. */
    int (*tokenize)(const char *text, size_t len, bool add_bos, bool special, int *out, int max);
    /* Bytes of `token` after `prev` (-1 for none); count or < 0 for an unknown id. */
    int (*piece)(int prev, int token, char *out, size_t cap);
    /* The prompt for a chat, in the model's template; snprintf-like return. */
    size_t (*chat)(const struct chat_message *msgs, size_t n, char *out, size_t cap);
    void (*params_default)(struct gen_params *p);
    /* A new generation; NULL when it cannot start, with the reason in *why (the
     * request's fault, or the server's condition such as no memory) and a message in
     * err. */
    void *(*gen_start)(const int *prompt, int n, const struct gen_params *p, enum gen_err *why,
                       char *err, size_t errlen);
    /* Start advancing g; its text goes to sink (ctx is passed back) until done. 0, or
     * -1 when the scheduler has no room (nothing changed: the caller still frees g). */
    int (*gen_run)(void *g, const struct sched_sink *sink, void *ctx);
    /* g (started, not yet run) takes the prompt's evaluation from first, a generation
     * of the same prompt run before it (n > 1 choices); both are freed together. 0, or
     * -1 when they cannot share (g then evaluates the prompt itself). NULL: no sharing. */
    int (*gen_share)(void *g, void *first);
    void (*gen_stats)(void *g, struct api_gen_stats *st);
    void (*gen_free)(void *g); /* stops g if it runs; then the sink is not called again */
    /* The embedding of tokens[0..n) into out (n_embd floats): the mean of the last hidden
     * states, normalized. GEN_OK, or why not with a message in err. */
    enum gen_err (*embed)(const int *tokens, int n, float *out, char *err, size_t errlen);
};

/* The kernel's backend over the loaded model (api_llm.c). */
extern const struct api_backend api_llm_backend;

#endif
