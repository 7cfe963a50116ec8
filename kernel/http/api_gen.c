/*
 * The generation endpoints: POST /v1/completions and /v1/chat/completions (OpenAI
 * shape) and POST /completion (llama.cpp shape). api_gen_handle checks the body
 * (every bad field is a 400 naming it), builds the prompt (chat template for
 * messages), tokenizes it and starts a generation through the backend; the
 * connection then carries an api_task that server.c steps once per poll turn, so
 * many requests advance together and none blocks the loop. Streaming responses are
 * Server-Sent Events; OpenAI streams end with "data: [DONE]".
 */
#include "http/api.h"
#include "http/conn.h"
#include "http/json.h"

struct api_task {
    enum api_kind kind;
    void *gen;              /* backend generation, owned */
    bool stream;
    bool include_usage;     /* stream_options.include_usage */
    bool sent_role;         /* chat stream: the first delta carried the role */
    struct hbuf text;       /* generated text (non-streaming) */
    unsigned id;
    uint64_t created;       /* Unix time; seconds since boot without a wall clock */
    char model[96];
};

static int api_active;
static unsigned api_next_id;

int api_tasks_active(void) {
    return api_active;
}

/* Request fields, checked. */
struct api_fields {
    struct gen_params gp;
    bool stream;
    bool include_usage;
};

static void api_field_error(char *err, size_t cap, const char *field, const char *what,
                            const struct json_value *v) {
    struct hbuf shown;
    struct json_writer w;
    hbuf_init(&shown);
    json_write_init(&w, &shown);
    if (v)
        json_write_value(&w, v);
    snprintf(err, cap, "field '%s': %s%s%.48s", field, what, v ? ", got " : "",
             shown.data && !shown.failed ? shown.data : "");
    hbuf_free(&shown);
}

/* 0: absent or null; 1: *out set; -1: wrong type or out of [lo, hi] (err set). */
static int api_get_num(const struct json_value *root, const char *name, double lo, double hi,
                       bool integer, double *out, char *err, size_t cap) {
    const struct json_value *v = json_get(root, name);
    if (!v || v->type == JSON_NULL)
        return 0;
    if (v->type != JSON_NUMBER || (integer && !v->is_int)) {
        api_field_error(err, cap, name, integer ? "expected an integer" : "expected a number", v);
        return -1;
    }
    if (v->u.num < lo || v->u.num > hi) {
        char what[80];
        struct hbuf r;
        hbuf_init(&r);
        api_put_double(&r, lo);
        hbuf_puts(&r, "..");
        api_put_double(&r, hi);
        snprintf(what, sizeof(what), "out of range %s", r.data ? r.data : "");
        hbuf_free(&r);
        api_field_error(err, cap, name, what, v);
        return -1;
    }
    *out = v->u.num;
    return 1;
}

static int api_get_bool(const struct json_value *root, const char *name, bool *out, char *err,
                        size_t cap) {
    const struct json_value *v = json_get(root, name);
    if (!v || v->type == JSON_NULL)
        return 0;
    if (v->type != JSON_BOOL) {
        api_field_error(err, cap, name, "expected a boolean", v);
        return -1;
    }
    *out = v->boolean;
    return 1;
}

static int api_add_stop(struct gen_params *gp, const struct json_value *s, char *err, size_t cap) {
    if (s->type != JSON_STRING) {
        api_field_error(err, cap, "stop", "expected a string or an array of strings", s);
        return -1;
    }
    if (s->u.str.len == 0 || s->u.str.len > GEN_STOP_MAX_LEN || gp->n_stop >= GEN_MAX_STOP) {
        snprintf(err, cap, "field 'stop': at most %d strings of 1..%d bytes", GEN_MAX_STOP,
                 GEN_STOP_MAX_LEN);
        return -1;
    }
    memcpy(gp->stop[gp->n_stop], s->u.str.s, s->u.str.len);
    gp->stop[gp->n_stop][s->u.str.len] = 0;
    gp->n_stop++;
    return 0;
}

