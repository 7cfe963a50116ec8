/*
 * tokenizer_bpe.c: byte-level BPE (see tokenizer_bpe.h for the encoding steps). The
 * pre-tokenizers are a table keyed on tokenizer.ggml.pre; each is a list of split
 * steps, and each step is a hand-written matcher for one of llama.cpp's pre-tokenizer
 * regular expressions (written next to it), so the kernel needs no regex engine.
 */
#include "llm/tokenizer_bpe.h"

#include "llm/gguf.h"
#include "llm/tokenizer_heap.h"
#include "llm/tokenizer_unicode.h"
#include "port.h"

/* ---------------------------------------------------------------- pre-tokenizers */

enum bpe_split {
    BPE_SPLIT_END = 0,
    /* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S) */
    BPE_SPLIT_GPT2,
    /* (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
     *  ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
    BPE_SPLIT_LLAMA3,
    /* as LLAMA3 with \p{N} in place of \p{N}{1,3} */
    BPE_SPLIT_QWEN2,
    /* the next four isolate their matches; the text between matches stays a word */
    BPE_SPLIT_DIGIT,      /* \p{N} */
    BPE_SPLIT_PUNCT_RUN,  /* [\p{P}\$\+<=>\^~\|]+ */
    BPE_SPLIT_NUMBER_RUN, /* \p{N}+ */
    BPE_SPLIT_DIGITS3,    /* [0-9][0-9][0-9] */
};

#define BPE_PRE_STEPS 4
#define BPE_PRE_NAMES 4

struct bpe_pre {
    const char *names[BPE_PRE_NAMES]; /* tokenizer.ggml.pre values */
    uint8_t steps[BPE_PRE_STEPS];     /* enum bpe_split, BPE_SPLIT_END-terminated */
    bool ignore_merges;               /* a word that is a token is taken whole */
    bool add_bos;                     /* default of tokenizer.ggml.add_bos_token */
};

/* llama.cpp's pre-tokenizer types, by the names its converter writes. */
static const struct bpe_pre bpe_pres[] = {
    {{"default"},
     {BPE_SPLIT_PUNCT_RUN, BPE_SPLIT_GPT2, BPE_SPLIT_NUMBER_RUN, BPE_SPLIT_DIGITS3},
     false,
     false},
    {{"gpt-2", "gpt2", "phi-2"}, {BPE_SPLIT_GPT2}, false, false},
    {{"smollm", "starcoder", "refact"}, {BPE_SPLIT_DIGIT, BPE_SPLIT_GPT2}, false, false},
    {{"llama-bpe", "llama3", "llama-v3", "falcon3"}, {BPE_SPLIT_LLAMA3}, true, true},
    {{"qwen2", "deepseek-r1-qwen"}, {BPE_SPLIT_QWEN2}, false, false},
};

/* Classes of the code point at c[i] for i < end; nothing past the word's end. */
#define BPE_L 1u
#define BPE_N 2u
#define BPE_S 4u
#define BPE_OTHER 8u /* none of \s, \p{L}, \p{N} */

static unsigned bpe_cls(const uint32_t *c, int i, int end) {
    if (i >= end)
        return 0;
    if (unicode_is_space(c[i]))
        return BPE_S;
    enum unicode_class k = unicode_class_of(c[i]);
    return k == UNICODE_CLASS_LETTER ? BPE_L : k == UNICODE_CLASS_NUMBER ? BPE_N : BPE_OTHER;
}

static uint32_t bpe_lower(uint32_t cp) {
    return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
}

/* 's 't 're 've 'm 'll 'd at c[pos] (case-insensitive if fold): the end, or -1. */
static int bpe_contraction(const uint32_t *c, int pos, int end, bool fold) {
    if (c[pos] != '\'' || pos + 1 >= end)
        return -1;
    uint32_t a = fold ? bpe_lower(c[pos + 1]) : c[pos + 1];
    if (a == 's' || a == 't' || a == 'm' || a == 'd')
        return pos + 2;
    if (pos + 2 >= end)
        return -1;
    uint32_t b = fold ? bpe_lower(c[pos + 2]) : c[pos + 2];
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
        return pos + 3;
    return -1;
}

