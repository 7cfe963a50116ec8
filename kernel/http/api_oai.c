/*
 * The OpenAI response formats of /v1/completions ("text_completion" objects, choices
 * with "text") and /v1/chat/completions ("chat.completion", choices with a "message";
 * streamed as "chat.completion.chunk" events whose "delta" carries the role once),
 * with usage and llama.cpp's timings. A stream ends with an optional usage chunk
 * (stream_options.include_usage) and "data: [DONE]". Used by api_task.c through
 * api_format_oai (api_task.h).
 */
#include "http/api_task.h"
#include "http/conn.h"

/* The "object" of an answer: a streamed chunk or the whole one. */
static const char *api_oai_object(const struct api_task *t, bool chunk) {
    if (t->kind != API_KIND_CHAT)
        return "text_completion";
    return chunk ? "chat.completion.chunk" : "chat.completion";
}

/* The opening fields every OpenAI response object has. */
static void api_oai_head(struct json_writer *w, const struct api_task *t, bool chunk) {
    char id[32];
    snprintf(id, sizeof(id), "%s-%u", t->kind == API_KIND_CHAT ? "chatcmpl" : "cmpl", t->id);
    json_write_key(w, "id");
    json_write_string(w, id);
    json_write_key(w, "object");
    json_write_string(w, api_oai_object(t, chunk));
    json_write_key(w, "created");
    json_write_int(w, (int64_t)t->created);
    json_write_key(w, "model");
    json_write_string(w, t->model);
}

static const char *api_oai_finish_reason(enum gen_finish f) {
    return f == GEN_FINISH_LENGTH ? "length" : f == GEN_FINISH_ERROR ? "error" : "stop";
}

static void api_oai_usage(struct json_writer *w, const struct api_gen_stats *st) {
    json_write_key(w, "usage");
    json_write_object_begin(w);
    json_write_key(w, "prompt_tokens");
    json_write_int(w, st->n_prompt);
    json_write_key(w, "completion_tokens");
    json_write_int(w, st->n_gen);
    json_write_key(w, "total_tokens");
    json_write_int(w, st->n_prompt + st->n_gen);
    json_write_key(w, "prompt_tokens_details");
    json_write_object_begin(w);
    json_write_key(w, "cached_tokens");
    json_write_int(w, st->n_cached);
    json_write_object_end(w);
    json_write_object_end(w);
}

/* Chat's "logprobs": {"content": [{token, logprob, bytes, top_logprobs}...]} of
 * probs[from..to). */
static void api_oai_chat_logprobs(struct json_writer *w, const struct api_choice *ch, int from,
                                  int to) {
    json_write_key(w, "logprobs");
    json_write_object_begin(w);
    json_write_key(w, "content");
    json_write_array_begin(w);
    for (int i = from; i < to; i++)
        api_write_prob(w, &ch->probs[i], false);
    json_write_array_end(w);
    json_write_object_end(w);
}

