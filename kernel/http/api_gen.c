/*
 * The generation endpoints: POST /v1/completions and /v1/chat/completions (OpenAI
 * shape) and POST /completion (llama.cpp shape). api_gen_handle checks the body
 * (every bad field is a 400 naming it, and so is every field the server does not
 * implement; a grammar or JSON schema is checked here too), builds the prompt (chat template for
 * messages), tokenizes it and starts a generation through the backend as an
 * api_task on the connection (api_task.c runs it: the backend's scheduler advances it
 * a step per poll turn, so many requests advance together and none blocks the loop,
 * and the task answers in its endpoint's format, api_oai.c or api_native.c).
 */
#include "http/api_task.h"
#include "http/conn.h"
#include "http/json_schema.h"
#include "llm/grammar.h"

/* The fields a request may carry besides the rows of the parameter table: those the
 * endpoints read, and those OpenAI documents as hints a server may ignore. Every
 * other field is refused by name, so no parameter is silently dropped. `kinds` is a
 * mask of the endpoints (1 << enum api_kind) that take the field. */
#define API_ALL_KINDS                                                                              \
    ((1u << API_KIND_COMPLETION) | (1u << API_KIND_CHAT) | (1u << API_KIND_NATIVE))
#define API_OAI_KINDS ((1u << API_KIND_COMPLETION) | (1u << API_KIND_CHAT))

struct api_field_rule {
    const char *name;
    unsigned kinds;
    bool ignored; /* accepted and ignored: a hint with no effect on the answer */
};

/* clang-format off */
static const struct api_field_rule api_field_rules[] = {
    {"model", API_ALL_KINDS, false},
    {"prompt", (1u << API_KIND_COMPLETION) | (1u << API_KIND_NATIVE), false},
    {"content", 1u << API_KIND_NATIVE, false},
    {"messages", 1u << API_KIND_CHAT, false},
    {"stream", API_ALL_KINDS, false},
    {"stream_options", API_OAI_KINDS, false},
    {"n", API_OAI_KINDS, false},
    {"logprobs", API_OAI_KINDS, false},
    {"top_logprobs", 1u << API_KIND_CHAT, false},
    {"logit_bias", API_ALL_KINDS, false},
    {"echo", 1u << API_KIND_COMPLETION, false},
    {"grammar", API_ALL_KINDS, false},
    {"json_schema", API_ALL_KINDS, false},
    {"response_format", API_ALL_KINDS, false},
    {"user", API_OAI_KINDS, true},
    {"metadata", API_OAI_KINDS, true},
    {"store", API_OAI_KINDS, true},
    {"service_tier", API_OAI_KINDS, true},
    {"safety_identifier", API_OAI_KINDS, true},
    {"prompt_cache_key", API_OAI_KINDS, true},
    {"cache_prompt", 1u << API_KIND_NATIVE, true},
};
/* clang-format on */

/* Whether `name` is a JSON spelling of a row of the parameter table. */
static bool api_is_param(const char *name) {
    for (size_t i = 0; i < gen_param_count; i++)
        for (size_t k = 0; k < GEN_PARAM_SPELLINGS && gen_param_table[i].json[k]; k++)
            if (!strcmp(gen_param_table[i].json[k], name))
                return true;
    return false;
}

/* Every member of the body is a parameter or a field of api_field_rules for this
 * endpoint; else -1 with err naming the first other one. A null value counts as
 * absent. */
static int api_check_known(const struct json_value *root, enum api_kind kind, char *err,
                           size_t cap) {
    for (const struct json_value *m = root->u.list.first; m; m = m->next) {
        if (m->type == JSON_NULL || api_is_param(m->key))
            continue;
        bool known = false;
        for (size_t i = 0; i < ARRAY_SIZE(api_field_rules) && !known; i++)
            known = !strcmp(api_field_rules[i].name, m->key) &&
                    (api_field_rules[i].kinds & (1u << kind));
        if (!known) {
            snprintf(err, cap, "field '%.64s': not supported by this server", m->key);
            return -1;
        }
    }
    return 0;
}

