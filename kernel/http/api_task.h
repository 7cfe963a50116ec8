/*
 * A generation request in progress, internal to the API (kernel/http): the task the
 * generation endpoints (api_gen.c: validation, prompt, start) put on a connection,
 * its life cycle (api_task.c: it is the generation's sink, then it answers), and the
 * response formats that write the answer: api_oai.c (OpenAI completions and chat)
 * and api_native.c (llama.cpp's /completion), each as streamed events or one body.
 */
#ifndef CLLM_HTTP_API_TASK_H
#define CLLM_HTTP_API_TASK_H

#include "http/api.h"
#include "http/json.h"

#define API_PIECE_MAX 256 /* bytes of one token's text (the tokenizer's longest piece) */

/* One generated token's log probability and its alternatives, as the answer reports it. */
struct api_prob {
    int prev;      /* the token before it, for its text */
    size_t offset; /* bytes of the tokens' text before it */
    struct gen_prob tok;
    int n_top;
    struct gen_prob top[GEN_MAX_PROBS];
};

#define API_MAX_CHOICES 8 /* `n`: choices of one request, each a generation of its own */

/* One choice of the answer: a generation of its own, the sink's ctx. */
struct api_choice {
    struct api_task *task; /* the task it belongs to */
    int index;             /* "index" in the answer */
    void *gen;             /* backend generation, owned */
    bool done;
    enum gen_finish finish; /* once done */
    bool sent_role;         /* chat stream: the first delta carried the role */
    struct hbuf text;       /* generated text (non-streaming); first the echoed prompt */
    struct api_prob *probs; /* (cap_probs) owned: one per generated token */
    int n_probs, cap_probs;
    int probs_sent;    /* streaming: probs[0..probs_sent) went out in earlier events */
    size_t prob_bytes; /* bytes of the tokens' text so far (api_prob.offset) */
};

struct api_task {
    struct http_conn *conn; /* the connection answered */
    enum api_kind kind;
    bool stream;
    bool include_usage; /* stream_options.include_usage */
    bool logprobs;      /* the request asked for log probabilities */
    unsigned id;
    uint64_t created; /* Unix time; seconds since boot without a wall clock */
    uint64_t sent0;   /* the connection's sent_cycles when the task began (conn.h) */
    char model[96];
    int n_choices; /* 1..API_MAX_CHOICES */
    int n_done;
    struct api_choice choice[API_MAX_CHOICES];
};

/* api_task.c: t (port_alloc'd; kind, stream, include_usage, logprobs, model, and
 * n_choices choices with gen and text set: text holds the echoed prompt, or nothing)
 * takes over c: its generations start and, when streaming, the event stream's head is
 * written. When the backend has no room to run them, t is freed and c gets a 503. */
void api_task_run(struct http_conn *c, struct api_task *t);

/* One response format: the fields of each JSON object it answers with, written into
 * an object the caller opened. */
struct api_format {
    /* A streamed event of choice ch carrying text[0..len). */
    void (*piece)(struct json_writer *w, struct api_choice *ch, const char *text, size_t len);
    /* The last event of choice ch: why it finished, its timings (st: its own). */
    void (*last)(struct json_writer *w, const struct api_choice *ch,
                 const struct api_gen_stats *st);
    /* Events after every choice's last one, written on c (NULL: none); st sums the
     * choices (api_task.c). */
    void (*after_last)(struct http_conn *c, const struct api_task *t,
                       const struct api_gen_stats *st);
    /* The body of an answer that was not streamed (each choice's text), st summed. */
    void (*whole)(struct json_writer *w, const struct api_task *t, const struct api_gen_stats *st);
};

extern const struct api_format api_format_oai;    /* api_oai.c: completions and chat */
extern const struct api_format api_format_native; /* api_native.c: /completion */

/* api_task.c: probs[0..to) of ch went out; the streamed events call it. */
void api_task_probs_sent(struct api_choice *ch, int to);
/* api_task.c: "token" (the text, invalid UTF-8 replaced), "logprob" and "bytes" of p
 * after the token prev, with "id" first when with_id, into an open object. */
void api_write_token(struct json_writer *w, int prev, const struct gen_prob *p, bool with_id);
/* api_task.c: the object of p: its token (api_write_token) and "top_logprobs", a list of
 * such token objects (chat's and llama.cpp's shape). */
void api_write_prob(struct json_writer *w, const struct api_prob *p, bool with_id);

/* api_native.c: llama.cpp's "timings" object, which the OpenAI answers carry too. */
void api_write_timings(struct json_writer *w, const struct api_gen_stats *st);

#endif
