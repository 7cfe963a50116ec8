/*
 * The embedding endpoints: POST /v1/embeddings (OpenAI: `input` a string, a list of
 * strings, token ids or lists of token ids; `encoding_format` "float" or "base64"
 * (little-endian float32); answers {"object":"list","data":[{"object":"embedding",
 * "index","embedding"}],"usage"}) and llama.cpp's POST /embedding (`content` or
 * `input`, the same forms; answers [{"index","embedding"}]). Each input runs through
 * the backend's embed (mean of the last hidden states, normalized: kernel/llm/embed.h)
 * inside this call: the poll loop waits for it, so inputs are bounded (API_EMBED_*).
 * Called by api.c's routes; relies on api_backend.h and json.h.
 */
#include "http/api.h"
#include "http/conn.h"
#include "http/json.h"

#define API_EMBED_MAX_INPUTS 16 /* inputs per request */

/* One input's tokens into toks[0..max): a string (tokenized with BOS) or token ids;
 * count, or -1 with err naming the field. */
static int api_embed_tokens(const struct json_value *v, const char *field, int *toks, int max,
                            char *err, size_t cap) {
    const struct api_backend *be = api_backend_get();
    if (v->type == JSON_STRING) {
        int n = be->tokenize(v->u.str.s, v->u.str.len, true, false, toks, max);
        if (n <= 0)
            snprintf(err, cap, "field '%s': empty or longer than the context", field);
        return n > 0 ? n : -1;
    }
    struct api_model_info mi;
    be->info(&mi);
    if (v->type != JSON_ARRAY || v->u.list.n == 0 || v->u.list.n > (size_t)max) {
        snprintf(err, cap, "field '%s': expected a string or 1..%d token ids", field, max);
        return -1;
    }
    int n = 0;
    for (const struct json_value *t = v->u.list.first; t; t = t->next) {
        if (t->type != JSON_NUMBER || !t->is_int || t->u.num < 0 || t->u.num >= mi.n_vocab) {
            snprintf(err, cap, "field '%s[%d]': expected a token id", field, n);
            return -1;
        }
        toks[n++] = (int)t->u.num;
    }
    return n;
}

/* Whether v is a list of inputs (strings or lists of ids) rather than one input. */
static bool api_embed_is_list(const struct json_value *v) {
    return v->type == JSON_ARRAY && v->u.list.first &&
           (v->u.list.first->type == JSON_STRING || v->u.list.first->type == JSON_ARRAY);
}

static void api_embed_base64(struct hbuf *b, const float *v, int n) {
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const uint8_t *p = (const uint8_t *)v; /* x86: float32 little-endian, as OpenAI sends */
    size_t len = (size_t)n * sizeof(float);
    for (size_t i = 0; i < len; i += 3) {
        uint32_t w = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0) |
                     (i + 2 < len ? p[i + 2] : 0);
        char q[4] = {abc[w >> 18 & 63], abc[w >> 12 & 63], i + 1 < len ? abc[w >> 6 & 63] : '=',
                     i + 2 < len ? abc[w & 63] : '='};
        hbuf_append(b, q, 4);
    }
}

/* One item of the answer's list. */
static void api_embed_item(struct json_writer *w, bool openai, bool base64, int index,
                           const float *v, int dim) {
    json_write_object_begin(w);
    if (openai) {
        json_write_key(w, "object");
        json_write_string(w, "embedding");
    }
    json_write_key(w, "index");
    json_write_int(w, index);
    json_write_key(w, "embedding");
    if (base64) {
        struct hbuf s;
        hbuf_init(&s);
        api_embed_base64(&s, v, dim);
        json_write_stringn(w, s.data ? s.data : "", s.len);
        w->out->failed |= s.failed;
        hbuf_free(&s);
    } else {
        json_write_array_begin(w);
        for (int d = 0; d < dim; d++)
            json_write_double(w, v[d]);
        json_write_array_end(w);
    }
    json_write_object_end(w);
}

/* encoding_format: false for float (the default), true for base64; -1 if neither. */
static int api_embed_format(const struct json_value *root, char *err, size_t cap) {
    const struct json_value *f = json_get(root, "encoding_format");
    if (!f || f->type == JSON_NULL || (f->type == JSON_STRING && !strcmp(f->u.str.s, "float")))
        return 0;
    if (f->type == JSON_STRING && !strcmp(f->u.str.s, "base64"))
        return 1;
    snprintf(err, cap, "field 'encoding_format': expected \"float\" or \"base64\"");
    return -1;
}