/* Request fields, checked. */
struct api_fields {
    struct gen_params gp;
    bool stream;
    bool include_usage;
    bool echo;           /* completions: the answer starts with the prompt */
    int n_choices;       /* `n` */
    struct hbuf grammar; /* GBNF made from a JSON schema; gp.grammar points here or into
                          * the request body */
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

/* The JSON schema that response_format v asks for: *schema set (NULL for any JSON
 * object), 1; 0 for plain text; -1 with err naming the field. */
static int api_response_format(const struct json_value *v, const struct json_value **schema,
                               char *err, size_t cap) {
    const struct json_value *type = json_get(v, "type");
    if (v->type != JSON_OBJECT || !type || type->type != JSON_STRING) {
        api_field_error(err, cap, "response_format", "expected an object with a \"type\"", v);
        return -1;
    }
    *schema = NULL;
    if (!strcmp(type->u.str.s, "text"))
        return 0;
    if (!strcmp(type->u.str.s, "json_object"))
        return 1;
    if (strcmp(type->u.str.s, "json_schema") != 0) {
        api_field_error(err, cap, "response_format.type",
                        "expected \"text\", \"json_object\" or \"json_schema\"", type);
        return -1;
    }
    const struct json_value *js = json_get(v, "json_schema");
    *schema = js && js->type == JSON_OBJECT ? json_get(js, "schema") : NULL;
    if (!*schema || ((*schema)->type != JSON_OBJECT && (*schema)->type != JSON_BOOL)) {
        api_field_error(err, cap, "response_format.json_schema.schema", "expected a schema object",
                        *schema);
        return -1;
    }
    return 1;
}

/* The grammar the answer must follow: llama.cpp's `grammar` (GBNF) or `json_schema`, or
 * OpenAI's `response_format`; at most one of them. gp.grammar is set and checked here,
 * so a bad one is a 400 with its position before anything starts. */
static int api_parse_grammar(const struct json_value *root, struct api_fields *f, char *err,
                             size_t cap) {
    static const char *const names[] = {"grammar", "json_schema", "response_format"};
    const struct json_value *given[3];
    const char *name = NULL;
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        given[i] = json_get(root, names[i]);
        if (!given[i] || given[i]->type == JSON_NULL) {
            given[i] = NULL;
            continue;
        }
        if (name) {
            snprintf(err, cap, "fields '%s' and '%s': give at most one", name, names[i]);
            return -1;
        }
        name = names[i];
    }
    const struct json_value *schema = NULL;
    int want_schema = 0;
    if (given[0]) {
        if (given[0]->type != JSON_STRING) {
            api_field_error(err, cap, "grammar", "expected a GBNF string", given[0]);
            return -1;
        }
        f->gp.grammar = given[0]->u.str.s;
        f->gp.grammar_len = given[0]->u.str.len;
    } else if (given[1]) {
        schema = given[1];
        want_schema = 1;
    } else if (given[2]) {
        want_schema = api_response_format(given[2], &schema, err, cap);
        if (want_schema < 0)
            return -1;
        name = schema ? "response_format.json_schema.schema" : name;
    }
    if (want_schema) {
        char why[160];
        if (json_schema_to_gbnf(schema, &f->grammar, why, sizeof why) != 0) {
            snprintf(err, cap, "field '%s': %.150s", name, why);
            return -1;
        }
        f->gp.grammar = f->grammar.data;
        f->gp.grammar_len = f->grammar.len;
    }
    if (!f->gp.grammar)
        return 0;
    struct grammar *g;
    char why[160];
    if (grammar_compile(&g, f->gp.grammar, f->gp.grammar_len, why, sizeof why) != 0) {
        snprintf(err, cap, "field '%s': %.150s", name, why);
        return -1;
    }
    grammar_free(g);
    return 0;
}

/* A count of alternatives 0..GEN_MAX_PROBS in v; -1 with err naming the field. */
static int api_probs_count(const struct json_value *v, const char *name, int *out, char *err,
                           size_t cap) {
    if (v->type != JSON_NUMBER || !v->is_int || v->u.num < 0 || v->u.num > GEN_MAX_PROBS) {
        char what[48];
        snprintf(what, sizeof(what), "expected an integer in 0..%d", GEN_MAX_PROBS);
        api_field_error(err, cap, name, what, v);
        return -1;
    }
    *out = (int)v->u.num;
    return 0;
}

/* Log probabilities in each endpoint's spelling: chat's `logprobs` (a boolean) and
 * `top_logprobs`, the completions' `logprobs` (the count of alternatives), llama.cpp's
 * `n_probs` (a table row; more than 0 asks for them). */
