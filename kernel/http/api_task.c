/*
 * The life cycle of a generation request (api_task.h): api_gen.c builds the task with
 * one generation per choice, and api_task_run hands each to the backend's scheduler
 * with its choice as the sink. The scheduler steps them while the connection has room
 * for more output (api_task_ready); each step's text is streamed as an event of its
 * choice or kept for the whole answer (api_task_output); a choice that is done sends
 * its last event (streaming), and when every choice is, the task writes the answer in
 * its kind's format (api_oai.c, api_native.c) and frees itself (api_task_done). A
 * connection that goes away first frees it through api_task_free (api_app.conn_gone).
 */
#include "http/api_task.h"
#include "http/conn.h"

static int api_active; /* generations running for the API, one per choice */
static unsigned api_next_id;
static const struct sched_sink api_task_sink;
static void api_stream_piece(struct api_choice *ch, const char *text, size_t len);

int api_tasks_active(void) {
    return api_active;
}

static const struct api_format *api_task_format(const struct api_task *t) {
    return t->kind == API_KIND_NATIVE ? &api_format_native : &api_format_oai;
}

/* Free t and its choices, stopping their generations. */
static void api_task_release(struct api_task *t) {
    for (int i = 0; i < t->n_choices; i++) {
        api_backend_get()->gen_free(t->choice[i].gen);
        hbuf_free(&t->choice[i].text);
        port_free(t->choice[i].probs);
    }
    port_free(t);
}

void api_task_run(struct http_conn *c, struct api_task *t) {
    const struct api_backend *be = api_backend_get();
    t->id = ++api_next_id;
    t->created = api_created();
    t->conn = c;
    t->sent0 = c->sent_cycles;
    for (int i = 0; i < t->n_choices; i++) {
        t->choice[i].task = t;
        t->choice[i].index = i;
        if (be->gen_run(t->choice[i].gen, &api_task_sink, &t->choice[i]) != 0) {
            api_task_release(t);
            http_respond_error(c, 503, "all generation slots are busy; retry later");
            return;
        }
    }
    api_active += t->n_choices;
    c->app_state = t;
    c->busy = true;
    if (!t->stream)
        return;
    http_stream_begin(c, 200, "text/event-stream");
    for (int i = 0; i < t->n_choices; i++) {
        struct api_choice *ch = &t->choice[i];
        if (ch->text.len) { /* the echoed prompt, the choice's first event */
            api_stream_piece(ch, ch->text.data, ch->text.len);
            hbuf_reset(&ch->text);
        }
    }
}

void api_task_free(struct http_conn *c) {
    struct api_task *t = c->app_state;
    if (!t)
        return;
    api_active -= t->n_choices;
    api_task_release(t);
    c->app_state = NULL;
}

/* Send the event b holds on c (unless building it ran out of memory); b is freed. */
static void api_stream_event(struct http_conn *c, struct hbuf *b) {
    if (!b->failed)
        http_stream_sse(c, b->data, b->len);
    hbuf_free(b);
}

/* Streaming: one event of ch carrying text[0..len). */
static void api_stream_piece(struct api_choice *ch, const char *text, size_t len) {
    struct hbuf b;
    struct json_writer w;
    hbuf_init(&b);
    json_write_init(&w, &b);
    json_write_object_begin(&w);
    api_task_format(ch->task)->piece(&w, ch, text, len);
    json_write_object_end(&w);
    api_stream_event(ch->task->conn, &b);
}

/* Streaming: the last event of ch. */
static void api_stream_last(struct api_choice *ch, const struct api_gen_stats *st) {
    struct hbuf b;
    struct json_writer w;
    hbuf_init(&b);
    json_write_init(&w, &b);
    json_write_object_begin(&w);
    api_task_format(ch->task)->last(&w, ch, st);
    json_write_object_end(&w);
    api_stream_event(ch->task->conn, &b);
}

static void api_finish_whole(struct http_conn *c, struct api_task *t,
                             const struct api_gen_stats *st) {
    bool failed = false;
    for (int i = 0; i < t->n_choices; i++) {
        if (t->choice[i].finish == GEN_FINISH_ERROR) {
            http_respond_error(c, 500, "generation failed in the forward pass");
            return;
        }
        failed |= t->choice[i].text.failed;
    }
    struct hbuf b;
    struct json_writer w;
    hbuf_init(&b);
    json_write_init(&w, &b);
    json_write_object_begin(&w);
    api_task_format(t)->whole(&w, t, st);
    json_write_object_end(&w);
    if (b.failed || failed)
        http_respond_error(c, 500, "out of memory building the response");
    else
        http_respond(c, 200, "application/json; charset=utf-8", b.data, b.len, NULL);
    hbuf_free(&b);
}