static int bpe_skip(const uint32_t *c, int i, int end, unsigned cls) {
    while (bpe_cls(c, i, end) & cls)
        i++;
    return i;
}

/* The trailing whitespace rules: \s+(?!\S) leaves the last space of a run for the
 * next word; a run at the end of the text (or a lone space before a word) is whole. */
static int bpe_space_run(const uint32_t *c, int pos, int end) {
    int w = bpe_skip(c, pos, end, BPE_S);
    if (w - pos > 1 && w < end)
        return w - 1;
    return w > pos ? w : pos + 1;
}

static int bpe_match_gpt2(const uint32_t *c, int pos, int end) {
    int m = bpe_contraction(c, pos, end, false);
    if (m >= 0)
        return m;
    int q = c[pos] == ' ' ? pos + 1 : pos; /* the optional leading space */
    unsigned k = bpe_cls(c, q, end);
    if (k & (BPE_L | BPE_N | BPE_OTHER))
        return bpe_skip(c, q + 1, end, k);
    return bpe_space_run(c, pos, end);
}

static int bpe_match_llama3(const uint32_t *c, int pos, int end, int max_digits) {
    int m = bpe_contraction(c, pos, end, true);
    if (m >= 0)
        return m;
    unsigned k = bpe_cls(c, pos, end);
    bool newline = c[pos] == '\r' || c[pos] == '\n';
    /* [^\r\n\p{L}\p{N}]?\p{L}+ */
    if (!newline && !(k & BPE_N) && ((k & BPE_L) || (bpe_cls(c, pos + 1, end) & BPE_L)))
        return bpe_skip(c, pos + 1, end, BPE_L);
    /* \p{N}{1,max_digits} */
    if (k & BPE_N) {
        int q = pos + 1;
        while (q - pos < max_digits && (bpe_cls(c, q, end) & BPE_N))
            q++;
        return q;
    }
    /*  ?[^\s\p{L}\p{N}]+[\r\n]* */
    int q = c[pos] == ' ' ? pos + 1 : pos;
    if (bpe_cls(c, q, end) & BPE_OTHER) {
        q = bpe_skip(c, q + 1, end, BPE_OTHER);
        while (q < end && (c[q] == '\r' || c[q] == '\n'))
            q++;
        return q;
    }
    /* \s*[\r\n]+: up to the last newline of the whitespace run */
    int last_nl = -1;
    for (int w = pos; bpe_cls(c, w, end) & BPE_S; w++) {
        if (c[w] == '\r' || c[w] == '\n')
            last_nl = w + 1;
    }
    if (last_nl > 0)
        return last_nl;
    return bpe_space_run(c, pos, end);
}

/* Length of an isolated match at c[pos] for the isolating steps, 0 if none. */
static int bpe_match_isolated(enum bpe_split step, const uint32_t *c, int pos, int end) {
    switch (step) {
    case BPE_SPLIT_DIGIT:
        return (bpe_cls(c, pos, end) & BPE_N) ? 1 : 0;
    case BPE_SPLIT_NUMBER_RUN:
        return bpe_skip(c, pos, end, BPE_N) - pos;
    case BPE_SPLIT_DIGITS3:
        for (int i = 0; i < 3; i++) {
            if (pos + i >= end || c[pos + i] < '0' || c[pos + i] > '9')
                return 0;
        }
        return 3;
    case BPE_SPLIT_PUNCT_RUN: {
        int q = pos;
        while (q < end && (unicode_class_of(c[q]) == UNICODE_CLASS_PUNCT || c[q] == '$' ||
                           c[q] == '+' || c[q] == '<' || c[q] == '=' || c[q] == '>' ||
                           c[q] == '^' || c[q] == '~' || c[q] == '|'))
            q++;
        return q - pos;
    }
    default:
        return 0;
    }
}

