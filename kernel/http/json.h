/*
 * JSON (RFC 8259) for the HTTP API: a strict reader that builds a tree in one
 * arena, and a writer that appends correctly escaped JSON to an hbuf.
 *
 * Reader rules: one value with optional surrounding whitespace; nesting at most
 * JSON_MAX_DEPTH; strings must be valid UTF-8 (overlong forms, surrogates and code
 * points past U+10FFFF are refused), escapes are decoded (\uD83D\uDE00 surrogate
 * pairs become one 4-byte UTF-8 sequence; a lone surrogate is refused); numbers
 * follow the RFC grammar exactly (no leading zeros, '+', '.5', NaN or Infinity)
 * and must fit a double. Duplicate object keys are accepted and the LAST one wins
 * (json_get returns the last member with the name). Errors name the byte offset.
 *
 * Memory: json_parse allocates one arena sized from the input length so that any
 * valid document fits; everything in the tree lives there until json_doc_free.
 * Users: api.c and api_gen.c (request bodies and their responses).
 */
#ifndef CLLM_HTTP_JSON_H
#define CLLM_HTTP_JSON_H

#include "http/hbuf.h"
#include "http/http_param.h"
#include "port.h"

enum json_type {
    JSON_NULL = 0,
    JSON_BOOL,
    JSON_NUMBER,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT,
};

struct json_value {
    uint8_t type;    /* enum json_type */
    bool boolean;    /* JSON_BOOL */
    bool is_int;     /* JSON_NUMBER written without fraction or exponent */
    const char *key; /* member name inside an object (NUL-terminated), else NULL */
    size_t key_len;
    struct json_value *next; /* next element or member of the parent */
    union {
        double num; /* JSON_NUMBER */
        struct {
            const char *s; /* decoded UTF-8, NUL-terminated; may contain NUL bytes */
            size_t len;
        } str; /* JSON_STRING */
        struct {
            struct json_value *first;
            size_t n;
        } list; /* JSON_ARRAY, JSON_OBJECT */
    } u;
};

struct json_doc {
    char *arena; /* (cap) bytes */
    size_t cap;
    size_t used;
    struct json_value *root; /* NULL after a failed parse */
    size_t err_pos;          /* byte offset of the error */
    char err[112];           /* "at byte N: ..." */
};

/* Parse text[0..len). 0 on success, -1 with doc->err set. Free with json_doc_free. */
int json_parse(struct json_doc *doc, const char *text, size_t len);
void json_doc_free(struct json_doc *doc);

/* 10^e as a double, the same way for the reader and the writer (exponentiation by
 * squaring), so that a number written and read back is the same double again. */
double json_pow10(int e);

/* The member `key` of an object (the last one if repeated), or NULL. */
const struct json_value *json_get(const struct json_value *obj, const char *key);
const char *json_type_name(int type);

/* Writer: appends to out; commas and colons are placed automatically. */
struct json_writer {
    struct hbuf *out;
    int depth;
    bool need_comma[JSON_MAX_DEPTH + 2];
};

void json_write_init(struct json_writer *w, struct hbuf *out);
void json_write_object_begin(struct json_writer *w);
void json_write_object_end(struct json_writer *w);
void json_write_array_begin(struct json_writer *w);
void json_write_array_end(struct json_writer *w);
void json_write_key(struct json_writer *w, const char *key);
/* Length of the valid UTF-8 sequence at s[0..n) (n >= 1): 1-4, or 0 if it is invalid
 * (overlong, surrogate, past U+10FFFF, cut short). The reader and writer share it. */
size_t json_utf8_len(const uint8_t *s, size_t n);

/* Strings are escaped; invalid UTF-8 in s is replaced by U+FFFD, so output stays valid. */
void json_write_string(struct json_writer *w, const char *s);
void json_write_stringn(struct json_writer *w, const char *s, size_t len);
void json_write_int(struct json_writer *w, int64_t v);
/* Up to JSON_DOUBLE_DECIMALS decimals and 15 significant digits, trailing zeros
 * dropped (past 9.2e18: 12 significant digits and an exponent); NaN and infinities are
 * written as null. A number read back writes as the same text. */
#define JSON_DOUBLE_DECIMALS 6
void json_write_double(struct json_writer *w, double v);
void json_write_bool(struct json_writer *w, bool v);
void json_write_null(struct json_writer *w);
/* Write a parsed value back (used by tests and to echo fields). */
void json_write_value(struct json_writer *w, const struct json_value *v);
/* Append s[0..len) escaped as the inside of a JSON string (no quotes). */
void json_escape_append(struct hbuf *out, const char *s, size_t len);

#endif