/* The sink: a step only while the client keeps up with the output. */
static bool api_task_ready(void *ctx) {
    const struct api_choice *ch = ctx;
    return http_conn_unsent(ch->task->conn) < HTTP_OUT_HIGH_WATER;
}

void api_task_probs_sent(struct api_choice *ch, int to) {
    ch->probs_sent = to;
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
static bool api_task_keep_prob(struct api_choice *ch, const struct gen_output *out) {
    if (ch->n_probs == ch->cap_probs) {
        int cap = ch->cap_probs ? 2 * ch->cap_probs : 64;
        struct api_prob *p = port_alloc((size_t)cap * sizeof(*p));
        if (!p)
            return false;
        if (ch->n_probs)
            memcpy(p, ch->probs, (size_t)ch->n_probs * sizeof(*p));
        port_free(ch->probs);
        ch->probs = p;
        ch->cap_probs = cap;
    }
    struct api_prob *p = &ch->probs[ch->n_probs++];
    p->prev = out->prev;
    p->offset = ch->prob_bytes;
    p->tok = out->prob;
    p->n_top = out->n_top;
    memcpy(p->top, out->top, (size_t)out->n_top * sizeof(*p->top));
    char piece[API_PIECE_MAX];
    int n = api_backend_get()->piece(out->prev, out->prob.id, piece, sizeof(piece));
    ch->prob_bytes += n > 0 ? (size_t)n : 0;
    return true;
}

static void api_task_output(void *ctx, const struct gen_output *out) {
    struct api_choice *ch = ctx;
    if (ch->task->logprobs && out->has_prob && !api_task_keep_prob(ch, out))
        ch->text.failed = true; /* answered as out of memory */
    if (!out->len)
        return;
    if (ch->task->stream)
        api_stream_piece(ch, out->text, out->len);
    else
        hbuf_append(&ch->text, out->text, out->len);
}

/* A generation's counters (zero where the backend has none). */
static void api_task_gen_stats(const struct api_choice *ch, struct api_gen_stats *st) {
    memset(st, 0, sizeof(*st));
    api_backend_get()->gen_stats(ch->gen, st);
}

/* The network phase of t so far: the connection's time handing its earlier bytes to
 * TCP (the bytes of the object that reports it go out after it is written). */
static uint64_t api_task_network(const struct api_task *t) {
    return t->conn->sent_cycles - t->sent0;
}

/* The choices' counters together. The prompt counts once, as OpenAI's usage does, and
 * so do its cached tokens: the first choice's, which evaluated it for all. */
static void api_task_stats(const struct api_task *t, struct api_gen_stats *sum) {
    memset(sum, 0, sizeof(*sum));
    for (int i = 0; i < t->n_choices; i++) {
        struct api_gen_stats st;
        api_task_gen_stats(&t->choice[i], &st);
        sum->n_prompt = st.n_prompt;
        sum->n_cached = i == 0 ? st.n_cached : sum->n_cached;
        sum->n_gen += st.n_gen;
        sum->n_eval += st.n_eval;
        sum->t_prompt_us += st.t_prompt_us;
        sum->t_gen_us += st.t_gen_us;
        sum->t_grammar_us += st.t_grammar_us;
        sum->n_masked += st.n_masked;
        sum->finish = t->choice[i].finish;
        sum->cyc.queue += st.cyc.queue;
        sum->cyc.prompt += st.cyc.prompt;
        sum->cyc.decode += st.cyc.decode;
        sum->cyc.sampling += st.cyc.sampling;
    }
    sum->cyc.network = api_task_network(t);
}

static void api_task_done(void *ctx) {
    struct api_choice *ch = ctx;
    struct api_task *t = ch->task;
    struct http_conn *c = t->conn;
    struct api_gen_stats st;
    api_task_gen_stats(ch, &st);
    if (st.finish == GEN_FINISH_NONE)
        st.finish = GEN_FINISH_ERROR;
    ch->finish = st.finish;
    ch->done = true;
    t->n_done++;
    api_metrics_tokens(st.n_prompt, st.n_gen, st.t_prompt_us, st.t_gen_us);
    api_metrics_phases(&st.cyc);
    st.cyc.network = api_task_network(t);
    if (t->stream) {
        if (ch->probs_sent < ch->n_probs)
            api_stream_piece(ch, "", 0); /* the last tokens' probabilities (text held back) */
        api_stream_last(ch, &st);
    }
    if (t->n_done < t->n_choices)
        return;
    api_task_stats(t, &st);
    if (t->stream) {
        const struct api_format *fmt = api_task_format(t);
        if (fmt->after_last)
            fmt->after_last(c, t, &st);
        http_stream_end(c);
    } else {
        api_finish_whole(c, t, &st);
    }
    api_task_free(c);
}

static const struct sched_sink api_task_sink = {
    .ready = api_task_ready,
    .output = api_task_output,
    .done = api_task_done,
};
