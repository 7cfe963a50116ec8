/*
 * gen_param.c: the table of generation parameters (see gen_param.h) and the few
 * functions that read it: defaults, one value set with its type and range checked,
 * and the kernel command line scanned for cllm.<key>=<value>. api_gen.c reads a
 * request body through gen_param_set, console.c and llm_boot.c the command line.
 * Relies on sampler.h (decimal parsing) and port.h.
 */
#include "llm/gen_param.h"
#include "cmdline.h"

#include "port.h"

#define GEN_PARAM_FIELD(f) offsetof(struct gen_params, f)
#define GEN_PARAM_SAMPLE(f) offsetof(struct gen_params, sample.f)

/* Ranges follow the HTTP API (llama.cpp's server and OpenAI where they agree); the
 * order is the order in which a request's fields are checked. Kept out of
 * clang-format: a row per parameter reads better than a field per line. */
/* clang-format off */
const struct gen_param gen_param_table[] = {
    {"max_tokens", {"n_predict", "max_tokens", "max_completion_tokens"}, {"max_tokens", "n"},
     GEN_PARAM_FIELD(n_predict), GEN_PARAM_INT, -1, 1 << 30, 256,
     "tokens to generate; -1: until EOS or the context is full"},
    {"temperature", {"temperature"}, {"temperature", "temp"}, GEN_PARAM_SAMPLE(temperature),
     GEN_PARAM_FLOAT, 0, 100, 0.8, "sampling temperature; 0 = greedy"},
    {"top_p", {"top_p"}, {"top_p"}, GEN_PARAM_SAMPLE(top_p), GEN_PARAM_FLOAT, 0, 1, 0.95,
     "nucleus sampling: keep the smallest set with this mass; 1 = off"},
    {"min_p", {"min_p"}, {"min_p"}, GEN_PARAM_SAMPLE(min_p), GEN_PARAM_FLOAT, 0, 1, 0.05,
     "drop tokens below min_p x the top probability; 0 = off"},
    {"top_k", {"top_k"}, {"top_k"}, GEN_PARAM_SAMPLE(top_k), GEN_PARAM_INT, 0, 1 << 30, 40,
     "sample from the k most likely tokens; 0 = all"},
    {"repeat_penalty", {"repeat_penalty"}, {"repeat_penalty"}, GEN_PARAM_SAMPLE(repeat_penalty),
     GEN_PARAM_FLOAT, 0, 100, 1, "penalty on recent tokens; 1 = off"},
    {"repeat_last_n", {"repeat_last_n"}, {"repeat_last_n"}, GEN_PARAM_SAMPLE(repeat_last_n),
     GEN_PARAM_INT, -1, 1 << 30, 64, "how many recent tokens are penalized; -1 = all, 0 = off"},
    {"presence_penalty", {"presence_penalty"}, {"presence_penalty"},
     GEN_PARAM_SAMPLE(presence_penalty), GEN_PARAM_FLOAT, -2, 2, 0,
     "subtracted once from the logit of every token seen"},
    {"frequency_penalty", {"frequency_penalty"}, {"frequency_penalty"},
     GEN_PARAM_SAMPLE(frequency_penalty), GEN_PARAM_FLOAT, -2, 2, 0,
     "subtracted from a token's logit per occurrence"},
    {"seed", {"seed"}, {"seed"}, GEN_PARAM_SAMPLE(seed), GEN_PARAM_SEED, -1,
     9007199254740992.0, -1, "sampler random seed; -1 = from the clock"},
    {"ignore_eos", {"ignore_eos"}, {NULL}, GEN_PARAM_FIELD(ignore_eos), GEN_PARAM_BOOL, 0, 1, 0,
     "keep generating past the end-of-generation token"},
    {"cache_prompt", {"cache_prompt"}, {NULL}, GEN_PARAM_FIELD(cache_prompt), GEN_PARAM_BOOL, 0,
     1, 1, "reuse the KV cache of a prompt that starts as one seen before"},
    {"stop", {"stop"}, {NULL}, GEN_PARAM_FIELD(stop), GEN_PARAM_STOP, 0, 0, 0,
     "up to 4 strings (and up to 4 token ids) that end the generation (not in the text)"},
    {"n_probs", {"n_probs"}, {NULL}, GEN_PARAM_FIELD(n_probs), GEN_PARAM_INT, 0, 20, 0,
     "most likely alternatives reported with each token's log probability"},
};
/* clang-format on */

const size_t gen_param_count = ARRAY_SIZE(gen_param_table);

static struct cmdline_option gen_param_opts[ARRAY_SIZE(gen_param_table) * GEN_PARAM_SPELLINGS];

