/*
 * The GBNF matcher: sets of parse stacks advanced one code point at a time, for
 * constrained sampling (grammar.h describes the stacks). The compiler is
 * grammar_compile.c. Called by the sampler's grammar step; relies only on port.h.
 */
#include "llm/grammar.h"

/* Does the class at pos match code point cp? *end gets the position after it. */
static bool gr_match(const struct grammar *g, int pos, uint32_t cp, int *end) {
    const struct grammar_elem *e = &g->elems[pos];
    if (e->type == GRAMMAR_CHAR_ANY) {
        *end = pos + 1;
        return true;
    }
    bool neg = e->type == GRAMMAR_CHAR_NOT, found = false;
    do {
        uint32_t lo = g->elems[pos].value, hi = lo;
        if (g->elems[pos + 1].type == GRAMMAR_CHAR_RNG_UPPER) {
            hi = g->elems[pos + 1].value;
            pos++;
        }
        found |= cp >= lo && cp <= hi;
        pos++;
    } while (g->elems[pos].type == GRAMMAR_CHAR_ALT);
    *end = pos;
    return found != neg;
}

/* Could the class at pos match some code point in [lo, hi]? (a character known only
 * by its first bytes) */
static bool gr_match_range(const struct grammar *g, int pos, uint32_t lo, uint32_t hi) {
    const struct grammar_elem *e = &g->elems[pos];
    if (e->type == GRAMMAR_CHAR_ANY || e->type == GRAMMAR_CHAR_NOT)
        return true; /* a negated class leaves almost every character of a range */
    do {
        uint32_t a = g->elems[pos].value, b = a;
        if (g->elems[pos + 1].type == GRAMMAR_CHAR_RNG_UPPER) {
            b = g->elems[pos + 1].value;
            pos++;
        }
        if (a <= hi && b >= lo)
            return true;
        pos++;
    } while (g->elems[pos].type == GRAMMAR_CHAR_ALT);
    return false;
}

struct gr_set {
    struct grammar_stack *s;
    int n;
    bool overflow;
};

static void gr_add(struct gr_set *set, const struct grammar_stack *st) {
    for (int i = 0; i < set->n; i++)
        if (set->s[i].depth == st->depth &&
            !memcmp(set->s[i].pos, st->pos, sizeof(st->pos[0]) * st->depth))
            return;
    if (set->n == GRAMMAR_MAX_STACKS) {
        set->overflow = true;
        return;
    }
    set->s[set->n].depth = st->depth;
    memcpy(set->s[set->n].pos, st->pos, sizeof(st->pos[0]) * st->depth);
    set->n++;
}

/* Add every stack st can become without consuming text: the ends of alternatives
 * popped, rule references replaced by each alternative of the rule. st is changed
 * and restored. */
static void gr_expand(const struct grammar *g, struct grammar_stack *st, struct gr_set *out) {
    if (st->depth == 0) {
        gr_add(out, st);
        return;
    }
    int top = st->pos[st->depth - 1];
    const struct grammar_elem *e = &g->elems[top];
    if (e->type == GRAMMAR_END || e->type == GRAMMAR_ALT) {
        st->depth--;
        gr_expand(g, st, out);
        st->depth++;
        return;
    }
    if (e->type != GRAMMAR_RULE_REF) {
        gr_add(out, st);
        return;
    }
    /* The continuation after the reference stays below the rule's alternatives,
     * unless the reference ends its alternative: then it is dropped (a tail call), so
     * a repetition does not deepen the stack with every round. */
    bool tail = grammar_is_alt_end(g, top + 1);
    if (tail)
        st->depth--;
    else
        st->pos[st->depth - 1] = (uint16_t)(top + 1);
    if (st->depth + 1 > GRAMMAR_MAX_DEPTH) {
        out->overflow = true;
    } else {
        int pos = g->rule_start[e->value];
        for (;;) {
            st->pos[st->depth++] = (uint16_t)pos;
            gr_expand(g, st, out);
            st->depth--;
            while (!grammar_is_alt_end(g, pos))
                pos++;
            if (g->elems[pos].type == GRAMMAR_END)
                break;
            pos++;
        }
    }
    if (tail)
        st->depth++;
    st->pos[st->depth - 1] = (uint16_t)top;
}