static int api_parse_logprobs(const struct json_value *root, enum api_kind kind,
                              struct gen_params *gp, char *err, size_t cap) {
    gp->logprobs = gp->n_probs > 0;
    const struct json_value *lp = json_get(root, "logprobs");
    const struct json_value *top = json_get(root, "top_logprobs");
    lp = lp && lp->type != JSON_NULL ? lp : NULL;
    top = top && top->type != JSON_NULL ? top : NULL;
    if (kind == API_KIND_CHAT) {
        if (lp && lp->type != JSON_BOOL) {
            api_field_error(err, cap, "logprobs", "expected a boolean", lp);
            return -1;
        }
        gp->logprobs = lp ? lp->boolean : gp->logprobs;
        if (top && api_probs_count(top, "top_logprobs", &gp->n_probs, err, cap) < 0)
            return -1;
        if (top && !gp->logprobs) {
            api_field_error(err, cap, "top_logprobs", "needs \"logprobs\": true", top);
            return -1;
        }
    } else if (kind == API_KIND_COMPLETION && lp) {
        if (api_probs_count(lp, "logprobs", &gp->n_probs, err, cap) < 0)
            return -1;
        gp->logprobs = true;
    }
    return 0;
}

/* One logit_bias entry: token id (the text of an object's key, or a number) and bias
 * (a number in -100..100, or false for a ban). */
static int api_bias_entry(struct gen_params *gp, const char *id_text, const struct json_value *id,
                          const struct json_value *bias, char *err, size_t cap) {
    char field[48];
    double num = -1;
    if (id_text) { /* decimal digits only */
        num = *id_text && strlen(id_text) <= 10 ? 0 : -1;
        for (const char *d = id_text; num >= 0 && *d; d++)
            num = *d >= '0' && *d <= '9' ? num * 10 + (*d - '0') : -1;
    } else if (id && id->type == JSON_NUMBER && id->is_int) {
        num = id->u.num;
    }
    snprintf(field, sizeof(field), "logit_bias[%.24s]", id_text ? id_text : "");
    if (!(num >= 0 && num < 2147483648.0)) {
        api_field_error(err, cap, field, "expected a token id", id);
        return -1;
    }
    snprintf(field, sizeof(field), "logit_bias[%d]", (int)num);
    float b;
    if (bias && bias->type == JSON_BOOL && !bias->boolean) {
        b = GEN_BIAS_BAN;
    } else if (bias && bias->type == JSON_NUMBER && bias->u.num >= -100 && bias->u.num <= 100) {
        b = (float)bias->u.num;
    } else {
        api_field_error(err, cap, field, "expected a number in -100..100 or false", bias);
        return -1;
    }
    if (gp->n_bias >= GEN_MAX_BIAS) {
        snprintf(err, cap, "field 'logit_bias': at most %d tokens", GEN_MAX_BIAS);
        return -1;
    }
    gp->bias[gp->n_bias++] = (struct gen_bias){.id = (int)num, .bias = b};
    return 0;
}

/* logit_bias as OpenAI writes it, {"token id": bias}, or as llama.cpp also does,
 * [[id, bias], ...] (bias false: a ban). The ids are checked against the vocabulary
 * when the generation starts. */
static int api_parse_bias(const struct json_value *root, struct gen_params *gp, char *err,
                          size_t cap) {
    const struct json_value *lb = json_get(root, "logit_bias");
    if (!lb || lb->type == JSON_NULL)
        return 0;
    if (lb->type != JSON_OBJECT && lb->type != JSON_ARRAY) {
        api_field_error(err, cap, "logit_bias", "expected an object or an array of pairs", lb);
        return -1;
    }
    for (const struct json_value *e = lb->u.list.first; e; e = e->next) {
        if (lb->type == JSON_OBJECT) {
            if (api_bias_entry(gp, e->key, NULL, e, err, cap) < 0)
                return -1;
            continue;
        }
        if (e->type != JSON_ARRAY || e->u.list.n != 2) {
            api_field_error(err, cap, "logit_bias", "expected pairs [token id, bias]", e);
            return -1;
        }
        if (api_bias_entry(gp, NULL, e->u.list.first, e->u.list.first->next, err, cap) < 0)
            return -1;
    }
    return 0;
}

/* Sampling and control fields shared by all three endpoints: every row of the
 * parameter table under each of its JSON names, then the fields of the response. */
