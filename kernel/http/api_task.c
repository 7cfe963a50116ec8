/*
 * The life cycle of a generation request (api_task.h): api_gen.c builds the task and
 * api_task_run hands its generation to the backend's scheduler with the task as the
 * sink. The scheduler steps it while the connection has room for more output
 * (api_task_ready); each step's text is streamed as an event or kept for the whole
 * answer (api_task_output); when the generation is done the task writes the answer in
 * its kind's format (api_oai.c, api_native.c) and frees itself (api_task_done). A
 * connection that goes away first frees it through api_task_free (api_app.conn_gone).
 */
#include "http/api_task.h"
#include "http/conn.h"

static int api_active;
static unsigned api_next_id;
static const struct sched_sink api_task_sink;
static void api_stream_piece(struct http_conn *c, struct api_task *t, const char *text,
                             size_t len);

int api_tasks_active(void) {
    return api_active;
}

static const struct api_format *api_task_format(const struct api_task *t) {
    return t->kind == API_KIND_NATIVE ? &api_format_native : &api_format_oai;
}

void api_task_run(struct http_conn *c, struct api_task *t) {
    const struct api_backend *be = api_backend_get();
    t->id = ++api_next_id;
    t->created = api_created();
    t->conn = c;
    if (be->gen_run(t->gen, &api_task_sink, t) != 0) {
        be->gen_free(t->gen);
        hbuf_free(&t->text);
        port_free(t);
        http_respond_error(c, 503, "all generation slots are busy; retry later");
        return;
    }
    api_active++;
    c->app_state = t;
    c->busy = true;
    if (t->stream) {
        http_stream_begin(c, 200, "text/event-stream");
        if (t->text.len) { /* the echoed prompt, the stream's first event */
            api_stream_piece(c, t, t->text.data, t->text.len);
            hbuf_reset(&t->text);
        }
    }
}

void api_task_free(struct http_conn *c) {
    struct api_task *t = c->app_state;
    if (!t)
        return;
    api_backend_get()->gen_free(t->gen);
    hbuf_free(&t->text);
    port_free(t->probs);
    port_free(t);
    c->app_state = NULL;
    api_active--;
}

/* Streaming: one event carrying text[0..len). */
static void api_stream_piece(struct http_conn *c, struct api_task *t, const char *text,
                             size_t len) {
    struct hbuf b;
    struct json_writer w;
    hbuf_init(&b);
    json_write_init(&w, &b);
    json_write_object_begin(&w);
    api_task_format(t)->piece(&w, t, text, len);
    json_write_object_end(&w);
    if (!b.failed)
        http_stream_sse(c, b.data, b.len);
    hbuf_free(&b);
}

static void api_finish_stream(struct http_conn *c, struct api_task *t,
                              const struct api_gen_stats *st) {
    const struct api_format *fmt = api_task_format(t);
    struct hbuf b;
    struct json_writer w;
    hbuf_init(&b);
    json_write_init(&w, &b);
    json_write_object_begin(&w);
    fmt->last(&w, t, st);
    json_write_object_end(&w);
    http_stream_sse(c, b.data, b.len);
    hbuf_free(&b);
    if (fmt->after_last)
        fmt->after_last(c, t, st);
    http_stream_end(c);
}

static void api_finish_whole(struct http_conn *c, struct api_task *t,
                             const struct api_gen_stats *st) {
    if (st->finish == GEN_FINISH_ERROR) {
        http_respond_error(c, 500, "generation failed in the forward pass");
        return;
    }
    struct hbuf b;
    struct json_writer w;
    hbuf_init(&b);
    json_write_init(&w, &b);
    json_write_object_begin(&w);
    api_task_format(t)->whole(&w, t, st);
    json_write_object_end(&w);
    if (b.failed || t->text.failed)
        http_respond_error(c, 500, "out of memory building the response");
    else
        http_respond(c, 200, "application/json; charset=utf-8", b.data, b.len, NULL);
    hbuf_free(&b);
}