/* Split the word c[start..end) by one step: append the ends of its parts to ends[]. */
static void bpe_split_word(enum bpe_split step, const uint32_t *c, int start, int end, int *ends,
                           int *n_ends) {
    if (step == BPE_SPLIT_GPT2 || step == BPE_SPLIT_LLAMA3 || step == BPE_SPLIT_QWEN2) {
        for (int pos = start; pos < end;) {
            pos = step == BPE_SPLIT_GPT2    ? bpe_match_gpt2(c, pos, end)
                  : step == BPE_SPLIT_QWEN2 ? bpe_match_llama3(c, pos, end, 1)
                                            : bpe_match_llama3(c, pos, end, 3);
            ends[(*n_ends)++] = pos;
        }
        return;
    }
    int gap = start;
    for (int pos = start; pos < end;) {
        int k = bpe_match_isolated(step, c, pos, end);
        if (k == 0) {
            pos++;
            continue;
        }
        if (pos > gap)
            ends[(*n_ends)++] = pos;
        pos += k;
        ends[(*n_ends)++] = pos;
        gap = pos;
    }
    if (end > gap)
        ends[(*n_ends)++] = end;
}

/* ---------------------------------------------------------------- loading */

/* One merge "left right", both sides pointing into the GGUF image. */
struct bpe_merge {
    const char *left, *right;
    uint16_t left_len, right_len;
};

struct tokenizer_bpe {
    const struct bpe_pre *pre;
    int n_merges;
    struct bpe_merge *merges; /* (n_merges) */
    int32_t *hash;            /* (hash_cap) merge rank or -1, open addressing on the pair */
    uint32_t hash_cap;        /* power of two, >= 2 * n_merges */
    uint8_t stand_in[256][2]; /* UTF-8 of each byte's printable stand-in */
    uint8_t stand_in_len[256];
    int16_t byte_of[0x144]; /* the byte a stand-in code point (< 0x144) stands for, or -1 */
};

static uint32_t bpe_hash_pair(const char *a, size_t na, const char *b, size_t nb) {
    uint32_t h = 2166136261u; /* FNV-1a over a, a separator, b */
    for (size_t i = 0; i < na; i++)
        h = (h ^ (uint8_t)a[i]) * 16777619u;
    h = (h ^ 0xFFu) * 16777619u;
    for (size_t i = 0; i < nb; i++)
        h = (h ^ (uint8_t)b[i]) * 16777619u;
    return h;
}

/* Rank of the merge (a, b), or -1. */
static int bpe_rank(const struct tokenizer_bpe *bp, const char *a, size_t na, const char *b,
                    size_t nb) {
    uint32_t mask = bp->hash_cap - 1;
    for (uint32_t i = bpe_hash_pair(a, na, b, nb) & mask;; i = (i + 1) & mask) {
        int32_t r = bp->hash[i];
        if (r < 0)
            return -1;
        const struct bpe_merge *m = &bp->merges[r];
        if (m->left_len == na && m->right_len == nb && memcmp(m->left, a, na) == 0 &&
            memcmp(m->right, b, nb) == 0)
            return r;
    }
}

static void bpe_build_stand_ins(struct tokenizer_bpe *bp) {
    for (int i = 0; i < (int)ARRAY_SIZE(bp->byte_of); i++)
        bp->byte_of[i] = -1;
    int n_other = 0;
    for (int b = 0; b < 256; b++) {
        bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        uint32_t cp = printable ? (uint32_t)b : 0x100u + (uint32_t)n_other++;
        bp->stand_in_len[b] = (uint8_t)unicode_encode(cp, bp->stand_in[b]);
        bp->byte_of[cp] = (int16_t)b;
    }
}

/* Up to 24 bytes of untrusted text for an error message: printable ASCII as it is,
 * other bytes as \xNN, "..." when cut. */
static const char *bpe_quote(const char *s, size_t n, char *buf, size_t cap) {
    size_t o = 0;
    for (size_t i = 0; i < n && i < 24 && o + 8 < cap; i++) {
        uint8_t c = (uint8_t)s[i];
        if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\')
            buf[o++] = (char)c;
        else
            o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
    }
    if (n > 24 && o + 4 < cap) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = 0;
    return buf;
}

static const struct bpe_pre *bpe_find_pre(struct gguf_str name) {
    for (size_t i = 0; i < ARRAY_SIZE(bpe_pres); i++) {
        for (int j = 0; j < BPE_PRE_NAMES && bpe_pres[i].names[j]; j++) {
            if (gguf_str_eq(name, bpe_pres[i].names[j]))
                return &bpe_pres[i];
        }
    }
    return NULL;
}

