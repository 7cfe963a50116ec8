/*
 * json_schema.c: a JSON Schema as GBNF (see json_schema.h). Every sub-schema becomes
 * one rule `sN ::= ...`, written as soon as its own sub-schemas are; the JSON pieces
 * every schema shares (strings, numbers, any value) are fixed rules named `j...`,
 * written once at the end. Called by api_gen.c; relies on json.h, hbuf.h and
 * grammar.h (its limits).
 */
#include "http/json_schema.h"

#include "llm/grammar.h"

#define JS_MAX_PROPS 64 /* properties of one object */
#define JS_PATH_MAX 160 /* bytes of a location like $.properties.a.items */

/* The rules every schema may refer to. jchar is one character of a JSON string. */
static const char js_common[] =
    "ws ::= \" \"?\n"
    "jvalue ::= jobject | jarray | jstring | jnumber | \"true\" | \"false\" | \"null\"\n"
    "jobject ::= \"{\" ws ( jstring ws \":\" ws jvalue ( ws \",\" ws jstring ws \":\" ws jvalue )* "
    ")? "
    "ws \"}\"\n"
    "jarray ::= \"[\" ws ( jvalue ( ws \",\" ws jvalue )* )? ws \"]\"\n"
    "jchar ::= [^\"\\\\\\x7F\\x00-\\x1F] | \"\\\\\" ( [\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4} )\n"
    "jstring ::= \"\\\"\" jchar* \"\\\"\"\n"
    "jinteger ::= \"-\"? ( \"0\" | [1-9] [0-9]{0,15} )\n"
    "jnumber ::= jinteger ( \".\" [0-9]{1,16} )? ( [eE] [-+]? [0-9]{1,3} )?\n";

/* Keywords a schema object may carry; the annotations among them change nothing. */
static const char *const js_keywords[] = {
    "type",      "properties", "required",    "additionalProperties",
    "items",     "minItems",   "maxItems",    "minLength",
    "maxLength", "enum",       "const",       "anyOf",
    "oneOf",     "title",      "description", "default",
    "examples",  "$schema",    "$id",         "pattern",
};

struct js_conv {
    struct hbuf *out; /* the grammar's rules */
    int n_rules;
    char *err;
    size_t cap;
    char path[JS_PATH_MAX];
};

static int js_fail(struct js_conv *c, const char *what, const char *name) {
    snprintf(c->err, c->cap, "%s '%.40s' at %s", what, name ? name : "", c->path);
    return -1;
}

/* Append ".name" (or "[i]" when name is NULL) to the path; returns the old length. */
static size_t js_push(struct js_conv *c, const char *name, size_t i) {
    size_t at = strlen(c->path);
    if (name)
        snprintf(c->path + at, sizeof c->path - at, ".%s", name);
    else
        snprintf(c->path + at, sizeof c->path - at, "[%u]", (unsigned)i);
    return at;
}

/* A GBNF literal matching exactly the JSON text of v. */
static void js_literal(struct hbuf *e, const struct json_value *v) {
    struct hbuf text;
    struct json_writer w;
    hbuf_init(&text);
    json_write_init(&w, &text);
    json_write_value(&w, v);
    hbuf_puts(e, "\"");
    for (size_t i = 0; i < text.len; i++) {
        char ch = text.data[i];
        if (ch == '"' || ch == '\\')
            hbuf_puts(e, "\\");
        hbuf_append(e, &ch, 1);
    }
    hbuf_puts(e, "\"");
    e->failed |= text.failed;
    hbuf_free(&text);
}

/* A count keyword: absent (*out unchanged), or an integer in 0..max. */
static int js_count(struct js_conv *c, const struct json_value *s, const char *key, int max,
                    int *out) {
    const struct json_value *v = json_get(s, key);
    if (!v)
        return 0;
    if (v->type != JSON_NUMBER || !v->is_int || v->u.num < 0 || v->u.num > max) {
        char what[64];
        snprintf(what, sizeof what, "expected an integer in 0..%d for", max);
        return js_fail(c, what, key);
    }
    *out = (int)v->u.num;
    return 0;
}