/* next = the stacks of cur after code point cp. */
static void gr_step(const struct grammar *g, const struct gr_set *cur, uint32_t cp,
                    struct gr_set *next) {
    next->n = 0;
    for (int i = 0; i < cur->n; i++) {
        struct grammar_stack st = cur->s[i];
        int end;
        if (st.depth == 0 || !gr_match(g, st.pos[st.depth - 1], cp, &end))
            continue;
        st.pos[st.depth - 1] = (uint16_t)end;
        gr_expand(g, &st, next);
    }
}

int grammar_state_init(struct grammar_state *s, const struct grammar *g, char *err, size_t errlen) {
    memset(s, 0, sizeof(*s));
    s->g = g;
    s->stacks = port_alloc(sizeof(*s->stacks) * GRAMMAR_MAX_STACKS);
    s->scratch = port_alloc(sizeof(*s->scratch) * 2 * GRAMMAR_MAX_STACKS);
    if (!s->stacks || !s->scratch) {
        grammar_state_free(s);
        return port_fail(err, errlen, "grammar: out of memory");
    }
    struct gr_set set = {s->stacks, 0, false};
    struct grammar_stack st = {.depth = 1};
    st.pos[0] = (uint16_t)g->rule_start[g->root];
    /* root's alternatives, each expanded */
    for (int pos = st.pos[0];;) {
        st.pos[0] = (uint16_t)pos;
        gr_expand(g, &st, &set);
        while (!grammar_is_alt_end(g, pos))
            pos++;
        if (g->elems[pos].type == GRAMMAR_END)
            break;
        pos++;
    }
    s->n_stacks = set.n;
    if (set.overflow) {
        grammar_state_free(s);
        return port_fail(err, errlen, "grammar: its start passes GRAMMAR_MAX_STACKS/DEPTH");
    }
    return 0;
}

void grammar_state_free(struct grammar_state *s) {
    port_free(s->stacks);
    port_free(s->scratch);
    s->stacks = s->scratch = NULL;
    s->n_stacks = 0;
}

void grammar_state_copy(struct grammar_state *dst, const struct grammar_state *src) {
    memcpy(dst->stacks, src->stacks, sizeof(*src->stacks) * (size_t)src->n_stacks);
    dst->n_stacks = src->n_stacks;
    memcpy(dst->partial, src->partial, sizeof(src->partial));
    dst->n_partial = src->n_partial;
    dst->overflow = src->overflow;
    dst->g = src->g;
}

/* Length of a UTF-8 sequence from its first byte, 0 if it cannot start one. */
static int gr_utf8_len(uint8_t c) {
    return c < 0x80             ? 1
           : (c & 0xe0) == 0xc0 ? 2
           : (c & 0xf0) == 0xe0 ? 3
           : (c & 0xf8) == 0xf0 ? 4
                                : 0;
}

/* The smallest code point a sequence of len bytes may encode: a smaller one is an
 * overlong form (F0 80 81 BB is not "{"), which is not UTF-8. */
static uint32_t gr_utf8_min(int len) {
    return len == 2 ? 0x80 : len == 3 ? 0x800 : len == 4 ? 0x10000 : 0;
}

/*
 * Run the text's pending bytes and bytes[0..n) through the stacks. The result is in
 * *res (one of the scratch sets, or the state's own set when nothing complete came);
 * *tail gets how many bytes at the end form an incomplete character. false if a byte
 * is not UTF-8 or a character is refused.
 */