void tokenizer_bpe_free(struct tokenizer *t) {
    if (!t->bpe)
        return;
    port_free(t->bpe->merges);
    port_free(t->bpe->hash);
    port_free(t->bpe);
    t->bpe = NULL;
}

int tokenizer_bpe_load(struct tokenizer *t, const struct gguf_file *g, char *err, size_t errlen) {
    struct gguf_str pre_name = {"default", 7};
    if (gguf_find_kv(g, "tokenizer.ggml.pre") && !gguf_get_str(g, "tokenizer.ggml.pre", &pre_name))
        return port_fail(err, errlen, "tokenizer.ggml.pre: not a string");
    const struct bpe_pre *pre = bpe_find_pre(pre_name);
    char quoted[128];
    if (!pre)
        return port_fail(err, errlen, "tokenizer.ggml.pre: unsupported pre-tokenizer \"%s\"",
                         bpe_quote(pre_name.ptr, pre_name.len, quoted, sizeof quoted));
    const struct gguf_kv *kv;
    uint32_t et;
    uint64_t n;
    if (!gguf_get_arr(g, "tokenizer.ggml.merges", &kv, &et, &n))
        return port_fail(err, errlen, "tokenizer.ggml.merges: missing or not an array");
    if (et != GGUF_TYPE_STRING)
        return port_fail(err, errlen, "tokenizer.ggml.merges: element type %u, expected string",
                         et);
    if (n > TOKENIZER_BPE_MERGES_MAX)
        return port_fail(err, errlen, "tokenizer.ggml.merges: count %llu over %d",
                         (unsigned long long)n, TOKENIZER_BPE_MERGES_MAX);
    struct tokenizer_bpe *bp = port_alloc(sizeof *bp);
    if (!bp)
        return port_fail(err, errlen, "tokenizer: out of memory for the BPE tables");
    memset(bp, 0, sizeof *bp);
    t->bpe = bp;
    bp->pre = pre;
    bp->n_merges = (int)n;
    bp->hash_cap = 16;
    while (bp->hash_cap < 2u * (uint32_t)n)
        bp->hash_cap <<= 1;
    bp->merges = port_alloc((n ? n : 1) * sizeof *bp->merges);
    bp->hash = port_alloc(bp->hash_cap * sizeof *bp->hash);
    if (!bp->merges || !bp->hash)
        return port_fail(err, errlen, "tokenizer: out of memory for %llu merges",
                         (unsigned long long)n);
    memset(bp->hash, 0xff, bp->hash_cap * sizeof *bp->hash);
    for (uint64_t i = 0; i < n; i++) {
        struct gguf_str s;
        if (!gguf_arr_str(kv, i, &s))
            return port_fail(err, errlen, "tokenizer.ggml.merges[%llu]: unreadable element",
                             (unsigned long long)i);
        /* the separator is the first space after the first byte, as llama.cpp reads it */
        size_t sp = 1;
        while (sp < s.len && s.ptr[sp] != ' ')
            sp++;
        if (s.len < 3 || sp + 1 >= s.len || sp > TOKENIZER_PIECE_MAX ||
            s.len - sp - 1 > TOKENIZER_PIECE_MAX) {
            return port_fail(err, errlen,
                             "tokenizer.ggml.merges[%llu]: \"%s\" (%llu bytes) is "
                             "not two pieces of at most %d bytes separated by a space",
                             (unsigned long long)i, bpe_quote(s.ptr, s.len, quoted, sizeof quoted),
                             (unsigned long long)s.len, TOKENIZER_PIECE_MAX);
        }
        struct bpe_merge *m = &bp->merges[i];
        *m = (struct bpe_merge){s.ptr, s.ptr + sp + 1, (uint16_t)sp, (uint16_t)(s.len - sp - 1)};
        if (bpe_rank(bp, m->left, m->left_len, m->right, m->right_len) >= 0)
            continue; /* a repeated pair keeps its first (best) rank */
        uint32_t mask = bp->hash_cap - 1;
        uint32_t h = bpe_hash_pair(m->left, m->left_len, m->right, m->right_len) & mask;
        while (bp->hash[h] >= 0)
            h = (h + 1) & mask;
        bp->hash[h] = (int32_t)i;
    }
    bpe_build_stand_ins(bp);
    t->add_bos = pre->add_bos;
    return 0;
}

