/*
 * The GBNF compiler: grammar text -> rules of elements (grammar.h describes both),
 * groups and repetitions rewritten as generated rules, undefined rules and left
 * recursion refused with the place named. Called by the API to check a request's
 * grammar; the matcher is grammar.c. Relies only on port.h.
 */
#include "llm/grammar.h"

struct gb_rule {
    struct grammar_elem *e; /* (cap) */
    int n, cap;
    const char *name; /* inside the source, name_len bytes; NULL for generated rules */
    size_t name_len;
    bool defined;
    const char *ref_at; /* where it was first used, for "undefined rule" */
};

struct gb {
    const char *src, *p, *end;
    struct gb_rule *rules; /* (GRAMMAR_MAX_RULES) */
    int n_rules;
    int n_elems;
    char *err;
    size_t errlen;
    bool failed;
};

static int gb_line(const struct gb *b, const char *at, int *col) {
    int line = 1;
    const char *ls = b->src;
    for (const char *q = b->src; q < at; q++)
        if (*q == '\n') {
            line++;
            ls = q + 1;
        }
    *col = (int)(at - ls) + 1;
    return line;
}

static int gb_fail(struct gb *b, const char *at, const char *what) {
    if (!b->failed) {
        int col, line = gb_line(b, at, &col);
        port_fail(b->err, b->errlen, "grammar: line %d col %d: %s", line, col, what);
    }
    b->failed = true;
    return -1;
}

static int gb_push(struct gb *b, int rule, uint32_t type, uint32_t value) {
    struct gb_rule *r = &b->rules[rule];
    if (b->n_elems >= GRAMMAR_MAX_ELEMS)
        return gb_fail(b, b->p, "too many elements (GRAMMAR_MAX_ELEMS)");
    if (r->n == r->cap) {
        int cap = r->cap ? r->cap * 2 : 16;
        struct grammar_elem *e = port_alloc(sizeof(*e) * (size_t)cap);
        if (!e)
            return gb_fail(b, b->p, "out of memory");
        if (r->n)
            memcpy(e, r->e, sizeof(*e) * (size_t)r->n);
        port_free(r->e);
        r->e = e;
        r->cap = cap;
    }
    r->e[r->n++] = (struct grammar_elem){type, value};
    b->n_elems++;
    return 0;
}

static int gb_new_rule(struct gb *b) {
    if (b->n_rules >= GRAMMAR_MAX_RULES)
        return gb_fail(b, b->p, "too many rules (GRAMMAR_MAX_RULES)");
    memset(&b->rules[b->n_rules], 0, sizeof(b->rules[0]));
    return b->n_rules++;
}

static bool gb_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

/* The id of rule `name` (created undefined on first use), or -1. */
static int gb_rule_id(struct gb *b, const char *name, size_t len) {
    for (int i = 0; i < b->n_rules; i++)
        if (b->rules[i].name && b->rules[i].name_len == len && !memcmp(b->rules[i].name, name, len))
            return i;
    int id = gb_new_rule(b);
    if (id < 0)
        return -1;
    b->rules[id].name = name;
    b->rules[id].name_len = len;
    b->rules[id].ref_at = name;
    return id;
}

/* Skip blanks and comments; newlines only when `newlines`. */
static void gb_space(struct gb *b, bool newlines) {
    while (b->p < b->end) {
        char c = *b->p;
        if (c == ' ' || c == '\t' || c == '\r' || (newlines && c == '\n')) {
            b->p++;
        } else if (c == '#') {
            while (b->p < b->end && *b->p != '\n')
                b->p++;
        } else {
            break;
        }
    }
}

static int gb_hex(struct gb *b, int digits, uint32_t *out) {
    uint32_t v = 0;
    for (int i = 0; i < digits; i++, b->p++) {
        if (b->p >= b->end)
            return gb_fail(b, b->p, "escape cut short");
        char c = *b->p;
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return gb_fail(b, b->p, "bad hex digit in escape");
        v = v << 4 | (uint32_t)d;
    }
    if (v > 0x10ffff)
        return gb_fail(b, b->p, "escape past U+10FFFF");
    *out = v;
    return 0;
}