/* Sampling and control fields shared by all three endpoints. */
static int api_parse_fields(const struct json_value *root, enum api_kind kind,
                            struct api_fields *f, char *err, size_t cap) {
    const struct api_backend *be = api_backend_get();
    struct gen_params *gp = &f->gp;
    be->params_default(gp);
    double d;
    int r;
    static const char *const max_names[] = {"n_predict", "max_tokens", "max_completion_tokens"};
    for (size_t i = 0; i < ARRAY_SIZE(max_names); i++) {
        if ((r = api_get_num(root, max_names[i], -1, 1 << 30, true, &d, err, cap)) < 0)
            return -1;
        if (r)
            gp->n_predict = (int)d;
    }
    if ((r = api_get_num(root, "temperature", 0, 100, false, &d, err, cap)) < 0)
        return -1;
    if (r)
        gp->temperature = (float)d;
    if ((r = api_get_num(root, "top_p", 0, 1, false, &d, err, cap)) < 0)
        return -1;
    if (r)
        gp->top_p = (float)d;
    if ((r = api_get_num(root, "min_p", 0, 1, false, &d, err, cap)) < 0)
        return -1;
    if (r)
        gp->min_p = (float)d;
    if ((r = api_get_num(root, "top_k", 0, 1 << 30, true, &d, err, cap)) < 0)
        return -1;
    if (r)
        gp->top_k = (int)d;
    if ((r = api_get_num(root, "repeat_penalty", 0, 100, false, &d, err, cap)) < 0)
        return -1;
    if (r)
        gp->repeat_penalty = (float)d;
    if ((r = api_get_num(root, "repeat_last_n", -1, 1 << 30, true, &d, err, cap)) < 0)
        return -1;
    if (r)
        gp->repeat_last_n = (int)d;
    if ((r = api_get_num(root, "presence_penalty", -2, 2, false, &d, err, cap)) < 0)
        return -1;
    if (r)
        gp->presence_penalty = (float)d;
    if ((r = api_get_num(root, "frequency_penalty", -2, 2, false, &d, err, cap)) < 0)
        return -1;
    if (r)
        gp->frequency_penalty = (float)d;
    if ((r = api_get_num(root, "seed", -1, 9007199254740992.0, true, &d, err, cap)) < 0)
        return -1;
    if (r)
        gp->seed = d < 0 ? GEN_SEED_RANDOM : (uint64_t)(int64_t)d;
    if ((r = api_get_num(root, "n", -1e300, 1e300, true, &d, err, cap)) < 0)
        return -1;
    if (r && d != 1) {
        api_field_error(err, cap, "n", "only n=1 is supported", json_get(root, "n"));
        return -1;
    }
    if (api_get_bool(root, "ignore_eos", &gp->ignore_eos, err, cap) < 0)
        return -1;
    f->stream = false;
    if (api_get_bool(root, "stream", &f->stream, err, cap) < 0)
        return -1;
    const struct json_value *so = json_get(root, "stream_options");
    f->include_usage = false;
    if (so && so->type != JSON_NULL) {
        if (so->type != JSON_OBJECT) {
            api_field_error(err, cap, "stream_options", "expected an object", so);
            return -1;
        }
        if (api_get_bool(so, "include_usage", &f->include_usage, err, cap) < 0)
            return -1;
    }
    const struct json_value *stop = json_get(root, "stop");
    gp->n_stop = 0;
    if (stop && stop->type == JSON_ARRAY) {
        for (const struct json_value *s = stop->u.list.first; s; s = s->next) {
            if (api_add_stop(gp, s, err, cap) < 0)
                return -1;
        }
    } else if (stop && stop->type != JSON_NULL) {
        if (api_add_stop(gp, stop, err, cap) < 0)
            return -1;
    }
    UNUSED(kind);
    return 0;
}