/* ---------------------------------------------------------------- merging */

struct bpe_sym {
    int start, len; /* bytes of the stand-in text; len 0 once merged away */
    int prev, next; /* neighbours, -1 at the ends */
};

struct bpe_work {
    const struct tokenizer *t;
    const char *text;            /* the word in stand-ins */
    struct bpe_sym *sym;         /* (one per stand-in character) */
    struct tokenizer_pair *heap; /* score = -rank: the lowest rank first */
    int n_heap;
};

static void bpe_queue(struct bpe_work *w, int left) {
    if (left < 0 || w->sym[left].next < 0)
        return;
    const struct bpe_sym *a = &w->sym[left], *b = &w->sym[a->next];
    int r =
        bpe_rank(w->t->bpe, w->text + a->start, (size_t)a->len, w->text + b->start, (size_t)b->len);
    if (r >= 0) {
        struct tokenizer_pair p = {-(float)r, left, a->next, a->len + b->len};
        tokenizer_heap_push(w->heap, &w->n_heap, p);
    }
}

static int bpe_emit(int *out, int *n_out, int max_out, int id) {
    if (*n_out >= max_out)
        return TOKENIZER_ERR_SPACE;
    out[(*n_out)++] = id;
    return 0;
}

/* Merge one word (text[0..n) in stand-ins) and append its tokens. */
static int bpe_encode_word(struct bpe_work *w, int n, int *out, int *n_out, int max_out) {
    const struct tokenizer *t = w->t;
    if (n == 0)
        return 0;
    if (t->bpe->pre->ignore_merges) {
        int id = tokenizer_find(t, w->text, (size_t)n);
        if (id >= 0)
            return bpe_emit(out, n_out, max_out, id);
    }
    int n_sym = 0;
    for (int i = 0; i < n;) {
        int k = ((uint8_t)w->text[i] & 0xE0) == 0xC0 ? 2 : 1; /* stand-ins are 1 or 2 bytes */
        w->sym[n_sym] = (struct bpe_sym){i, k, n_sym - 1, i + k < n ? n_sym + 1 : -1};
        n_sym++;
        i += k;
    }
    w->n_heap = 0;
    for (int i = 0; i + 1 < n_sym; i++)
        bpe_queue(w, i);
    while (w->n_heap > 0) {
        struct tokenizer_pair p = tokenizer_heap_pop(w->heap, &w->n_heap);
        struct bpe_sym *a = &w->sym[p.left], *b = &w->sym[p.right];
        if (a->len == 0 || b->len == 0 || a->next != p.right || a->len + b->len != p.len)
            continue; /* stale: a side merged since this pair was queued */
        a->len += b->len;
        b->len = 0;
        a->next = b->next;
        if (b->next >= 0)
            w->sym[b->next].prev = p.left;
        bpe_queue(w, a->prev);
        bpe_queue(w, p.left);
    }
    int rc = 0;
    for (int i = 0; i >= 0 && rc == 0; i = w->sym[i].next) {
        const struct bpe_sym *s = &w->sym[i];
        int id = tokenizer_find(t, w->text + s->start, (size_t)s->len);
        if (id >= 0) {
            rc = bpe_emit(out, n_out, max_out, id);
            continue;
        }
        /* not a token: its characters' tokens; characters absent from the vocabulary
         * are dropped, as llama.cpp drops them */
        for (int j = 0; j < s->len && rc == 0;) {
            int k = ((uint8_t)w->text[s->start + j] & 0xE0) == 0xC0 ? 2 : 1;
            int cid = tokenizer_find(t, w->text + s->start + j, (size_t)k);
            if (cid >= 0)
                rc = bpe_emit(out, n_out, max_out, cid);
            j += k;
        }
    }
    return rc;
}

/* ---------------------------------------------------------------- encode, decode */