/* One character of a literal or class: an escape or a UTF-8 sequence. */
static int gb_char(struct gb *b, uint32_t *out) {
    if (b->p >= b->end)
        return gb_fail(b, b->p, "unexpected end of grammar");
    const uint8_t *s = (const uint8_t *)b->p;
    if (*s == '\\') {
        b->p++;
        if (b->p >= b->end)
            return gb_fail(b, b->p, "escape cut short");
        char c = *b->p++;
        switch (c) {
        case 'n':
            *out = '\n';
            return 0;
        case 'r':
            *out = '\r';
            return 0;
        case 't':
            *out = '\t';
            return 0;
        case 'x':
            return gb_hex(b, 2, out);
        case 'u':
            return gb_hex(b, 4, out);
        case 'U':
            return gb_hex(b, 8, out);
        case '\\':
        case '"':
        case '\'':
        case '[':
        case ']':
        case '-':
        case '/':
        case '^':
            *out = (uint32_t)c;
            return 0;
        default:
            return gb_fail(b, b->p - 1, "unknown escape");
        }
    }
    size_t left = (size_t)(b->end - b->p);
    int n = *s < 0x80             ? 1
            : (*s & 0xe0) == 0xc0 ? 2
            : (*s & 0xf0) == 0xe0 ? 3
            : (*s & 0xf8) == 0xf0 ? 4
                                  : 0;
    if (!n || (size_t)n > left)
        return gb_fail(b, b->p, "invalid UTF-8");
    uint32_t v = n == 1 ? *s : n == 2 ? *s & 0x1fu : n == 3 ? *s & 0x0fu : *s & 0x07u;
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return gb_fail(b, b->p, "invalid UTF-8");
        v = v << 6 | (s[i] & 0x3fu);
    }
    b->p += n;
    *out = v;
    return 0;
}

static int gb_alternatives(struct gb *b, int rule, bool nested);

/* Repeat the symbol rule->e[start..n) by the postfix at b->p, through generated rules. */
static int gb_repeat(struct gb *b, int rule, int start, int min, int max /* -1: unbounded */) {
    struct gb_rule *r = &b->rules[rule];
    int len = r->n - start;
    struct grammar_elem sym[64];
    if (len > (int)(sizeof(sym) / sizeof(sym[0]))) {
        /* A long literal: make it a rule of its own first. */
        int sub = gb_new_rule(b);
        if (sub < 0)
            return -1;
        r = &b->rules[rule];
        for (int i = 0; i < len; i++)
            if (gb_push(b, sub, r->e[start + i].type, r->e[start + i].value))
                return -1;
        if (gb_push(b, sub, GRAMMAR_END, 0))
            return -1;
        r = &b->rules[rule];
        b->n_elems -= len;
        r->n = start;
        if (gb_push(b, rule, GRAMMAR_RULE_REF, (uint32_t)sub))
            return -1;
        r = &b->rules[rule];
        len = 1;
    }
    memcpy(sym, &r->e[start], sizeof(sym[0]) * (size_t)len);
    b->n_elems -= len;
    r->n = start;
    for (int i = 0; i < min; i++)
        for (int j = 0; j < len; j++)
            if (gb_push(b, rule, sym[j].type, sym[j].value))
                return -1;
    if (max == min)
        return 0;
    /* The rest: opt ::= sym opt | "" (unbounded), or max - min nested optionals. */
    int n_opt = max < 0 ? 1 : max - min;
    int prev = -1;
    for (int k = 0; k < n_opt; k++) {
        int opt = gb_new_rule(b);
        if (opt < 0)
            return -1;
        for (int j = 0; j < len; j++)
            if (gb_push(b, opt, sym[j].type, sym[j].value))
                return -1;
        if (max < 0 && gb_push(b, opt, GRAMMAR_RULE_REF, (uint32_t)opt))
            return -1;
        if (prev >= 0 && gb_push(b, opt, GRAMMAR_RULE_REF, (uint32_t)prev))
            return -1;
        if (gb_push(b, opt, GRAMMAR_ALT, 0) || gb_push(b, opt, GRAMMAR_END, 0))
            return -1;
        prev = opt;
    }
    return gb_push(b, rule, GRAMMAR_RULE_REF, (uint32_t)prev);
}

static int gb_number(struct gb *b, int *out) {
    if (b->p >= b->end || *b->p < '0' || *b->p > '9')
        return gb_fail(b, b->p, "expected a number");
    int v = 0;
    while (b->p < b->end && *b->p >= '0' && *b->p <= '9') {
        v = v * 10 + (*b->p++ - '0');
        if (v > GRAMMAR_MAX_REPEAT)
            return gb_fail(b, b->p, "repetition count over GRAMMAR_MAX_REPEAT");
    }
    *out = v;
    return 0;
}