const struct cmdline_option *gen_param_options(size_t *n) {
    size_t k = 0;
    for (size_t i = 0; i < gen_param_count; i++)
        for (int j = 0; j < GEN_PARAM_SPELLINGS && gen_param_table[i].option[j]; j++)
            gen_param_opts[k++] = (struct cmdline_option){
                .key = gen_param_table[i].option[j],
                .kind = CMDLINE_KIND_STRING,
                .description = gen_param_table[i].doc,
            };
    *n = k;
    return gen_param_opts;
}

static struct gen_params gen_param_server; /* server-wide defaults, once configured */
static bool gen_param_configured;

const char *gen_param_want(const struct gen_param *row) {
    static const char *const want[] = {
        [GEN_PARAM_INT] = "an integer",
        [GEN_PARAM_FLOAT] = "a number",
        [GEN_PARAM_SEED] = "an integer",
        [GEN_PARAM_BOOL] = "a boolean",
        [GEN_PARAM_STOP] = "a string, a token id or an array of them",
    };
    return want[row->kind];
}

bool gen_param_takes_list(const struct gen_param *row) {
    return row->kind == GEN_PARAM_STOP;
}

enum gen_param_status gen_param_set(struct gen_params *p, const struct gen_param *row,
                                    const struct gen_value *v) {
    void *field = (char *)p + row->off;
    bool number = v->type == GEN_VALUE_NUMBER;
    bool integer = row->kind == GEN_PARAM_INT || row->kind == GEN_PARAM_SEED;
    if (row->kind == GEN_PARAM_BOOL) {
        if (v->type != GEN_VALUE_BOOL)
            return GEN_PARAM_BAD_TYPE;
        *(bool *)field = v->boolean;
        return GEN_PARAM_OK;
    }
    if (row->kind == GEN_PARAM_STOP && number) {
        if (!v->is_int || v->num < 0 || v->num >= 2147483648.0)
            return GEN_PARAM_BAD_TYPE;
        if (p->n_stop_ids >= GEN_MAX_STOP)
            return GEN_PARAM_BAD_STOP;
        p->stop_ids[p->n_stop_ids++] = (int)v->num;
        return GEN_PARAM_OK;
    }
    if (row->kind == GEN_PARAM_STOP) {
        if (v->type != GEN_VALUE_STRING)
            return GEN_PARAM_BAD_TYPE;
        if (v->len == 0 || v->len > GEN_STOP_MAX_LEN || p->n_stop >= GEN_MAX_STOP)
            return GEN_PARAM_BAD_STOP;
        memcpy(p->stop[p->n_stop], v->str, v->len);
        p->stop[p->n_stop][v->len] = '\0';
        p->n_stop++;
        return GEN_PARAM_OK;
    }
    if (!number || (integer && !v->is_int))
        return GEN_PARAM_BAD_TYPE;
    if (!(v->num >= row->lo && v->num <= row->hi))
        return GEN_PARAM_BAD_RANGE;
    if (row->kind == GEN_PARAM_INT)
        *(int *)field = (int)v->num;
    else if (row->kind == GEN_PARAM_FLOAT)
        *(float *)field = (float)v->num;
    else
        *(uint64_t *)field = v->num < 0 ? GEN_SEED_RANDOM : (uint64_t)(int64_t)v->num;
    return GEN_PARAM_OK;
}

void gen_params_default(struct gen_params *p) {
    if (gen_param_configured) {
        *p = gen_param_server;
        return;
    }
    memset(p, 0, sizeof *p);
    for (size_t i = 0; i < gen_param_count; i++) {
        const struct gen_param *row = &gen_param_table[i];
        struct gen_value v = {.type = GEN_VALUE_NUMBER, .num = row->def, .is_int = true};
        if (row->kind == GEN_PARAM_BOOL)
            v = (struct gen_value){.type = GEN_VALUE_BOOL, .boolean = row->def != 0};
        if (row->kind != GEN_PARAM_STOP)
            (void)gen_param_set(p, row, &v);
    }
}

/* The value of the last cllm.<key>= word in cmdline: its start and length, quotes
 * removed; NULL if absent. */
static const char *gen_param_find(const char *cmdline, const char *key, size_t *len) {
    const char *found = NULL;
    size_t klen = strlen(key);
    for (const char *p = cmdline; p && *p;) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        const char *word = p;
        bool match =
            strncmp(p, "cllm.", 5) == 0 && strncmp(p + 5, key, klen) == 0 && p[5 + klen] == '=';
        if (strncmp(p, "cllm.", 5) == 0) {
            while (*p && *p != ' ' && *p != '=')
                p++;
            if (*p == '=')
                p++;
        }
        bool quoted = *p == '"';
        const char *v = p + quoted;
        const char *end = v;
        while (*end && (quoted ? *end != '"' : *end != ' '))
            end++;
        if (match) {
            found = word + 6 + klen + quoted;
            *len = (size_t)(end - found);
        }
        p = *end == '"' ? end + 1 : end;
    }
    return found;
}

/* Decimal integer text, optionally negative, the whole string. Past 2^53 a double
 * holds no exact integer, so such a value becomes one that fails every range. */