/* "{m,n}" ("{m,}" when n < 0) after an item. */
static void js_repeat(struct hbuf *e, int m, int n) {
    if (n < 0)
        hbuf_printf(e, "{%d,}", m);
    else
        hbuf_printf(e, "{%d,%d}", m, n);
}

static int js_rule(struct js_conv *c, const struct json_value *s);

/* The rule of the sub-schema s, reached through `name` (or index i). */
static int js_sub(struct js_conv *c, const struct json_value *s, const char *name, size_t i) {
    size_t at = js_push(c, name, i);
    int id = js_rule(c, s);
    c->path[at] = '\0';
    return id;
}

/*
 * `pattern`: a regular expression of the subset below as a GBNF expression for the
 * characters of a JSON string (no escapes: a quote, a backslash or a control character
 * cannot be matched). The pattern must be anchored (^...$), as llama.cpp requires.
 *   alternatives  a|b     groups (...) (?:...)     any character .
 *   classes  [abc] [a-z] [^...]  with \d \w \s      escapes \d \w \s \. \( ...
 *   repetition  * + ? {m} {m,} {m,n} (m, n <= 64)
 * Anything else (lookaround, backreferences, lazy repetition, \b...) is refused.
 */
struct js_re {
    const char *p, *end; /* the pattern left to read */
    struct hbuf *e;      /* the GBNF written */
    const char *why;     /* what was refused, first */
};

static bool js_re_fail(struct js_re *r, const char *why) {
    if (!r->why)
        r->why = why;
    return false;
}

/* The class text of \d, \w or \s (without brackets); NULL for another letter. */
static const char *js_re_shorthand(char ch) {
    return ch == 'd'   ? "\\x30-\\x39"
           : ch == 'w' ? "\\x30-\\x39\\x41-\\x5A\\x61-\\x7A\\x5F"
           : ch == 's' ? "\\x20"
                       : NULL;
}

/* A character a JSON string holds as itself: printable ASCII but " and \. */
static bool js_re_plain(uint8_t ch) {
    return ch >= 0x20 && ch < 0x7F && ch != '"' && ch != '\\';
}

static bool js_re_meta(char ch) {
    return ch && strchr(".^$*+?()[]{}|/-\\", ch) != NULL;
}

/* [...] after the '[' */
static bool js_re_class(struct js_re *r) {
    bool neg = r->p < r->end && *r->p == '^';
    r->p += neg;
    hbuf_puts(r->e, neg ? "[^" : "[");
    bool first = true;
    while (r->p < r->end && (*r->p != ']' || first)) {
        first = false;
        uint8_t lo = (uint8_t)*r->p++;
        if (lo == '\\' && r->p < r->end) {
            char esc = *r->p++;
            if (js_re_shorthand(esc)) {
                hbuf_puts(r->e, js_re_shorthand(esc));
                continue;
            }
            if (!js_re_meta(esc))
                return js_re_fail(r, "an unsupported escape in");
            lo = (uint8_t)esc;
        }
        uint8_t hi = lo;
        if (r->p + 1 < r->end && *r->p == '-' && r->p[1] != ']') {
            hi = (uint8_t)r->p[1];
            r->p += 2;
            if (hi == '\\')
                return js_re_fail(r, "an unsupported range in");
        }
        if (hi < lo || !js_re_plain(lo) || !js_re_plain(hi) || (lo < '"' && hi > '"') ||
            (lo < '\\' && hi > '\\'))
            return js_re_fail(r, "a class with a character a JSON string escapes in");
        hbuf_printf(r->e, lo == hi ? "\\x%02X" : "\\x%02X-\\x%02X", lo, hi);
    }
    if (r->p >= r->end)
        return js_re_fail(r, "an unclosed class in");
    r->p++;
    hbuf_puts(r->e, neg ? "\\x22\\x5C\\x7F\\x00-\\x1F]" : "]");
    return true;
}