/* The sink: a step only while the client keeps up with the output. */
static bool api_task_ready(void *ctx) {
    const struct api_task *t = ctx;
    return http_conn_unsent(t->conn) < HTTP_OUT_HIGH_WATER;
}

void api_task_probs_sent(struct api_task *t, int to) {
    t->probs_sent = to;
}

void api_write_token(struct json_writer *w, int prev, const struct gen_prob *p, bool with_id) {
    char piece[API_PIECE_MAX];
    int n = api_backend_get()->piece(prev, p->id, piece, sizeof(piece));
    n = n < 0 ? 0 : MIN(n, (int)sizeof(piece));
    if (with_id) {
        json_write_key(w, "id");
        json_write_int(w, p->id);
    }
    json_write_key(w, "token");
    json_write_stringn(w, piece, (size_t)n);
    json_write_key(w, "logprob");
    json_write_double(w, p->logprob);
    json_write_key(w, "bytes");
    json_write_array_begin(w);
    for (int i = 0; i < n; i++)
        json_write_int(w, (uint8_t)piece[i]);
    json_write_array_end(w);
}

void api_write_prob(struct json_writer *w, const struct api_prob *p, bool with_id) {
    json_write_object_begin(w);
    api_write_token(w, p->prev, &p->tok, with_id);
    json_write_key(w, "top_logprobs");
    json_write_array_begin(w);
    for (int k = 0; k < p->n_top; k++) {
        json_write_object_begin(w);
        api_write_token(w, p->prev, &p->top[k], with_id);
        json_write_object_end(w);
    }
    json_write_array_end(w);
    json_write_object_end(w);
}

/* Keep the log probabilities of the step's token; false when out of memory. */
static bool api_task_keep_prob(struct api_task *t, const struct gen_output *out) {
    if (t->n_probs == t->cap_probs) {
        int cap = t->cap_probs ? 2 * t->cap_probs : 64;
        struct api_prob *p = port_alloc((size_t)cap * sizeof(*p));
        if (!p)
            return false;
        if (t->n_probs)
            memcpy(p, t->probs, (size_t)t->n_probs * sizeof(*p));
        port_free(t->probs);
        t->probs = p;
        t->cap_probs = cap;
    }
    struct api_prob *p = &t->probs[t->n_probs++];
    p->prev = out->prev;
    p->offset = t->prob_bytes;
    p->tok = out->prob;
    p->n_top = out->n_top;
    memcpy(p->top, out->top, (size_t)out->n_top * sizeof(*p->top));
    char piece[API_PIECE_MAX];
    int n = api_backend_get()->piece(out->prev, out->prob.id, piece, sizeof(piece));
    t->prob_bytes += n > 0 ? (size_t)n : 0;
    return true;
}

static void api_task_output(void *ctx, const struct gen_output *out) {
    struct api_task *t = ctx;
    if (t->logprobs && out->has_prob && !api_task_keep_prob(t, out))
        t->text.failed = true; /* answered as out of memory */
    if (!out->len)
        return;
    if (t->stream)
        api_stream_piece(t->conn, t, out->text, out->len);
    else
        hbuf_append(&t->text, out->text, out->len);
}

static void api_task_done(void *ctx) {
    struct api_task *t = ctx;
    struct http_conn *c = t->conn;
    struct api_gen_stats st;
    api_backend_get()->gen_stats(t->gen, &st);
    if (st.finish == GEN_FINISH_NONE)
        st.finish = GEN_FINISH_ERROR;
    api_metrics_tokens(st.n_prompt, st.n_gen, st.t_prompt_us, st.t_gen_us);
    if (t->stream && t->probs_sent < t->n_probs)
        api_stream_piece(c, t, "", 0); /* the last tokens' probabilities (text held back) */
    if (t->stream)
        api_finish_stream(c, t, &st);
    else
        api_finish_whole(c, t, &st);
    api_task_free(c);
}

static const struct sched_sink api_task_sink = {
    .ready = api_task_ready,
    .output = api_task_output,
    .done = api_task_done,
};