static bool gen_param_parse_int(const char *s, double *out) {
    bool neg = *s == '-';
    s += neg;
    if (!*s)
        return false;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        if (v <= (1ull << 53))
            v = v * 10 + (uint64_t)(*s - '0');
    }
    double d = v > (1ull << 53) ? 1e300 : (double)v;
    *out = neg ? -d : d;
    return true;
}

/* Only [-]digits[.digits]: the decimals the option registry's kinds accept too. */
static bool gen_param_plain(const char *s) {
    for (; *s; s++)
        if (*s == 'e' || *s == 'E' || *s == '+')
            return false;
    return true;
}

/* The text of a command-line value as a typed value for the row's kind. */
static void gen_param_text_value(const struct gen_param *row, const char *s, size_t len,
                                 struct gen_value *v) {
    float f;
    *v = (struct gen_value){.type = GEN_VALUE_OTHER};
    if (row->kind == GEN_PARAM_STOP) {
        *v = (struct gen_value){.type = GEN_VALUE_STRING, .str = s, .len = len};
    } else if (row->kind == GEN_PARAM_BOOL) {
        if (!strcmp(s, "true") || !strcmp(s, "false"))
            *v = (struct gen_value){.type = GEN_VALUE_BOOL, .boolean = s[0] == 't'};
    } else if (gen_param_parse_int(s, &v->num)) {
        v->type = GEN_VALUE_NUMBER;
        v->is_int = true;
    } else if (row->kind == GEN_PARAM_FLOAT && gen_param_plain(s) &&
               sampler_parse_float(s, &f) == 0) {
        *v = (struct gen_value){.type = GEN_VALUE_NUMBER, .num = f};
    }
}

/* A range bound as text: whole numbers exactly, fractions with up to 6 decimals. */
static void gen_param_put_num(char *buf, size_t cap, double v) {
    if (v == (double)(int64_t)v)
        snprintf(buf, cap, "%lld", (long long)v);
    else
        sampler_format_float(buf, cap, (float)v, 6);
}

/* The row's value from the command line, if given: 0 (absent or set) or -1. */
static int gen_param_from_cmdline_row(struct gen_params *p, const struct gen_param *row,
                                      const char *cmdline, char *err, size_t errlen) {
    const char *val = NULL, *key = NULL;
    size_t len = 0;
    for (size_t k = 0; k < GEN_PARAM_SPELLINGS && row->option[k]; k++) {
        size_t n;
        const char *v = gen_param_find(cmdline, row->option[k], &n);
        if (v && (!val || v > val)) {
            val = v;
            len = n;
            key = row->option[k];
        }
    }
    if (!val)
        return 0;
    char text[GEN_PARAM_TEXT_MAX + 1];
    if (len > GEN_PARAM_TEXT_MAX)
        return port_fail(err, errlen, "cllm.%s: value of %u bytes is over the %d-byte limit", key,
                         (unsigned)len, GEN_PARAM_TEXT_MAX);
    memcpy(text, val, len);
    text[len] = '\0';
    struct gen_value v;
    gen_param_text_value(row, text, len, &v);
    enum gen_param_status st = gen_param_set(p, row, &v);
    if (st == GEN_PARAM_OK)
        return 0;
    char want[96];
    if (row->kind == GEN_PARAM_BOOL) {
        snprintf(want, sizeof want, "true or false");
    } else if (row->kind == GEN_PARAM_STOP) {
        snprintf(want, sizeof want, "a string of 1..%d bytes", GEN_STOP_MAX_LEN);
    } else {
        char lo[32], hi[32];
        gen_param_put_num(lo, sizeof lo, row->lo);
        gen_param_put_num(hi, sizeof hi, row->hi);
        snprintf(want, sizeof want, "%s in %s..%s", gen_param_want(row), lo, hi);
    }
    return port_fail(err, errlen, "cllm.%s: bad value \"%s\" (want %s)", key, text, want);
}

int gen_params_from_cmdline(struct gen_params *p, const char *cmdline, char *err, size_t errlen) {
    for (size_t i = 0; i < gen_param_count; i++)
        if (gen_param_from_cmdline_row(p, &gen_param_table[i], cmdline, err, errlen) != 0)
            return -1;
    return 0;
}

int gen_params_configure(const char *cmdline, char *err, size_t errlen) {
    struct gen_params p;
    gen_param_configured = false;
    gen_params_default(&p);
    int rc = 0;
    for (size_t i = 0; i < gen_param_count; i++) {
        struct gen_params before = p;
        bool first = rc == 0;
        if (gen_param_from_cmdline_row(&p, &gen_param_table[i], cmdline, first ? err : NULL,
                                       first ? errlen : 0) != 0) {
            p = before;
            rc = -1;
        }
    }
    gen_param_server = p;
    gen_param_configured = true;
    return rc;
}