/* One atom: a group, a class, '.', an escape or a character. */
static bool js_re_atom(struct js_re *r, bool (*alt)(struct js_re *)) {
    uint8_t ch = (uint8_t)*r->p++;
    if (ch == '(') {
        if (r->p + 1 < r->end && r->p[0] == '?' && r->p[1] == ':')
            r->p += 2;
        else if (r->p < r->end && *r->p == '?')
            return js_re_fail(r, "a lookaround in");
        hbuf_puts(r->e, "( ");
        if (!alt(r))
            return false;
        if (r->p >= r->end || *r->p != ')')
            return js_re_fail(r, "an unclosed group in");
        r->p++;
        hbuf_puts(r->e, " )");
        return true;
    }
    if (ch == '[')
        return js_re_class(r);
    if (ch == '.') {
        hbuf_puts(r->e, "[^\\x22\\x5C\\x7F\\x00-\\x1F]");
        return true;
    }
    if (ch == '\\') {
        char esc = r->p < r->end ? *r->p++ : 0;
        if (js_re_shorthand(esc)) {
            hbuf_printf(r->e, "[%s]", js_re_shorthand(esc));
            return true;
        }
        if (!js_re_meta(esc) || !js_re_plain((uint8_t)esc))
            return js_re_fail(r, "an unsupported escape in");
        ch = (uint8_t)esc;
    } else if (js_re_meta((char)ch) && ch != '-' && ch != '/') { /* those two are literal */
        return js_re_fail(r, "a misplaced special character in");
    }
    if (ch >= 0x80) { /* a UTF-8 character: its bytes as they are */
        const char *start = r->p - 1;
        while (r->p < r->end && ((uint8_t)*r->p & 0xC0) == 0x80)
            r->p++;
        hbuf_puts(r->e, "\"");
        hbuf_append(r->e, start, (size_t)(r->p - start));
        hbuf_puts(r->e, "\"");
        return true;
    }
    if (!js_re_plain(ch))
        return js_re_fail(r, "a character a JSON string escapes in");
    hbuf_printf(r->e, "\"\\x%02X\"", ch);
    return true;
}

/* A repetition after an atom, if any. */
static bool js_re_quant(struct js_re *r) {
    if (r->p >= r->end || !strchr("*+?{", *r->p))
        return true;
    char q = *r->p++;
    if (q != '{') {
        hbuf_append(r->e, &q, 1);
    } else {
        int m = 0, n = -1, *at = &m;
        bool comma = false;
        for (; r->p < r->end && *r->p != '}'; r->p++) {
            if (*r->p == ',' && !comma) {
                comma = true;
                n = 0;
                at = &n;
            } else if (*r->p >= '0' && *r->p <= '9' && *at <= GRAMMAR_MAX_REPEAT) {
                *at = *at * 10 + (*r->p - '0');
            } else {
                return js_re_fail(r, "a bad repetition in");
            }
        }
        if (r->p >= r->end || m > GRAMMAR_MAX_REPEAT || n > GRAMMAR_MAX_REPEAT ||
            (comma && r->p[-1] != ',' && n < m))
            return js_re_fail(r, "a repetition past 64 or malformed in");
        r->p++;
        if (!comma)
            hbuf_printf(r->e, "{%d}", m);
        else
            js_repeat(r->e, m, r->p[-2] == ',' ? -1 : n);
    }
    if (r->p < r->end && strchr("*+?{", *r->p))
        return js_re_fail(r, "a lazy or repeated repetition in");
    return true;
}

/* alternatives of sequences, up to a ')' or the end */
static bool js_re_alt(struct js_re *r) {
    for (;;) {
        bool empty = true;
        while (r->p < r->end && *r->p != '|' && *r->p != ')') {
            hbuf_puts(r->e, empty ? "" : " ");
            if (!js_re_atom(r, js_re_alt) || !js_re_quant(r))
                return false;
            empty = false;
        }
        if (empty)
            hbuf_puts(r->e, "\"\"");
        if (r->p >= r->end || *r->p != '|')
            return true;
        r->p++;
        hbuf_puts(r->e, " | ");
    }
}

