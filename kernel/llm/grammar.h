/*
 * grammar: constrained sampling by a context-free grammar in llama.cpp's GBNF notation.
 * The API compiles a request's `grammar` (or the GBNF that schema.c makes from a JSON
 * schema) once; each generation keeps a grammar_state, asks before sampling which
 * tokens may follow (grammar_accepts on the token's bytes) and advances it with the
 * bytes of the token it sampled. Relies only on port.h.
 *
 * GBNF, as written here:
 *   rule        name ::= alternatives        (a rule ends at a newline outside brackets)
 *   alternatives  sequence ( "|" sequence )*
 *   sequence    ( item postfix? )*           (empty: matches nothing, i.e. "")
 *   item        "literal" | [class] | [^class] | . | name | ( alternatives )
 *   postfix     * | + | ? | {m} | {m,} | {m,n}
 *   escapes     \n \r \t \\ \" \' \[ \] \- \/ \xHH \uHHHH \UHHHHHHHH
 *   comment     # to the end of the line
 * The start symbol is `root`. Text is matched as Unicode code points (UTF-8); a token
 * whose bytes end inside a character is matched as far as the character is known.
 *
 * Representation (after llama.cpp's): every rule is a flat list of elements, its
 * alternatives separated by GRAMMAR_ALT and closed by GRAMMAR_END; a character class
 * is GRAMMAR_CHAR/CHAR_NOT followed by optional RNG_UPPER and CHAR_ALT elements. Groups
 * and repetitions become generated rules. A parse in progress is a set of stacks of
 * element positions (a pushdown automaton with every live path kept); each stack's top
 * is a character class to match next, an empty stack means the text may end there.
 * Left-recursive grammars are refused when compiled (their expansion would not end).
 *
 * Memory: grammar_compile allocates the compiled grammar (grammar_free releases it);
 * a grammar_state owns its stack sets (grammar_state_free). Limits below bound both;
 * a grammar or a text that would pass them is refused with a message, never truncated.
 */
#ifndef CLLM_LLM_GRAMMAR_H
#define CLLM_LLM_GRAMMAR_H

#include "port.h"

#define GRAMMAR_MAX_SOURCE 65536 /* bytes of GBNF text */
#define GRAMMAR_MAX_RULES 1024   /* rules, generated ones included */
#define GRAMMAR_MAX_ELEMS 16384  /* elements of all rules */
#define GRAMMAR_MAX_DEPTH 64     /* nested rule references of one parse path */
#define GRAMMAR_MAX_STACKS 128   /* parse paths alive at once */
#define GRAMMAR_MAX_REPEAT 64    /* m and n of {m,n} */

enum grammar_elem_type {
    GRAMMAR_END = 0,        /* end of a rule */
    GRAMMAR_ALT,            /* start of the next alternative */
    GRAMMAR_RULE_REF,       /* value: rule id */
    GRAMMAR_CHAR,           /* value: code point; starts a class */
    GRAMMAR_CHAR_NOT,       /* value: code point; starts a negated class */
    GRAMMAR_CHAR_RNG_UPPER, /* value: upper end of the range the previous element starts */
    GRAMMAR_CHAR_ALT,       /* value: another code point of the class */
    GRAMMAR_CHAR_ANY,       /* any code point ('.') */
};

struct grammar_elem {
    uint32_t type; /* enum grammar_elem_type */
    uint32_t value;
};

struct grammar {
    struct grammar_elem *elems; /* (n_elems) every rule, one after another */
    int n_elems;
    int32_t *rule_start; /* (n_rules) index of each rule's first element */
    int n_rules;
    int root; /* rule id of `root` */
};

/* One parse path: element positions, the top (next to match) last. */
struct grammar_stack {
    uint16_t depth;
    uint16_t pos[GRAMMAR_MAX_DEPTH];
};

struct grammar_state {
    const struct grammar *g;
    struct grammar_stack *stacks; /* (GRAMMAR_MAX_STACKS) the live paths */
    int n_stacks;
    struct grammar_stack *scratch; /* (2 * GRAMMAR_MAX_STACKS) for advancing */
    uint8_t partial[4];            /* bytes of a character not complete yet */
    int n_partial;
    bool overflow; /* a path passed GRAMMAR_MAX_DEPTH/_STACKS */
};

/* True at the end of an alternative (GRAMMAR_ALT or GRAMMAR_END). */
static inline bool grammar_is_alt_end(const struct grammar *g, int pos) {
    return g->elems[pos].type == GRAMMAR_END || g->elems[pos].type == GRAMMAR_ALT;
}

/* grammar_compile.c: compile GBNF src[0..len). 0 and *out set, or -1 with err naming the line,
 * column and what is wrong ("line 3 col 7: undefined rule `valu`"). */
int grammar_compile(struct grammar **out, const char *src, size_t len, char *err, size_t errlen);
void grammar_free(struct grammar *g);

/* A state at the start of the text. 0, or -1 (out of memory, or the grammar's start
 * already passes the limits) with err set. */
int grammar_state_init(struct grammar_state *s, const struct grammar *g, char *err, size_t errlen);
void grammar_state_free(struct grammar_state *s);
/* Copy src into dst (both initialised for the same grammar). */
void grammar_state_copy(struct grammar_state *dst, const struct grammar_state *src);

/* Would the text so far followed by bytes[0..n) still be a prefix of a sentence?
 * Does not change s. Invalid UTF-8 is never accepted; n == 0 is accepted. */
bool grammar_accepts(struct grammar_state *s, const uint8_t *bytes, size_t n);

/* Append bytes[0..n) to the text. 0, or -1 when they are not accepted (s unchanged)
 * or a limit was passed (s->overflow set). */
int grammar_advance(struct grammar_state *s, const uint8_t *bytes, size_t n);

/* True if the text so far is a whole sentence (generation may end here). */
bool grammar_complete(const struct grammar_state *s);

/* True if no more text can follow (the only way on is to end). */
bool grammar_done(const struct grammar_state *s);

#endif
