/*
 * The generation endpoints: POST /v1/completions and /v1/chat/completions (OpenAI
 * shape) and POST /completion (llama.cpp shape). api_gen_handle checks the body
 * (every bad field is a 400 naming it), builds the prompt (chat template for
 * messages), tokenizes it and starts a generation through the backend as an
 * api_task on the connection (api_task.c runs it: the backend's scheduler advances it
 * a step per poll turn, so many requests advance together and none blocks the loop,
 * and the task answers in its endpoint's format, api_oai.c or api_native.c).
 */
#include "http/api_task.h"
#include "http/conn.h"

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

/* v, the body's field `name`, set as the parameter `row` of the table (gen_param.h);
 * -1 with err naming the field and the value. */
static int api_param_set(struct gen_params *gp, const struct gen_param *row, const char *name,
                         const struct json_value *v, char *err, size_t cap) {
    struct gen_value gv = {.type = GEN_VALUE_OTHER};
    if (v->type == JSON_NUMBER)
        gv = (struct gen_value){.type = GEN_VALUE_NUMBER, .num = v->u.num, .is_int = v->is_int};
    else if (v->type == JSON_BOOL)
        gv = (struct gen_value){.type = GEN_VALUE_BOOL, .boolean = v->boolean};
    else if (v->type == JSON_STRING)
        gv = (struct gen_value){.type = GEN_VALUE_STRING, .str = v->u.str.s, .len = v->u.str.len};
    enum gen_param_status st = gen_param_set(gp, row, &gv);
    if (st == GEN_PARAM_OK)
        return 0;
    if (st == GEN_PARAM_BAD_STOP) {
        snprintf(err, cap, "field '%s': at most %d strings of 1..%d bytes", name, GEN_MAX_STOP,
                 GEN_STOP_MAX_LEN);
        return -1;
    }
    char what[80];
    struct hbuf r;
    hbuf_init(&r);
    if (st == GEN_PARAM_BAD_RANGE) {
        hbuf_puts(&r, "out of range ");
        api_put_double(&r, row->lo);
        hbuf_puts(&r, "..");
        api_put_double(&r, row->hi);
    } else {
        hbuf_puts(&r, "expected ");
        hbuf_puts(&r, gen_param_want(row));
    }
    snprintf(what, sizeof(what), "%s", r.data ? r.data : "");
    hbuf_free(&r);
    api_field_error(err, cap, name, what, v);
    return -1;
}

/* Sampling and control fields shared by all three endpoints: every row of the
 * parameter table under each of its JSON names, then the fields of the response. */
static int api_parse_fields(const struct json_value *root, enum api_kind kind,
                            struct api_fields *f, char *err, size_t cap) {
    struct gen_params *gp = &f->gp;
    api_backend_get()->params_default(gp);
    for (size_t i = 0; i < gen_param_count; i++) {
        const struct gen_param *row = &gen_param_table[i];
        for (size_t k = 0; k < GEN_PARAM_SPELLINGS && row->json[k]; k++) {
            const struct json_value *v = json_get(root, row->json[k]);
            if (!v || v->type == JSON_NULL)
                continue;
            bool list = v->type == JSON_ARRAY && gen_param_takes_list(row);
            for (const struct json_value *e = list ? v->u.list.first : v; e;
                 e = list ? e->next : NULL)
                if (api_param_set(gp, row, row->json[k], e, err, cap) < 0)
                    return -1;
        }
    }
    const struct json_value *n = json_get(root, "n");
    if (n && n->type != JSON_NULL && (n->type != JSON_NUMBER || !n->is_int)) {
        api_field_error(err, cap, "n", "expected an integer", n);
        return -1;
    }
    if (n && n->type == JSON_NUMBER && n->u.num != 1) {
        api_field_error(err, cap, "n", "only n=1 is supported", n);
        return -1;
    }
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

/* The one place a generation's refusal becomes an HTTP status: the request's fault is
 * a 400, the server's condition (no memory now, no model) a 503 to retry later. */
static int api_gen_err_status(enum gen_err why) {
    return why == GEN_ERR_REQUEST ? 400 : 503;
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
    if (api_tasks_active() >= API_MAX_SLOTS) {
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
    enum gen_err why = GEN_OK;
    t->gen = be->gen_start(toks, n, &f.gp, &why, gerr, sizeof(gerr));
    port_free(toks);
    if (!t->gen) {
        port_free(t);
        snprintf(err, sizeof(err), "cannot start generation: %s", gerr);
        http_respond_error(c, api_gen_err_status(why), err);
        return;
    }
    struct api_model_info mi;
    be->info(&mi);
    snprintf(t->model, sizeof(t->model), "%s", mi.name ? mi.name : "");
    t->kind = kind;
    t->stream = f.stream;
    t->include_usage = f.include_usage;
    api_task_run(c, t);
}
