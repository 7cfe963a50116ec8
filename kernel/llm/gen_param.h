/*
 * gen_param: the generation parameters of one request (struct gen_params) and the one
 * table that describes them: each parameter's name, its other spellings in a JSON
 * request and on the kernel command line, the field it sets, its kind, its range, its
 * default and one line of documentation. The HTTP API (kernel/http/api_gen.c, which
 * turns JSON values into the plain values below), console mode (console.c) and the
 * server-wide defaults (llm_boot.c) all read parameters through this table, so there
 * is one range per parameter and a new request parameter is one row in gen_param.c
 * plus the code that uses it. Relies on sampler.h (the sampling fields and decimal
 * parsing) and port.h; knows nothing of HTTP or JSON.
 *
 * Command-line spellings are also rows of the option registry (kernel/core/options.c),
 * which checks values at boot; tests/test_gen_param.py holds the two tables to the
 * same keys and ranges.
 */
#ifndef CLLM_LLM_GEN_PARAM_H
#define CLLM_LLM_GEN_PARAM_H

#include "llm/sampler.h"
#include "types.h"

#define GEN_MAX_STOP 4             /* stop strings per request */
#define GEN_STOP_MAX_LEN 64        /* bytes per stop string, excluding the NUL */
#define GEN_MAX_BIAS 128           /* logit_bias entries per request */
#define GEN_BIAS_BAN (-100.0f)     /* a bias this low bans the token */
#define GEN_SEED_RANDOM UINT64_MAX /* seed value meaning "from the clock" */
#define GEN_PARAM_SPELLINGS 3      /* JSON fields or command-line keys per parameter, at most */
#define GEN_PARAM_TEXT_MAX 64      /* longest command-line value accepted, bytes */

struct gen_params {
    int n_predict;                /* tokens to generate; < 0: until EOS or the context is full */
    struct sampler_params sample; /* seed GEN_SEED_RANDOM: taken from the clock */
    int n_stop;
    char stop[GEN_MAX_STOP][GEN_STOP_MAX_LEN + 1]; /* NUL-terminated, non-empty */
    int n_stop_ids;
    int stop_ids[GEN_MAX_STOP]; /* tokens that end the generation (not part of the text) */
    int n_bias;
    struct gen_bias {
        int id;
        float bias; /* added to the token's logit; <= GEN_BIAS_BAN: never sampled */
    } bias[GEN_MAX_BIAS];
    bool ignore_eos;   /* keep going past EOS (it is sampled but not decoded) */
    bool cache_prompt; /* start from the prefix cache's blocks of this prompt (kv.h) */
    int n_probs;       /* alternatives reported with each token's log probability */
    bool logprobs;     /* report each sampled token's log probability (set by the API from
                        * its endpoint's field: `logprobs`, or `n_probs` > 0) */
    /* GBNF (grammar.h) the text must follow, grammar_len bytes; NULL: none. Borrowed:
     * valid until gen_init, which compiles its own copy. Not a table row: it is no
     * value of the command line, and the HTTP API sets it from `grammar`,
     * `json_schema` or `response_format` (api_gen.c). */
    const char *grammar;
    size_t grammar_len;
};

enum gen_param_kind {
    GEN_PARAM_INT,   /* int field; an integer in [lo, hi] */
    GEN_PARAM_FLOAT, /* float field; a number in [lo, hi] */
    GEN_PARAM_SEED,  /* uint64_t field; an integer in [lo, hi], -1 meaning GEN_SEED_RANDOM */
    GEN_PARAM_BOOL,  /* bool field; true or false */
    GEN_PARAM_STOP,  /* appends to stop[] a string of 1..GEN_STOP_MAX_LEN bytes, or to
                      * stop_ids[] a token id (an integer >= 0) */
};

struct gen_param {
    const char *name;                        /* canonical name, for documentation */
    const char *json[GEN_PARAM_SPELLINGS];   /* JSON fields; of several given, the last wins */
    const char *option[GEN_PARAM_SPELLINGS]; /* cllm.<key> spellings; none: not an option */
    size_t off;                              /* offset of the field in struct gen_params */
    enum gen_param_kind kind;
    double lo, hi;   /* inclusive range of numbers */
    double def;      /* default (numbers and booleans) */
    const char *doc; /* one line */
};

extern const struct gen_param gen_param_table[];
extern const size_t gen_param_count;

/* A value as a request or the command line gave it, stripped of its syntax. */
enum gen_value_type {
    GEN_VALUE_NUMBER,
    GEN_VALUE_BOOL,
    GEN_VALUE_STRING,
    GEN_VALUE_OTHER, /* anything else (an object, a list where none is allowed) */
};

struct gen_value {
    enum gen_value_type type;
    double num;      /* GEN_VALUE_NUMBER */
    bool is_int;     /* GEN_VALUE_NUMBER written without fraction or exponent */
    bool boolean;    /* GEN_VALUE_BOOL */
    const char *str; /* GEN_VALUE_STRING, str[0..len) */
    size_t len;
};

/* Why a value was refused. */
enum gen_param_status {
    GEN_PARAM_OK = 0,
    GEN_PARAM_BAD_TYPE,  /* wrong type for the kind: gen_param_want() says what fits */
    GEN_PARAM_BAD_RANGE, /* a number outside [lo, hi] */
    GEN_PARAM_BAD_STOP,  /* too many stop strings or ids, or a string empty or too long */
};

/* The table's command-line spellings as options for the command line's checker
 * (cmdline_add_options: main.c hands them over before cmdline_init), so a parameter is
 * one row here and nowhere else. Kind STRING: the table checks the value when
 * gen_params_from_cmdline / gen_params_configure read it. *n gets the count. */
struct cmdline_option;
const struct cmdline_option *gen_param_options(size_t *n);

/* The table defaults, then the server-wide ones gen_params_configure set. */
void gen_params_default(struct gen_params *p);

/* Set the parameter `row` from v (a stop row appends one string). */
enum gen_param_status gen_param_set(struct gen_params *p, const struct gen_param *row,
                                    const struct gen_value *v);

/* What a value of the row's kind is, for messages: "an integer", "a number"... */
const char *gen_param_want(const struct gen_param *row);

/* Whether a JSON list of values is accepted for the row (each item set in turn). */
bool gen_param_takes_list(const struct gen_param *row);

/* Set every parameter the kernel command line gives as cllm.<key>=<value> (values
 * may be double-quoted; the last occurrence of a parameter wins). 0, or -1 with err
 * naming the key and the value; the parameters before the bad one are set. */
int gen_params_from_cmdline(struct gen_params *p, const char *cmdline, char *err, size_t errlen);

/* The server-wide defaults from the command line, for requests that give no value
 * (called once at boot). A bad value is left out and reported as in
 * gen_params_from_cmdline; the others still apply. */
int gen_params_configure(const char *cmdline, char *err, size_t errlen);

#endif