/* The chat messages as one prompt in the model's template, into *out. */
static int api_chat_prompt(const struct json_value *root, struct hbuf *out, char *err,
                           size_t cap) {
    const struct json_value *msgs = json_get(root, "messages");
    if (!msgs || msgs->type != JSON_ARRAY || msgs->u.list.n == 0) {
        api_field_error(err, cap, "messages", "expected a non-empty array of messages", msgs);
        return -1;
    }
    if (msgs->u.list.n > API_MAX_MESSAGES) {
        snprintf(err, cap, "field 'messages': at most %d messages", API_MAX_MESSAGES);
        return -1;
    }
    struct chat_message cm[API_MAX_MESSAGES];
    size_t off[API_MAX_MESSAGES];
    struct hbuf parts; /* contents given as arrays of text parts, concatenated */
    hbuf_init(&parts);
    size_t n = 0;
    char field[48];
    for (const struct json_value *m = msgs->u.list.first; m; m = m->next, n++) {
        const struct json_value *role = json_get(m, "role");
        const struct json_value *content = json_get(m, "content");
        snprintf(field, sizeof(field), "messages[%u].role", (unsigned)n);
        if (m->type != JSON_OBJECT || !role || role->type != JSON_STRING) {
            api_field_error(err, cap, field, "expected a string", role);
            hbuf_free(&parts);
            return -1;
        }
        cm[n].role = role->u.str.s;
        off[n] = (size_t)-1;
        snprintf(field, sizeof(field), "messages[%u].content", (unsigned)n);
        if (!content || content->type == JSON_NULL) {
            cm[n].content = "";
            cm[n].content_len = 0;
        } else if (content->type == JSON_STRING) {
            cm[n].content = content->u.str.s;
            cm[n].content_len = content->u.str.len;
        } else if (content->type == JSON_ARRAY) {
            off[n] = parts.len;
            for (const struct json_value *p = content->u.list.first; p; p = p->next) {
                const struct json_value *type = json_get(p, "type");
                const struct json_value *text = json_get(p, "text");
                if (!type || type->type != JSON_STRING || strcmp(type->u.str.s, "text") != 0 ||
                    !text || text->type != JSON_STRING) {
                    api_field_error(err, cap, field, "only {\"type\":\"text\",\"text\":...} parts",
                                    p);
                    hbuf_free(&parts);
                    return -1;
                }
                hbuf_append(&parts, text->u.str.s, text->u.str.len);
            }
            cm[n].content_len = parts.len - off[n];
        } else {
            api_field_error(err, cap, field, "expected a string or an array of parts", content);
            hbuf_free(&parts);
            return -1;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (off[i] != (size_t)-1)
            cm[i].content = parts.data ? parts.data + off[i] : "";
    }
    const struct api_backend *be = api_backend_get();
    size_t need = be->chat(cm, n, NULL, 0);
    int rc = -1;
    if (need < HTTP_MAX_BUF_BYTES && !parts.failed) {
        char *buf = port_alloc(need + 1);
        if (buf) {
            be->chat(cm, n, buf, need + 1);
            hbuf_append(out, buf, need);
            port_free(buf);
            rc = out->failed ? -1 : 0;
        }
    }
    if (rc < 0)
        snprintf(err, cap, "field 'messages': the chat is too large");
    hbuf_free(&parts);
    return rc;
}

/* Prompt tokens into *toks (port_alloc); count, or -1 with err set. */
static int api_prompt_tokens(const struct json_value *root, enum api_kind kind, int **toks,
                             char *err, size_t cap) {
    const struct api_backend *be = api_backend_get();
    struct api_model_info mi;
    be->info(&mi);
    *toks = NULL;
    if (kind == API_KIND_CHAT) {
        struct hbuf text;
        hbuf_init(&text);
        if (api_chat_prompt(root, &text, err, cap) < 0) {
            hbuf_free(&text);
            return -1;
        }
        size_t max = text.len + 8;
        *toks = max <= API_MAX_TOKENS ? port_alloc(max * sizeof(int)) : NULL;
        int n = *toks ? be->tokenize(text.data ? text.data : "", text.len, true, true, *toks,
                                     (int)max)
                      : -1;
        hbuf_free(&text);
        if (n < 0)
            snprintf(err, cap, "field 'messages': the prompt is too long");
        return n;
    }
    const char *name = "prompt";
    const struct json_value *p = json_get(root, "prompt");
    if (!p && kind == API_KIND_NATIVE) {
        name = "content";
        p = json_get(root, "content");
    }
    if (p && p->type == JSON_ARRAY && p->u.list.n == 1 && p->u.list.first->type == JSON_STRING)
        p = p->u.list.first;
    if (p && p->type == JSON_STRING) {
        size_t max = p->u.str.len + 8;
        *toks = max <= API_MAX_TOKENS ? port_alloc(max * sizeof(int)) : NULL;
        int n = *toks ? be->tokenize(p->u.str.s, p->u.str.len, true, false, *toks, (int)max) : -1;
        if (n < 0)
            snprintf(err, cap, "field '%s': the prompt is too long", name);
        return n;
    }
    if (p && p->type == JSON_ARRAY && p->u.list.n > 0 && p->u.list.n <= API_MAX_TOKENS) {
        *toks = port_alloc(p->u.list.n * sizeof(int));
        if (!*toks) {
            snprintf(err, cap, "field '%s': the prompt is too long", name);
            return -1;
        }
        int n = 0;
        for (const struct json_value *t = p->u.list.first; t; t = t->next) {
            if (t->type != JSON_NUMBER || !t->is_int || t->u.num < 0 || t->u.num >= mi.n_vocab) {
                char f[48];
                snprintf(f, sizeof(f), "%s[%d]", name, n);
                api_field_error(err, cap, f, "expected a token id", t);
                return -1;
            }
            (*toks)[n++] = (int)t->u.num;
        }
        return n;
    }
    api_field_error(err, cap, name, "expected a string, an array of one string, or token ids", p);
    return -1;
}

void api_gen_handle(struct http_conn *c, const struct http_request *req, enum api_kind kind) {
    const struct api_backend *be = api_backend_get();
    char err[200];
    struct json_doc doc;
    if (json_parse(&doc, req->body, req->body_len) != 0) {
        snprintf(err, sizeof(err), "invalid JSON body: %s", doc.err);
        json_doc_free(&doc);
        http_respond_error(c, 400, err);
        return;
    }
    if (doc.root->type != JSON_OBJECT) {
        json_doc_free(&doc);
        http_respond_error(c, 400, "request body must be a JSON object");
        return;
    }
    struct api_fields f;
    int *toks = NULL;
    int n = -1;
    if (api_parse_fields(doc.root, kind, &f, err, sizeof(err)) == 0)
        n = api_prompt_tokens(doc.root, kind, &toks, err, sizeof(err));
    json_doc_free(&doc);
    if (n < 0) {
        port_free(toks);
        http_respond_error(c, 400, err);
        return;
    }
    if (api_active >= API_MAX_SLOTS) {
        port_free(toks);
        char retry[32];
        snprintf(retry, sizeof(retry), "Retry-After: %d\r\n", HTTP_RETRY_AFTER_S);
        http_respond_error_headers(c, 503, "all generation slots are busy; retry later", retry);
        return;
    }
    struct api_task *t = port_alloc(sizeof(*t));
    if (!t) {
        port_free(toks);
        http_respond_error(c, 503, "out of memory for the request");
        return;
    }
    memset(t, 0, sizeof(*t));
    char gerr[160] = "";
    t->gen = be->gen_start(toks, n, &f.gp, gerr, sizeof(gerr));
    port_free(toks);
    if (!t->gen) {
        port_free(t);
        snprintf(err, sizeof(err), "cannot start generation: %s", gerr);
        http_respond_error(c, strncmp(gerr, "out of memory", 13) == 0 ? 503 : 400, err);
        return;
    }
    struct api_model_info mi;
    be->info(&mi);
    snprintf(t->model, sizeof(t->model), "%s", mi.name ? mi.name : "");
    t->kind = kind;
    t->stream = f.stream;
    t->include_usage = f.include_usage;
    t->id = ++api_next_id;
    t->created = api_created();
    hbuf_init(&t->text);
    api_active++;
    c->task = t;
    c->busy = true;
    if (t->stream)
        http_stream_begin(c, 200, "text/event-stream");
}

void api_task_free(struct http_conn *c) {
    struct api_task *t = c->task;
    if (!t)
        return;
    api_backend_get()->gen_free(t->gen);
    hbuf_free(&t->text);
    port_free(t);
    c->task = NULL;
    api_active--;
}

/* The opening fields every OpenAI response object has. */
static void api_oai_head(struct json_writer *w, const struct api_task *t, const char *object) {
    char id[32];
    snprintf(id, sizeof(id), "%s-%u", t->kind == API_KIND_CHAT ? "chatcmpl" : "cmpl", t->id);
    json_write_key(w, "id");
    json_write_string(w, id);
    json_write_key(w, "object");
    json_write_string(w, object);
    json_write_key(w, "created");
    json_write_int(w, (int64_t)t->created);
    json_write_key(w, "model");
    json_write_string(w, t->model);
}

static const char *api_finish_reason(enum gen_finish f) {
    return f == GEN_FINISH_LENGTH ? "length" : f == GEN_FINISH_ERROR ? "error" : "stop";
}

static void api_write_usage(struct json_writer *w, const struct api_gen_stats *st) {
    json_write_key(w, "usage");
    json_write_object_begin(w);
    json_write_key(w, "prompt_tokens");
    json_write_int(w, st->n_prompt);
    json_write_key(w, "completion_tokens");
    json_write_int(w, st->n_gen);
    json_write_key(w, "total_tokens");
    json_write_int(w, st->n_prompt + st->n_gen);
    json_write_object_end(w);
}

static void api_write_timings(struct json_writer *w, const struct api_gen_stats *st) {
    double pms = (double)(int64_t)st->t_prompt_us / 1000.0;
    double gms = (double)(int64_t)st->t_gen_us / 1000.0;
    json_write_key(w, "timings");
    json_write_object_begin(w);
    json_write_key(w, "prompt_n");
    json_write_int(w, st->n_prompt);
    json_write_key(w, "prompt_ms");
    json_write_double(w, pms);
    json_write_key(w, "prompt_per_second");
    json_write_double(w, pms > 0 ? st->n_prompt * 1000.0 / pms : 0);
    json_write_key(w, "predicted_n");
    json_write_int(w, st->n_gen);
    json_write_key(w, "predicted_ms");
    json_write_double(w, gms);
    json_write_key(w, "predicted_per_second");
    json_write_double(w, gms > 0 ? st->n_gen * 1000.0 / gms : 0);
    json_write_object_end(w);
}

/* One OpenAI choice: text (completion), message or delta (chat). */
static void api_write_choice(struct json_writer *w, const struct api_task *t, const char *text,
                             size_t len, const char *finish, bool with_role) {
    json_write_key(w, "choices");
    json_write_array_begin(w);
    json_write_object_begin(w);
    json_write_key(w, "index");
    json_write_int(w, 0);
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
    } else {
        json_write_key(w, "text");
        json_write_stringn(w, text ? text : "", text ? len : 0);
        json_write_key(w, "logprobs");
        json_write_null(w);
    }
    json_write_key(w, "finish_reason");
    if (finish)
        json_write_string(w, finish);
    else
        json_write_null(w);
    json_write_object_end(w);
    json_write_array_end(w);
}