static int gb_class(struct gb *b, int rule) {
    b->p++; /* '[' */
    bool neg = b->p < b->end && *b->p == '^';
    if (neg)
        b->p++;
    uint32_t type = neg ? GRAMMAR_CHAR_NOT : GRAMMAR_CHAR;
    bool first = true;
    while (b->p < b->end && *b->p != ']') {
        uint32_t lo, hi;
        if (gb_char(b, &lo) || gb_push(b, rule, first ? type : GRAMMAR_CHAR_ALT, lo))
            return -1;
        first = false;
        if (b->p + 1 < b->end && *b->p == '-' && b->p[1] != ']') {
            b->p++;
            if (gb_char(b, &hi))
                return -1;
            if (hi < lo)
                return gb_fail(b, b->p, "character range upside down");
            if (gb_push(b, rule, GRAMMAR_CHAR_RNG_UPPER, hi))
                return -1;
        }
    }
    if (b->p >= b->end)
        return gb_fail(b, b->p, "unterminated character class");
    if (first)
        return gb_fail(b, b->p, "empty character class");
    b->p++;
    return 0;
}

static int gb_sequence(struct gb *b, int rule, bool nested) {
    int last = -1; /* start of the last symbol, for a postfix */
    for (;;) {
        gb_space(b, nested);
        if (b->p >= b->end)
            return 0;
        char c = *b->p;
        int start = b->rules[rule].n;
        if (c == '"') {
            b->p++;
            while (b->p < b->end && *b->p != '"') {
                uint32_t cp;
                if (gb_char(b, &cp) || gb_push(b, rule, GRAMMAR_CHAR, cp))
                    return -1;
            }
            if (b->p >= b->end)
                return gb_fail(b, b->p, "unterminated string");
            b->p++;
            last = b->rules[rule].n > start ? start : -1; /* "" is nothing to repeat */
        } else if (c == '[') {
            if (gb_class(b, rule))
                return -1;
            last = start;
        } else if (c == '.') {
            b->p++;
            if (gb_push(b, rule, GRAMMAR_CHAR_ANY, 0))
                return -1;
            last = start;
        } else if (c == '(') {
            const char *open = b->p++;
            int sub = gb_new_rule(b);
            if (sub < 0 || gb_alternatives(b, sub, true))
                return -1;
            gb_space(b, true);
            if (b->p >= b->end || *b->p != ')')
                return gb_fail(b, open, "unclosed '('");
            b->p++;
            if (gb_push(b, rule, GRAMMAR_RULE_REF, (uint32_t)sub))
                return -1;
            last = start;
        } else if (gb_name_char(c)) {
            const char *name = b->p;
            while (b->p < b->end && gb_name_char(*b->p))
                b->p++;
            const char *after = b->p;
            gb_space(b, false);
            if (b->end - b->p >= 3 && !memcmp(b->p, "::=", 3)) {
                b->p = name; /* the next rule starts here */
                return nested ? gb_fail(b, name, "rule definition inside brackets") : 0;
            }
            b->p = after;
            int id = gb_rule_id(b, name, (size_t)(after - name));
            if (id < 0 || gb_push(b, rule, GRAMMAR_RULE_REF, (uint32_t)id))
                return -1;
            last = start;
        } else if (c == '*' || c == '+' || c == '?' || c == '{') {
            if (last < 0)
                return gb_fail(b, b->p, "repetition of nothing");
            int min = 0, max = -1;
            b->p++;
            if (c == '+')
                min = 1;
            else if (c == '?')
                max = 1;
            else if (c == '{') {
                gb_space(b, false);
                if (gb_number(b, &min))
                    return -1;
                gb_space(b, false);
                max = min;
                if (b->p < b->end && *b->p == ',') {
                    b->p++;
                    gb_space(b, false);
                    max = -1;
                    if (b->p < b->end && *b->p != '}' && gb_number(b, &max))
                        return -1;
                    gb_space(b, false);
                }
                if (b->p >= b->end || *b->p != '}')
                    return gb_fail(b, b->p, "expected '}'");
                b->p++;
                if (max >= 0 && max < min)
                    return gb_fail(b, b->p, "repetition {m,n} with n < m");
            }
            if (gb_repeat(b, rule, last, min, max))
                return -1;
            last = -1;
        } else {
            return 0; /* '|', ')', a newline or something the caller judges */
        }
    }
}