static int js_pattern(struct js_conv *c, const struct json_value *v, struct hbuf *e) {
    if (v->type != JSON_STRING)
        return js_fail(c, "expected a string for", "pattern");
    const char *s = v->u.str.s;
    size_t n = v->u.str.len;
    if (n < 2 || s[0] != '^' || s[n - 1] != '$' || (n >= 3 && s[n - 2] == '\\'))
        return js_fail(c, "a pattern not anchored as ^...$ in", "pattern");
    struct js_re r = {.p = s + 1, .end = s + n - 1, .e = e};
    hbuf_puts(e, "\"\\\"\" ( ");
    if (!js_re_alt(&r) || r.p != r.end)
        return js_fail(c, r.why ? r.why : "an unmatched ')' in", "pattern");
    hbuf_puts(e, " ) \"\\\"\"");
    return 0;
}

static int js_string(struct js_conv *c, const struct json_value *s, struct hbuf *e) {
    int lo = 0, hi = -1;
    const struct json_value *pattern = json_get(s, "pattern");
    if (pattern && (json_get(s, "minLength") || json_get(s, "maxLength")))
        return js_fail(c, "minLength or maxLength together with", "pattern");
    if (pattern)
        return js_pattern(c, pattern, e);
    if (js_count(c, s, "minLength", GRAMMAR_MAX_REPEAT, &lo) < 0 ||
        js_count(c, s, "maxLength", GRAMMAR_MAX_REPEAT, &hi) < 0)
        return -1;
    if (hi >= 0 && hi < lo)
        return js_fail(c, "maxLength below minLength:", "maxLength");
    hbuf_puts(e, "\"\\\"\" jchar");
    js_repeat(e, lo, hi);
    hbuf_puts(e, " \"\\\"\"");
    return 0;
}

static int js_array(struct js_conv *c, const struct json_value *s, struct hbuf *e) {
    int lo = 0, hi = -1;
    if (js_count(c, s, "minItems", GRAMMAR_MAX_REPEAT + 1, &lo) < 0 ||
        js_count(c, s, "maxItems", GRAMMAR_MAX_REPEAT + 1, &hi) < 0)
        return -1;
    if (hi >= 0 && hi < lo)
        return js_fail(c, "maxItems below minItems:", "maxItems");
    const struct json_value *items = json_get(s, "items");
    char item[16] = "jvalue";
    if (items) {
        int id = js_sub(c, items, "items", 0);
        if (id < 0)
            return -1;
        snprintf(item, sizeof item, "s%d", id);
    }
    hbuf_puts(e, "\"[\" ws ");
    if (hi != 0) {
        int more_lo = lo > 0 ? lo - 1 : 0, more_hi = hi < 0 ? -1 : hi - 1;
        hbuf_printf(e, "%s%s", lo == 0 ? "( " : "", item);
        if (more_hi != 0) {
            hbuf_printf(e, " ( ws \",\" ws %s )", item);
            js_repeat(e, more_lo, more_hi);
        }
        hbuf_puts(e, lo == 0 ? " )? " : " ");
    }
    hbuf_puts(e, "ws \"]\"");
    return 0;
}

/* `"name" ws ":" ws sN` for the property p. */
static void js_member(struct hbuf *e, const struct json_value *p, int id) {
    struct json_value key = {.type = JSON_STRING};
    key.u.str.s = p->key;
    key.u.str.len = p->key_len;
    js_literal(e, &key);
    hbuf_printf(e, " ws \":\" ws s%d", id);
}

static bool js_required(const struct json_value *req, const char *name) {
    for (const struct json_value *r = req ? req->u.list.first : NULL; r; r = r->next)
        if (r->type == JSON_STRING && !strcmp(r->u.str.s, name))
            return true;
    return false;
}