static void api_native_fields(struct json_writer *w, const struct api_task *t,
                              const struct api_gen_stats *st) {
    json_write_key(w, "id_slot");
    json_write_int(w, 0);
    json_write_key(w, "stop");
    json_write_bool(w, true);
    json_write_key(w, "model");
    json_write_string(w, t->model);
    json_write_key(w, "tokens_predicted");
    json_write_int(w, st->n_gen);
    json_write_key(w, "tokens_evaluated");
    json_write_int(w, st->n_prompt);
    json_write_key(w, "stop_type");
    json_write_string(w, st->finish == GEN_FINISH_LENGTH ? "limit"
                         : st->finish == GEN_FINISH_STOP ? "word"
                                                         : "eos");
    json_write_key(w, "truncated");
    json_write_bool(w, false);
    api_write_timings(w, st);
}

/* Streaming: one event carrying text[0..len). */
static void api_stream_piece(struct http_conn *c, struct api_task *t, const char *text,
                             size_t len) {
    struct hbuf b;
    struct json_writer w;
    hbuf_init(&b);
    json_write_init(&w, &b);
    json_write_object_begin(&w);
    if (t->kind == API_KIND_NATIVE) {
        json_write_key(&w, "content");
        json_write_stringn(&w, text, len);
        json_write_key(&w, "stop");
        json_write_bool(&w, false);
        json_write_key(&w, "id_slot");
        json_write_int(&w, 0);
    } else {
        api_oai_head(&w, t, t->kind == API_KIND_CHAT ? "chat.completion.chunk" : "text_completion");
        api_write_choice(&w, t, text, len, NULL, t->kind == API_KIND_CHAT && !t->sent_role);
        t->sent_role = true;
    }
    json_write_object_end(&w);
    if (!b.failed)
        http_stream_sse(c, b.data, b.len);
    hbuf_free(&b);
}