static bool gr_run(struct grammar_state *s, const uint8_t *bytes, size_t n, struct gr_set *res,
                   size_t *tail) {
    uint8_t head[4];
    size_t np = (size_t)s->n_partial;
    memcpy(head, s->partial, np);
    struct gr_set a = {s->scratch, 0, false}, b = {s->scratch + GRAMMAR_MAX_STACKS, 0, false};
    struct gr_set cur = {s->stacks, s->n_stacks, false};
    size_t total = np + n, i = 0;
#define GR_BYTE(k) ((k) < np ? head[k] : bytes[(k) - np])
    while (i < total) {
        int len = gr_utf8_len(GR_BYTE(i));
        if (!len)
            return false;
        if (i + (size_t)len > total)
            break;
        uint32_t cp = len == 1   ? GR_BYTE(i)
                      : len == 2 ? GR_BYTE(i) & 0x1fu
                      : len == 3 ? GR_BYTE(i) & 0x0fu
                                 : GR_BYTE(i) & 0x07u;
        for (int k = 1; k < len; k++) {
            uint8_t c = GR_BYTE(i + (size_t)k);
            if ((c & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (c & 0x3fu);
        }
        if (cp < gr_utf8_min(len) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        struct gr_set *next = cur.s == a.s ? &b : &a;
        gr_step(s->g, &cur, cp, next);
        if (next->overflow)
            s->overflow = true;
        if (next->n == 0)
            return false;
        cur = *next;
        i += (size_t)len;
    }
    *tail = total - i;
    if (*tail) {
        /* the range of code points the incomplete character can still become */
        int len = gr_utf8_len(GR_BYTE(i));
        uint32_t lo = len == 2   ? GR_BYTE(i) & 0x1fu
                      : len == 3 ? GR_BYTE(i) & 0x0fu
                                 : GR_BYTE(i) & 0x07u;
        for (size_t k = 1; k < *tail; k++) {
            uint8_t c = GR_BYTE(i + k);
            if ((c & 0xc0) != 0x80)
                return false;
            lo = lo << 6 | (c & 0x3fu);
        }
        uint32_t hi = lo;
        for (size_t k = *tail; k < (size_t)len; k++) {
            lo <<= 6;
            hi = hi << 6 | 0x3f;
        }
        lo = MAX(lo, gr_utf8_min(len));
        hi = MIN(hi, 0x10FFFFu);
        if (lo > hi)
            return false;
        bool any = false;
        for (int k = 0; k < cur.n && !any; k++)
            any = cur.s[k].depth && gr_match_range(s->g, cur.s[k].pos[cur.s[k].depth - 1], lo, hi);
        if (!any)
            return false;
    }
#undef GR_BYTE
    *res = cur;
    return true;
}

bool grammar_accepts(struct grammar_state *s, const uint8_t *bytes, size_t n) {
    struct gr_set res;
    size_t tail;
    bool overflow = s->overflow;
    bool ok = gr_run(s, bytes, n, &res, &tail);
    s->overflow = overflow;
    return ok;
}

int grammar_advance(struct grammar_state *s, const uint8_t *bytes, size_t n) {
    struct gr_set res;
    size_t tail;
    uint8_t last[4];
    size_t np = (size_t)s->n_partial;
    if (!gr_run(s, bytes, n, &res, &tail) || s->overflow)
        return -1;
    /* the incomplete character's bytes, from the old partial bytes and the new ones */
    for (size_t k = 0; k < tail; k++) {
        size_t from = np + n - tail + k;
        last[k] = from < np ? s->partial[from] : bytes[from - np];
    }
    if (res.s != s->stacks)
        memcpy(s->stacks, res.s, sizeof(*res.s) * (size_t)res.n);
    s->n_stacks = res.n;
    memcpy(s->partial, last, tail);
    s->n_partial = (int)tail;
    return 0;
}

bool grammar_complete(const struct grammar_state *s) {
    if (s->n_partial)
        return false;
    for (int i = 0; i < s->n_stacks; i++)
        if (s->stacks[i].depth == 0)
            return true;
    return false;
}

bool grammar_done(const struct grammar_state *s) {
    return s->n_partial == 0 && s->n_stacks == 1 && s->stacks[0].depth == 0;
}