static int js_object(struct js_conv *c, const struct json_value *s, struct hbuf *e) {
    const struct json_value *props = json_get(s, "properties");
    const struct json_value *req = json_get(s, "required");
    const struct json_value *extra = json_get(s, "additionalProperties");
    if (extra && !(extra->type == JSON_BOOL && !extra->boolean))
        return js_fail(c, "unsupported keyword (only false is)", "additionalProperties");
    if (props && props->type != JSON_OBJECT)
        return js_fail(c, "expected an object for", "properties");
    if (req && req->type != JSON_ARRAY)
        return js_fail(c, "expected an array of names for", "required");
    for (const struct json_value *r = req ? req->u.list.first : NULL; r; r = r->next)
        if (r->type != JSON_STRING || !props || !json_get(props, r->u.str.s))
            return js_fail(c, "a required name that is not a property in", "required");
    if (!props || props->u.list.n == 0) {
        hbuf_puts(e, extra ? "\"{\" ws \"}\"" : "jobject");
        return 0;
    }
    if (props->u.list.n > JS_MAX_PROPS)
        return js_fail(c, "more than 64 properties in", "properties");
    int ids[JS_MAX_PROPS];
    bool must[JS_MAX_PROPS];
    const struct json_value *p[JS_MAX_PROPS];
    int n = 0, first = -1;
    size_t at = js_push(c, "properties", 0);
    for (const struct json_value *m = props->u.list.first; m; m = m->next, n++) {
        p[n] = m;
        must[n] = js_required(req, m->key);
        if (must[n] && first < 0)
            first = n;
        ids[n] = js_sub(c, m, m->key, 0);
        if (ids[n] < 0)
            return -1;
    }
    c->path[at] = '\0';
    hbuf_puts(e, "\"{\" ws ");
    if (first < 0) {
        /* nothing required: any in-order subset, the empty one included */
        hbuf_puts(e, "( ");
        for (int i = 0; i < n; i++) {
            hbuf_puts(e, i ? " | " : "");
            js_member(e, p[i], ids[i]);
            for (int j = i + 1; j < n; j++) {
                hbuf_puts(e, " ( ws \",\" ws ");
                js_member(e, p[j], ids[j]);
                hbuf_puts(e, " )?");
            }
        }
        hbuf_puts(e, " )? ");
    } else {
        for (int i = 0; i < n; i++) {
            if (i < first) { /* an optional member before the first required one */
                hbuf_puts(e, "( ");
                js_member(e, p[i], ids[i]);
                hbuf_puts(e, " ws \",\" ws )? ");
            } else if (i == first) {
                js_member(e, p[i], ids[i]);
                hbuf_puts(e, " ");
            } else {
                hbuf_puts(e, must[i] ? "ws \",\" ws " : "( ws \",\" ws ");
                js_member(e, p[i], ids[i]);
                hbuf_puts(e, must[i] ? " " : " )? ");
            }
        }
    }
    hbuf_puts(e, "ws \"}\"");
    return 0;
}

/* The expression of one `type` name. */
static int js_type(struct js_conv *c, const struct json_value *s, const struct json_value *t,
                   struct hbuf *e) {
    if (t->type != JSON_STRING)
        return js_fail(c, "expected a type name for", "type");
    const char *name = t->u.str.s;
    if (!strcmp(name, "string"))
        return js_string(c, s, e);
    if (!strcmp(name, "array"))
        return js_array(c, s, e);
    if (!strcmp(name, "object"))
        return js_object(c, s, e);
    static const char *const simple[][2] = {
        {"number", "jnumber"},
        {"integer", "jinteger"},
        {"boolean", "( \"true\" | \"false\" )"},
        {"null", "\"null\""},
    };
    for (size_t i = 0; i < ARRAY_SIZE(simple); i++) {
        if (!strcmp(name, simple[i][0])) {
            hbuf_puts(e, simple[i][1]);
            return 0;
        }
    }
    return js_fail(c, "unsupported type", name);
}