static int api_parse_fields(const struct json_value *root, enum api_kind kind, struct api_fields *f,
                            char *err, size_t cap) {
    struct gen_params *gp = &f->gp;
    api_backend_get()->params_default(gp);
    if (api_check_known(root, kind, err, cap) < 0)
        return -1;
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
    f->n_choices = 1;
    if (n && n->type != JSON_NULL) {
        if (n->type != JSON_NUMBER || !n->is_int || n->u.num < 1 || n->u.num > API_MAX_CHOICES) {
            char what[48];
            snprintf(what, sizeof(what), "expected an integer in 1..%d", API_MAX_CHOICES);
            api_field_error(err, cap, "n", what, n);
            return -1;
        }
        f->n_choices = (int)n->u.num;
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
    if (api_parse_logprobs(root, kind, gp, err, cap) < 0 || api_parse_bias(root, gp, err, cap) < 0)
        return -1;
    f->echo = false;
    if (api_get_bool(root, "echo", &f->echo, err, cap) < 0)
        return -1;
    if (f->echo && gp->logprobs) {
        snprintf(err, cap, "field 'echo': not supported together with 'logprobs'");
        return -1;
    }
    return api_parse_grammar(root, f, err, cap);
}

/* The chat messages as one prompt in the model's template, into *out. */
static int api_chat_prompt(const struct json_value *root, struct hbuf *out, char *err, size_t cap) {
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
        int n =
            *toks ? be->tokenize(text.data ? text.data : "", text.len, true, true, *toks, (int)max)
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
    hbuf_init(&f.grammar);
    if (api_parse_fields(doc.root, kind, &f, err, sizeof(err)) == 0)
        n = api_prompt_tokens(doc.root, kind, &toks, err, sizeof(err));
    struct api_task *t = NULL;
    int status = 400;
    bool busy = false;
    if (n >= 0) {
        status = 503;
        busy = api_tasks_active() + f.n_choices > API_MAX_SLOTS;
        if (busy)
            snprintf(err, sizeof(err), "all generation slots are busy; retry later");
        else if (!(t = port_alloc(sizeof(*t))))
            snprintf(err, sizeof(err), "out of memory for the request");
    }
    if (!t) {
        port_free(toks);
        json_doc_free(&doc);
        hbuf_free(&f.grammar);
        if (busy) {
            char retry[32];
            snprintf(retry, sizeof(retry), "Retry-After: %d\r\n", HTTP_RETRY_AFTER_S);
            http_respond_error_headers(c, status, err, retry);
        } else {
            http_respond_error(c, status, err);
        }
        return;
    }
    memset(t, 0, sizeof(*t));
    char gerr[160] = "";
    enum gen_err why = GEN_OK;
    /* Each choice samples with a seed of its own: the request's plus its index, or one
     * from the clock. The first evaluates the prompt; the others take its blocks and
     * logits (gen_share), with the same output as if each had evaluated it. */
    uint64_t seed = f.gp.sample.seed == GEN_SEED_RANDOM && f.n_choices > 1
                        ? (port_time_us() + 1) * 0x9E3779B97F4A7C15ull >> 12
                        : f.gp.sample.seed;
    for (int i = 0; i < f.n_choices && why == GEN_OK; i++) {
        struct api_choice *ch = &t->choice[i];
        hbuf_init(&ch->text);
        for (int k = 0; f.echo && k < n; k++) { /* the prompt's text, as its tokens spell it */
            char piece[API_PIECE_MAX];
            int len = be->piece(k ? toks[k - 1] : -1, toks[k], piece, sizeof(piece));
            hbuf_append(&ch->text, piece, len > 0 ? (size_t)len : 0);
        }
        struct gen_params gp = f.gp;
        gp.sample.seed = seed == GEN_SEED_RANDOM ? seed : seed + (uint64_t)i;
        /* the grammar is borrowed from the body or f.grammar until gen_start returns */
        ch->gen = be->gen_start(toks, n, &gp, &why, gerr, sizeof(gerr));
        t->n_choices = i + 1;
        if (i > 0 && ch->gen && be->gen_share)
            (void)be->gen_share(ch->gen, t->choice[0].gen); /* -1: it runs the prompt */
    }
    port_free(toks);
    json_doc_free(&doc);
    hbuf_free(&f.grammar);
    if (why != GEN_OK) {
        for (int i = 0; i < t->n_choices; i++) {
            be->gen_free(t->choice[i].gen);
            hbuf_free(&t->choice[i].text);
        }
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
    t->logprobs = f.gp.logprobs;
    api_task_run(c, t);
}