static int gb_alternatives(struct gb *b, int rule, bool nested) {
    if (gb_sequence(b, rule, nested))
        return -1;
    for (;;) {
        gb_space(b, nested);
        if (b->p >= b->end || *b->p != '|')
            break;
        b->p++;
        gb_space(b, true);
        if (gb_push(b, rule, GRAMMAR_ALT, 0) || gb_sequence(b, rule, nested))
            return -1;
    }
    return gb_push(b, rule, GRAMMAR_END, 0);
}

static int gb_rules(struct gb *b) {
    for (;;) {
        gb_space(b, true);
        if (b->p >= b->end)
            return 0;
        const char *name = b->p;
        while (b->p < b->end && gb_name_char(*b->p))
            b->p++;
        if (b->p == name)
            return gb_fail(b, b->p, "expected a rule name");
        int id = gb_rule_id(b, name, (size_t)(b->p - name));
        if (id < 0)
            return -1;
        if (b->rules[id].defined)
            return gb_fail(b, name, "rule defined twice");
        gb_space(b, false);
        if (b->end - b->p < 3 || memcmp(b->p, "::=", 3))
            return gb_fail(b, b->p, "expected '::='");
        b->p += 3;
        gb_space(b, true);
        b->rules[id].defined = true;
        if (gb_alternatives(b, id, false))
            return -1;
        gb_space(b, false);
        if (b->p < b->end && *b->p != '\n')
            return gb_fail(b, b->p, *b->p == ')' ? "unmatched ')'" : "unexpected character");
    }
}

static bool gr_is_char(uint32_t t) {
    return t == GRAMMAR_CHAR || t == GRAMMAR_CHAR_NOT || t == GRAMMAR_CHAR_ANY;
}

/* Rules that can match the empty text. */
static void gr_nullable(const struct grammar *g, bool *nullable) {
    memset(nullable, 0, sizeof(bool) * (size_t)g->n_rules);
    for (bool changed = true; changed;) {
        changed = false;
        for (int r = 0; r < g->n_rules; r++) {
            if (nullable[r])
                continue;
            int pos = g->rule_start[r];
            for (;;) { /* each alternative */
                bool all = true;
                for (; !grammar_is_alt_end(g, pos); pos++) {
                    const struct grammar_elem *e = &g->elems[pos];
                    if (gr_is_char(e->type) || (e->type == GRAMMAR_RULE_REF && !nullable[e->value]))
                        all = false;
                }
                if (all) {
                    nullable[r] = changed = true;
                    break;
                }
                if (g->elems[pos].type == GRAMMAR_END)
                    break;
                pos++;
            }
        }
    }
}

/* The "rule r can start with rule q" edges: q referenced first in an alternative of
 * r, or after rules that can match nothing. A cycle among them is left recursion.
 * Returns a rule on a cycle, -1 for none, -2 when out of memory. Iterative: a grammar
 * may have GRAMMAR_MAX_RULES rules and the kernel stack is small. */
static int gr_left_rec(const struct grammar *g, const bool *nullable) {
    int n = g->n_rules, hit = -2;
    if (n <= 0)
        return -1;
    int *first = port_alloc(sizeof(int) * (size_t)(n + 1)); /* edges of r: first[r].. */
    int *edge = port_alloc(sizeof(int) * (size_t)(g->n_elems + 1));
    int *stack = port_alloc(sizeof(int) * (size_t)n * 2); /* (rule, next edge) */
    uint8_t *state = port_alloc((size_t)n);               /* 0 new, 1 on path, 2 done */
    if (!first || !edge || !stack || !state)
        goto out;
    int n_edges = 0;
    for (int r = 0; r < n; r++) {
        first[r] = n_edges;
        for (int pos = g->rule_start[r]; g->elems[pos].type != GRAMMAR_END; pos++) {
            bool at_start = pos == g->rule_start[r] || g->elems[pos - 1].type == GRAMMAR_ALT;
            for (int q = pos; at_start && g->elems[q].type == GRAMMAR_RULE_REF; q++) {
                edge[n_edges++] = (int)g->elems[q].value;
                if (!nullable[g->elems[q].value])
                    break;
            }
        }
    }
    first[n] = n_edges;
    memset(state, 0, (size_t)n);
    hit = -1;
    for (int root = 0; root < n && hit < 0; root++) {
        if (state[root])
            continue;
        int sp = 0;
        stack[0] = root;
        stack[1] = first[root];
        state[root] = 1;
        sp = 1;
        while (sp > 0 && hit < 0) {
            int r = stack[2 * (sp - 1)], *next = &stack[2 * (sp - 1) + 1];
            if (*next == first[r + 1]) {
                state[r] = 2;
                sp--;
                continue;
            }
            int q = edge[(*next)++];
            if (state[q] == 1) {
                hit = q;
            } else if (state[q] == 0) {
                state[q] = 1;
                stack[2 * sp] = q;
                stack[2 * sp + 1] = first[q];
                sp++;
            }
        }
    }
out:
    port_free(first);
    port_free(edge);
    port_free(stack);
    port_free(state);
    return hit;
}