/* The expression matching schema s (its sub-schemas already written as rules). */
static int js_expr(struct js_conv *c, const struct json_value *s, struct hbuf *e) {
    if (s->type == JSON_BOOL && s->boolean) {
        hbuf_puts(e, "jvalue");
        return 0;
    }
    if (s->type != JSON_OBJECT)
        return js_fail(c, "expected a schema object", "");
    for (const struct json_value *m = s->u.list.first; m; m = m->next) {
        bool known = false;
        for (size_t i = 0; i < ARRAY_SIZE(js_keywords) && !known; i++)
            known = !strcmp(js_keywords[i], m->key);
        if (!known)
            return js_fail(c, "unsupported keyword", m->key);
    }
    const struct json_value *v;
    if ((v = json_get(s, "const"))) {
        js_literal(e, v);
        return 0;
    }
    if ((v = json_get(s, "enum"))) {
        if (v->type != JSON_ARRAY || v->u.list.n == 0)
            return js_fail(c, "expected a non-empty array for", "enum");
        hbuf_puts(e, "( ");
        for (const struct json_value *x = v->u.list.first; x; x = x->next) {
            js_literal(e, x);
            hbuf_puts(e, x->next ? " | " : " )");
        }
        return 0;
    }
    const char *alt = json_get(s, "anyOf") ? "anyOf" : json_get(s, "oneOf") ? "oneOf" : NULL;
    if (alt) {
        v = json_get(s, alt);
        if (v->type != JSON_ARRAY || v->u.list.n == 0)
            return js_fail(c, "expected a non-empty array of schemas for", alt);
        struct hbuf parts;
        hbuf_init(&parts);
        size_t at = js_push(c, alt, 0), i = 0;
        for (const struct json_value *x = v->u.list.first; x; x = x->next, i++) {
            int id = js_sub(c, x, NULL, i);
            if (id < 0) {
                hbuf_free(&parts);
                return -1;
            }
            hbuf_printf(&parts, "%ss%d", i ? " | " : "( ", id);
        }
        c->path[at] = '\0';
        hbuf_append(e, parts.data, parts.len);
        hbuf_puts(e, " )");
        hbuf_free(&parts);
        return 0;
    }
    const struct json_value *t = json_get(s, "type");
    if (t && t->type == JSON_ARRAY) {
        if (t->u.list.n == 0)
            return js_fail(c, "expected a type name or a non-empty list for", "type");
        hbuf_puts(e, "( ");
        for (const struct json_value *x = t->u.list.first; x; x = x->next) {
            if (js_type(c, s, x, e) < 0)
                return -1;
            hbuf_puts(e, x->next ? " | " : " )");
        }
        return 0;
    }
    if (t)
        return js_type(c, s, t, e);
    if (json_get(s, "properties"))
        return js_object(c, s, e);
    if (json_get(s, "items"))
        return js_array(c, s, e);
    hbuf_puts(e, "jvalue");
    return 0;
}

/* Write the rule of s; its id, or -1. */
static int js_rule(struct js_conv *c, const struct json_value *s) {
    struct hbuf e;
    hbuf_init(&e);
    if (js_expr(c, s, &e) < 0) {
        hbuf_free(&e);
        return -1;
    }
    if (c->n_rules >= GRAMMAR_MAX_RULES / 2) {
        hbuf_free(&e);
        return js_fail(c, "the schema has too many parts", "");
    }
    int id = c->n_rules++;
    hbuf_printf(c->out, "s%d ::= ", id);
    hbuf_append(c->out, e.data ? e.data : "", e.len);
    hbuf_puts(c->out, "\n");
    c->out->failed |= e.failed;
    hbuf_free(&e);
    return id;
}

int json_schema_to_gbnf(const struct json_value *schema, struct hbuf *out, char *err, size_t cap) {
    struct js_conv c = {.out = out, .err = err, .cap = cap, .path = "$"};
    if (!schema) {
        hbuf_puts(out, "root ::= jobject\n");
    } else {
        int id = js_rule(&c, schema);
        if (id < 0)
            return -1;
        hbuf_printf(out, "root ::= s%d\n", id);
    }
    hbuf_puts(out, js_common);
    if (out->failed || out->len > GRAMMAR_MAX_SOURCE) {
        snprintf(err, cap, "the schema makes a grammar over %d bytes", GRAMMAR_MAX_SOURCE);
        return -1;
    }
    return 0;
}