int tokenizer_bpe_encode_text(const struct tokenizer *t, const char *text, size_t len, bool prefix,
                              int *out, int *n_out, int max_out) {
    const struct tokenizer_bpe *bp = t->bpe;
    size_t n_in = len + (prefix ? 1 : 0);
    /* (n_in + 1) code points at most; an invalid byte re-encodes as 3 bytes of U+FFFD,
     * each byte as a stand-in of at most 2 bytes, each stand-in one symbol */
    uint32_t *cp = port_alloc((n_in + 1) * sizeof *cp);
    int *off = port_alloc((n_in + 2) * sizeof *off);       /* byte offset of each code point */
    int *ends = port_alloc(2 * (n_in + 1) * sizeof *ends); /* two lists of word ends */
    uint8_t *utf8 = port_alloc(3 * n_in + 4);
    char *word = port_alloc(6 * n_in + 8);
    struct bpe_sym *sym = port_alloc((3 * n_in + 1) * sizeof *sym);
    struct tokenizer_pair *heap = port_alloc((9 * n_in + 3) * sizeof *heap);
    int rc = 0;
    if (!cp || !off || !ends || !utf8 || !word || !sym || !heap) {
        rc = TOKENIZER_ERR_NOMEM;
        goto out;
    }
    int n_cp = 0, n_utf8 = 0;
    for (size_t i = 0; i < n_in;) {
        int k = 1;
        if (prefix && i == 0)
            cp[n_cp] = ' ';
        else
            k = unicode_decode((const uint8_t *)text + (i - (prefix ? 1 : 0)), n_in - i, &cp[n_cp]);
        off[n_cp++] = n_utf8;
        n_utf8 += unicode_encode(cp[n_cp - 1], utf8 + n_utf8);
        i += (size_t)k;
    }
    off[n_cp] = n_utf8;
    /* pre-tokenize: each step splits every word of the last step's list */
    int *cur = ends, *next = ends + n_in + 1;
    int n_cur = 0;
    if (n_cp > 0)
        cur[n_cur++] = n_cp;
    for (int s = 0; s < BPE_PRE_STEPS && bp->pre->steps[s] != BPE_SPLIT_END; s++) {
        int n_next = 0;
        for (int i = 0, start = 0; i < n_cur; start = cur[i++])
            bpe_split_word((enum bpe_split)bp->pre->steps[s], cp, start, cur[i], next, &n_next);
        int *tmp = cur;
        cur = next;
        next = tmp;
        n_cur = n_next;
    }
    struct bpe_work w = {t, word, sym, heap, 0};
    for (int i = 0, start = 0; i < n_cur && rc == 0; start = cur[i++]) {
        int n_word = 0;
        for (int b = off[start]; b < off[cur[i]]; b++) {
            memcpy(word + n_word, bp->stand_in[utf8[b]], bp->stand_in_len[utf8[b]]);
            n_word += bp->stand_in_len[utf8[b]];
        }
        rc = bpe_encode_word(&w, n_word, out, n_out, max_out);
    }
out:
    port_free(cp);
    port_free(off);
    port_free(ends);
    port_free(utf8);
    port_free(word);
    port_free(sym);
    port_free(heap);
    return rc;
}

int tokenizer_bpe_decode(const struct tokenizer *t, int token, char *out, size_t cap) {
    const struct tokenizer_token *tk = &t->tokens[token];
    if (tk->type == TOKENIZER_TYPE_CONTROL)
        return 0;
    bool raw = tk->type == TOKENIZER_TYPE_USER_DEFINED;
    size_t n = 0;
    for (uint32_t i = 0; i < tk->len;) {
        uint32_t c;
        int k = unicode_decode((const uint8_t *)tk->text + i, tk->len - i, &c);
        /* a stand-in gives its byte; any other character (or a user-defined token's
         * text) is copied as it is */
        int b = !raw && c < ARRAY_SIZE(t->bpe->byte_of) ? t->bpe->byte_of[c] : -1;
        if (b >= 0) {
            if (n >= cap)
                return TOKENIZER_ERR_SPACE;
            out[n++] = (char)b;
        } else {
            if (n + (size_t)k > cap)
                return TOKENIZER_ERR_SPACE;
            memcpy(out + n, tk->text + i, (size_t)k);
            n += (size_t)k;
        }
        i += (uint32_t)k;
    }
    return (int)n;
}