/* The text of token id after prev, NUL-terminated, into buf[API_PIECE_MAX + 1]. */
static const char *api_oai_piece_text(int prev, int id, char *buf) {
    int n = api_backend_get()->piece(prev, id, buf, API_PIECE_MAX);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

/* The completions' legacy "logprobs": {tokens, token_logprobs, top_logprobs (an object
 * per token: text -> log probability), text_offset} of probs[from..to). */
static void api_oai_text_logprobs(struct json_writer *w, const struct api_choice *ch, int from,
                                  int to) {
    char buf[API_PIECE_MAX + 1];
    json_write_key(w, "logprobs");
    json_write_object_begin(w);
    json_write_key(w, "tokens");
    json_write_array_begin(w);
    for (int i = from; i < to; i++)
        json_write_string(w, api_oai_piece_text(ch->probs[i].prev, ch->probs[i].tok.id, buf));
    json_write_array_end(w);
    json_write_key(w, "token_logprobs");
    json_write_array_begin(w);
    for (int i = from; i < to; i++)
        json_write_double(w, ch->probs[i].tok.logprob);
    json_write_array_end(w);
    json_write_key(w, "top_logprobs");
    json_write_array_begin(w);
    for (int i = from; i < to; i++) {
        const struct api_prob *p = &ch->probs[i];
        json_write_object_begin(w);
        for (int k = 0; k < p->n_top; k++) {
            json_write_key(w, api_oai_piece_text(p->prev, p->top[k].id, buf));
            json_write_double(w, p->top[k].logprob);
        }
        json_write_object_end(w);
    }
    json_write_array_end(w);
    json_write_key(w, "text_offset");
    json_write_array_begin(w);
    for (int i = from; i < to; i++)
        json_write_int(w, (int64_t)ch->probs[i].offset);
    json_write_array_end(w);
    json_write_object_end(w);
}

/* One choice's object: text (completion), message or delta (chat); with the log
 * probabilities of probs[from..to) when the request asked for them. */
static void api_oai_choice(struct json_writer *w, const struct api_choice *ch, const char *text,
                           size_t len, const char *finish, bool with_role, int from, int to) {
    const struct api_task *t = ch->task;
    json_write_object_begin(w);
    json_write_key(w, "index");
    json_write_int(w, ch->index);
    if (t->kind == API_KIND_CHAT) {
        json_write_key(w, t->stream ? "delta" : "message");
        json_write_object_begin(w);
        if (with_role || !t->stream) {
            json_write_key(w, "role");
            json_write_string(w, "assistant");
        }
        if (text) {
            json_write_key(w, "content");
            json_write_stringn(w, text, len);
        }
        json_write_object_end(w);
        if (t->logprobs)
            api_oai_chat_logprobs(w, ch, from, to);
    } else {
        json_write_key(w, "text");
        json_write_stringn(w, text ? text : "", text ? len : 0);
        if (t->logprobs) {
            api_oai_text_logprobs(w, ch, from, to);
        } else {
            json_write_key(w, "logprobs");
            json_write_null(w);
        }
    }
    json_write_key(w, "finish_reason");
    if (finish)
        json_write_string(w, finish);
    else
        json_write_null(w);
    json_write_object_end(w);
}

static void api_oai_piece(struct json_writer *w, struct api_choice *ch, const char *text,
                          size_t len) {
    api_oai_head(w, ch->task, true);
    json_write_key(w, "choices");
    json_write_array_begin(w);
    api_oai_choice(w, ch, text, len, NULL, ch->task->kind == API_KIND_CHAT && !ch->sent_role,
                   ch->probs_sent, ch->n_probs);
    json_write_array_end(w);
    api_task_probs_sent(ch, ch->n_probs);
    ch->sent_role = true;
}

static void api_oai_last(struct json_writer *w, const struct api_choice *ch,
                         const struct api_gen_stats *st) {
    api_oai_head(w, ch->task, true);
    json_write_key(w, "choices");
    json_write_array_begin(w);
    api_oai_choice(w, ch, NULL, 0, api_oai_finish_reason(st->finish), false, 0, 0);
    json_write_array_end(w);
    api_write_timings(w, st);
}

static void api_oai_after_last(struct http_conn *c, const struct api_task *t,
                               const struct api_gen_stats *st) {
    if (t->include_usage) {
        struct hbuf b;
        struct json_writer w;
        hbuf_init(&b);
        json_write_init(&w, &b);
        json_write_object_begin(&w);
        api_oai_head(&w, t, true);
        json_write_key(&w, "choices");
        json_write_array_begin(&w);
        json_write_array_end(&w);
        api_oai_usage(&w, st);
        json_write_object_end(&w);
        http_stream_sse(c, b.data, b.len);
        hbuf_free(&b);
    }
    http_stream_sse(c, "[DONE]", 6);
}

static void api_oai_whole(struct json_writer *w, const struct api_task *t,
                          const struct api_gen_stats *st) {
    api_oai_head(w, t, false);
    json_write_key(w, "choices");
    json_write_array_begin(w);
    for (int i = 0; i < t->n_choices; i++) {
        const struct api_choice *ch = &t->choice[i];
        api_oai_choice(w, ch, ch->text.data ? ch->text.data : "", ch->text.len,
                       api_oai_finish_reason(ch->finish), false, 0, ch->n_probs);
    }
    json_write_array_end(w);
    api_oai_usage(w, st);
    api_write_timings(w, st);
}

const struct api_format api_format_oai = {
    .piece = api_oai_piece,
    .last = api_oai_last,
    .after_last = api_oai_after_last,
    .whole = api_oai_whole,
};