static void api_finish_stream(struct http_conn *c, struct api_task *t,
                              const struct api_gen_stats *st) {
    struct hbuf b;
    struct json_writer w;
    hbuf_init(&b);
    json_write_init(&w, &b);
    json_write_object_begin(&w);
    if (t->kind == API_KIND_NATIVE) {
        json_write_key(&w, "content");
        json_write_string(&w, "");
        api_native_fields(&w, t, st);
    } else {
        api_oai_head(&w, t, t->kind == API_KIND_CHAT ? "chat.completion.chunk" : "text_completion");
        api_write_choice(&w, t, NULL, 0, api_finish_reason(st->finish), false);
        api_write_timings(&w, st);
    }
    json_write_object_end(&w);
    http_stream_sse(c, b.data, b.len);
    if (t->kind != API_KIND_NATIVE && t->include_usage) {
        hbuf_reset(&b);
        json_write_init(&w, &b);
        json_write_object_begin(&w);
        api_oai_head(&w, t, t->kind == API_KIND_CHAT ? "chat.completion.chunk" : "text_completion");
        json_write_key(&w, "choices");
        json_write_array_begin(&w);
        json_write_array_end(&w);
        api_write_usage(&w, st);
        json_write_object_end(&w);
        http_stream_sse(c, b.data, b.len);
    }
    if (t->kind != API_KIND_NATIVE)
        http_stream_sse(c, "[DONE]", 6);
    hbuf_free(&b);
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
    const char *text = t->text.data ? t->text.data : "";
    json_write_object_begin(&w);
    if (t->kind == API_KIND_NATIVE) {
        json_write_key(&w, "content");
        json_write_stringn(&w, text, t->text.len);
        api_native_fields(&w, t, st);
    } else {
        api_oai_head(&w, t, t->kind == API_KIND_CHAT ? "chat.completion" : "text_completion");
        api_write_choice(&w, t, text, t->text.len, api_finish_reason(st->finish), false);
        api_write_usage(&w, st);
        api_write_timings(&w, st);
    }
    json_write_object_end(&w);
    if (b.failed || t->text.failed)
        http_respond_error(c, 500, "out of memory building the response");
    else
        http_respond(c, 200, "application/json; charset=utf-8", b.data, b.len, NULL);
    hbuf_free(&b);
}

void api_tasks_flush(void) {
    const struct api_backend *be = api_backend_get();
    int rows = be && be->gen_flush ? be->gen_flush() : 0;
    if (rows > 1)
        api_metrics_batch(rows);
}

void api_task_step(struct http_conn *c) {
    struct api_task *t = c->task;
    const struct api_backend *be = api_backend_get();
    struct gen_output out;
    out.len = 0;
    int r = be->gen_step(t->gen, &out);
    if (out.len) {
        if (t->stream)
            api_stream_piece(c, t, out.text, out.len);
        else
            hbuf_append(&t->text, out.text, out.len);
    }
    if (r != GEN_STEP_DONE && r >= 0)
        return;
    struct api_gen_stats st;
    be->gen_stats(t->gen, &st);
    if (r < 0 && st.finish == GEN_FINISH_NONE)
        st.finish = GEN_FINISH_ERROR;
    api_metrics_tokens(st.n_prompt, st.n_gen, st.t_prompt_us, st.t_gen_us);
    if (t->stream)
        api_finish_stream(c, t, &st);
    else
        api_finish_whole(c, t, &st);
    api_task_free(c);
}