static void gb_free_rules(struct gb *b) {
    for (int i = 0; b->rules && i < b->n_rules; i++)
        port_free(b->rules[i].e);
    port_free(b->rules);
}

int grammar_compile(struct grammar **out, const char *src, size_t len, char *err, size_t errlen) {
    *out = NULL;
    if (len > GRAMMAR_MAX_SOURCE)
        return port_fail(err, errlen, "grammar: %lu bytes, more than %d", (unsigned long)len,
                         GRAMMAR_MAX_SOURCE);
    struct gb b = {.src = src, .p = src, .end = src + len, .err = err, .errlen = errlen};
    b.rules = port_alloc(sizeof(*b.rules) * GRAMMAR_MAX_RULES);
    if (!b.rules)
        return port_fail(err, errlen, "grammar: out of memory");
    if (gb_rules(&b)) {
        gb_free_rules(&b);
        return -1;
    }
    int root = -1;
    for (int i = 0; i < b.n_rules; i++) {
        struct gb_rule *r = &b.rules[i];
        if (r->name && !r->defined) {
            int col, line = gb_line(&b, r->ref_at, &col);
            port_fail(err, errlen, "grammar: line %d col %d: undefined rule `%.*s`", line, col,
                      (int)MIN(r->name_len, 64), r->name);
            gb_free_rules(&b);
            return -1;
        }
        if (r->name && r->name_len == 4 && !memcmp(r->name, "root", 4))
            root = i;
    }
    if (root < 0) {
        gb_free_rules(&b);
        return port_fail(err, errlen, "grammar: no `root` rule");
    }
    struct grammar *g = port_alloc(sizeof(*g));
    size_t n = (size_t)b.n_elems;
    if (g) {
        memset(g, 0, sizeof(*g));
        g->elems = port_alloc(sizeof(*g->elems) * n);
        g->rule_start = port_alloc(sizeof(*g->rule_start) * (size_t)b.n_rules);
    }
    if (!g || !g->elems || !g->rule_start) {
        grammar_free(g);
        gb_free_rules(&b);
        return port_fail(err, errlen, "grammar: out of memory");
    }
    for (int i = 0; i < b.n_rules; i++) {
        g->rule_start[i] = g->n_elems;
        memcpy(g->elems + g->n_elems, b.rules[i].e, sizeof(*g->elems) * (size_t)b.rules[i].n);
        g->n_elems += b.rules[i].n;
    }
    g->n_rules = b.n_rules;
    g->root = root;
    bool *nullable = port_alloc(sizeof(bool) * (size_t)g->n_rules);
    int rec = -2;
    if (nullable) {
        gr_nullable(g, nullable);
        rec = gr_left_rec(g, nullable);
    }
    port_free(nullable);
    if (rec != -1) {
        if (rec == -2)
            port_fail(err, errlen, "grammar: out of memory");
        else if (b.rules[rec].name)
            port_fail(err, errlen, "grammar: rule `%.*s` is left-recursive",
                      (int)MIN(b.rules[rec].name_len, 64), b.rules[rec].name);
        else
            port_fail(err, errlen, "grammar: a group or repetition is left-recursive");
        grammar_free(g);
        gb_free_rules(&b);
        return -1;
    }
    gb_free_rules(&b);
    *out = g;
    return 0;
}

void grammar_free(struct grammar *g) {
    if (!g)
        return;
    port_free(g->elems);
    port_free(g->rule_start);
    port_free(g);
}