/* The fields an embedding request may carry: every other one is refused by name. */
static int api_embed_check_fields(const struct json_value *root, char *err, size_t cap) {
    static const char *const known[] = {"input", "content", "model", "encoding_format", "user"};
    for (const struct json_value *m = root->u.list.first; m; m = m->next) {
        bool ok = m->type == JSON_NULL;
        for (size_t i = 0; i < ARRAY_SIZE(known) && !ok; i++)
            ok = !strcmp(known[i], m->key);
        if (!ok) {
            snprintf(err, cap, "field '%.64s': not supported by this server", m->key);
            return -1;
        }
    }
    return 0;
}

/* Every input's embedding written to w as items; -1 with err and *status set. */
static int api_embed_all(struct json_writer *w, const struct json_value *in, bool openai,
                         bool base64, int *n_tokens, int *status, char *err, size_t cap) {
    const struct api_backend *be = api_backend_get();
    struct api_model_info mi;
    be->info(&mi);
    bool list = api_embed_is_list(in);
    if (list && in->u.list.n > API_EMBED_MAX_INPUTS) {
        snprintf(err, cap, "field 'input': at most %d inputs", API_EMBED_MAX_INPUTS);
        return -1;
    }
    int *toks = port_alloc((size_t)mi.n_ctx * sizeof(int));
    float *vec = port_alloc((size_t)mi.n_embd * sizeof(float));
    int rc = toks && vec ? 0 : -1;
    if (rc < 0) {
        *status = 503;
        snprintf(err, cap, "out of memory for the embedding");
    }
    int index = 0;
    for (const struct json_value *v = list ? in->u.list.first : in; v && rc == 0;
         v = list ? v->next : NULL, index++) {
        char field[32];
        snprintf(field, sizeof(field), list ? "input[%d]" : "input", index);
        int n = api_embed_tokens(v, field, toks, mi.n_ctx, err, cap);
        if (n < 0) {
            rc = -1;
            break;
        }
        char why[120];
        enum gen_err e = be->embed(toks, n, vec, why, sizeof(why));
        if (e != GEN_OK) {
            *status = e == GEN_ERR_REQUEST ? 400 : 503;
            snprintf(err, cap, "%s: %s", field, why);
            rc = -1;
            break;
        }
        *n_tokens += n;
        api_embed_item(w, openai, base64, index, vec, mi.n_embd);
    }
    port_free(toks);
    port_free(vec);
    return rc;
}

void api_embed_handle(struct http_conn *c, const struct http_request *req, bool openai) {
    char err[200];
    struct json_doc doc;
    if (!api_body_object(c, req, &doc))
        return;
    int status = 400, base64 = -1, n_tokens = 0;
    const struct json_value *in = NULL;
    if (api_embed_check_fields(doc.root, err, sizeof(err)) == 0 &&
        (base64 = api_embed_format(doc.root, err, sizeof(err))) >= 0) {
        in = json_get(doc.root, "input");
        in = in || openai ? in : json_get(doc.root, "content");
        if (!in)
            snprintf(err, sizeof(err),
                     "field 'input': expected a string, a list of strings or "
                     "token ids");
    }
    struct hbuf b;
    struct json_writer w;
    hbuf_init(&b);
    json_write_init(&w, &b);
    if (openai) {
        json_write_object_begin(&w);
        json_write_key(&w, "object");
        json_write_string(&w, "list");
        json_write_key(&w, "data");
    }
    json_write_array_begin(&w);
    int rc =
        in ? api_embed_all(&w, in, openai, base64 == 1, &n_tokens, &status, err, sizeof(err)) : -1;
    json_write_array_end(&w);
    if (openai) {
        struct api_model_info mi;
        api_backend_get()->info(&mi);
        json_write_key(&w, "model");
        json_write_string(&w, mi.name ? mi.name : "");
        json_write_key(&w, "usage");
        json_write_object_begin(&w);
        json_write_key(&w, "prompt_tokens");
        json_write_int(&w, n_tokens);
        json_write_key(&w, "total_tokens");
        json_write_int(&w, n_tokens);
        json_write_object_end(&w);
        json_write_object_end(&w);
    }
    json_doc_free(&doc);
    if (rc < 0)
        http_respond_error(c, status, err);
    else
        api_respond_json(c, 200, &b);
    hbuf_free(&b);
}
