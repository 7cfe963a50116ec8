/*
 * tokenizer.c: vocabulary loading (GGUF metadata or llama2.c tokenizer.bin), a hash
 * table from token text to id, BPE encoding and per-token decoding. See tokenizer.h for
 * the rules each vocabulary kind follows. Called by llm_boot.c (load), generate.c and
 * console.c (decode), the HTTP API (encode). Relies on gguf.h and port.h.
 *
 * llama2.c tokenizer.bin layout (little endian):
 *   int32 max_token_length
 *   n_vocab times: float32 score, int32 len, len bytes of text (no NUL)
 * n_vocab is not stored: it comes from the model header. Token 1 is stored as
 * "\n<s>\n", token 2 as "\n</s>\n", byte tokens as "<0xXX>", spaces as ASCII ' '.
 */
#include "llm/tokenizer.h"

#include "llm/gguf.h"
#include "llm/tokenizer_bpe.h"
#include "llm/tokenizer_heap.h"
#include "port.h"

/* U+2581 LOWER ONE EIGHTH BLOCK, SentencePiece's escaped space. */
static const char spm_space[3] = {(char)0xE2, (char)0x96, (char)0x81};

/* ---------------------------------------------------------------- errors, helpers */

static uint32_t tok_hash_bytes(const char *s, size_t n) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= 16777619u;
    }
    return h;
}

static uint32_t tok_read_u32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static float tok_read_f32(const uint8_t *p) {
    uint32_t u = tok_read_u32(p);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static int tok_hexval(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* The byte a "<0xXX>" text stands for, or -1. */
static int tok_byte_of(const char *s, size_t n) {
    if (n != 6 || s[0] != '<' || s[1] != '0' || s[2] != 'x' || s[5] != '>')
        return -1;
    int hi = tok_hexval(s[3]), lo = tok_hexval(s[4]);
    if (hi < 0 || lo < 0)
        return -1;
    return hi * 16 + lo;
}

int tokenizer_find(const struct tokenizer *t, const char *text, size_t len) {
    if (!t->hash)
        return -1;
    uint32_t mask = t->hash_cap - 1;
    for (uint32_t i = tok_hash_bytes(text, len) & mask;; i = (i + 1) & mask) {
        int32_t id = t->hash[i];
        if (id < 0)
            return -1;
        const struct tokenizer_token *tk = &t->tokens[id];
        if (tk->len == len && memcmp(tk->text, text, len) == 0)
            return id;
    }
}

/* ---------------------------------------------------------------- loading */

static void tok_reset(struct tokenizer *t) {
    memset(t, 0, sizeof *t);
    t->bos_id = t->eos_id = t->eot_id = t->unk_id = -1;
    for (int b = 0; b < 256; b++)
        t->byte_token[b] = -1;
}

void tokenizer_free(struct tokenizer *t) {
    tokenizer_bpe_free(t);
    port_free(t->tokens);
    port_free(t->hash);
    port_free(t->special);
    tok_reset(t);
}

/* Allocate the token table for n tokens. */
static int tok_alloc(struct tokenizer *t, int n, char *err, size_t errlen) {
    t->n_vocab = n;
    t->tokens = port_alloc((size_t)n * sizeof *t->tokens);
    if (!t->tokens)
        return port_fail(err, errlen, "tokenizer: out of memory for %d tokens", n);
    memset(t->tokens, 0, (size_t)n * sizeof *t->tokens);
    return 0;
}

/* Once tokens[] is filled: the hash table, byte tokens, special list, longest piece.
 * The first of duplicate texts wins, as in llama.cpp. */
static int tok_index(struct tokenizer *t, char *err, size_t errlen) {
    uint32_t cap = 16;
    while (cap < 2u * (uint32_t)t->n_vocab)
        cap <<= 1;
    t->hash_cap = cap;
    t->hash = port_alloc(cap * sizeof *t->hash);
    if (!t->hash)
        return port_fail(err, errlen, "tokenizer: out of memory for the hash table (%u slots)",
                         cap);
    memset(t->hash, 0xff, cap * sizeof *t->hash);
    int n_special = 0;
    for (int id = 0; id < t->n_vocab; id++) {
        const struct tokenizer_token *tk = &t->tokens[id];
        if ((int)tk->len > t->max_piece_len)
            t->max_piece_len = (int)tk->len;
        if (tk->type == TOKENIZER_TYPE_CONTROL || tk->type == TOKENIZER_TYPE_USER_DEFINED ||
            tk->type == TOKENIZER_TYPE_UNKNOWN)
            n_special += tk->len > 0;
        if (tokenizer_find(t, tk->text, tk->len) >= 0)
            continue;
        uint32_t i = tok_hash_bytes(tk->text, tk->len) & (cap - 1);
        while (t->hash[i] >= 0)
            i = (i + 1) & (cap - 1);
        t->hash[i] = id;
    }
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        t->byte_token[b] = tokenizer_find(t, name, 6);
    }
    t->special = port_alloc((size_t)(n_special ? n_special : 1) * sizeof *t->special);
    if (!t->special)
        return port_fail(err, errlen, "tokenizer: out of memory for %d special tokens", n_special);
    for (int id = 0; id < t->n_vocab; id++) {
        const struct tokenizer_token *tk = &t->tokens[id];
        if (tk->len == 0 ||
            !(tk->type == TOKENIZER_TYPE_CONTROL || tk->type == TOKENIZER_TYPE_USER_DEFINED ||
              tk->type == TOKENIZER_TYPE_UNKNOWN))
            continue;
        /* insertion sort, longest text first so the longest match wins */
        int j = t->n_special++;
        while (j > 0 && t->tokens[t->special[j - 1]].len < tk->len) {
            t->special[j] = t->special[j - 1];
            j--;
        }
        t->special[j] = id;
    }
    return 0;
}

/* llama.cpp's end-of-generation token names: such a token ends generation and is a
 * CONTROL token whatever its stored type (so "</s>", user-defined in Gemma 3's
 * vocabulary, is plain text unless special tokens are parsed). */
static void tok_mark_eog(struct tokenizer *t) {
    static const char *const names[] = {"<|eot_id|>",      "<|im_end|>",    "<|end|>",
                                        "<end_of_turn>",   "<|endoftext|>", "<|eom_id|>",
                                        "<|end_of_text|>", "</s>"};
    for (size_t i = 0; i < ARRAY_SIZE(names) && t->n_eog < TOKENIZER_EOG_MAX; i++) {
        int id = tokenizer_find(t, names[i], strlen(names[i]));
        if (id < 0)
            continue;
        t->tokens[id].type = TOKENIZER_TYPE_CONTROL;
        t->eog[t->n_eog++] = id;
    }
}

static int tok_check_id(struct tokenizer *t, const char *key, uint32_t v, int *out, char *err,
                        size_t errlen) {
    if (v >= (uint32_t)t->n_vocab)
        return port_fail(err, errlen, "%s: token id %u out of range (vocab %d)", key, v,
                         t->n_vocab);
    *out = (int)v;
    return 0;
}

/* The GGUF vocabulary types (tokenizer.ggml.model): llama.cpp's default special ids
 * and flags for each, and the loader of what the type adds to the token list. */
struct tok_vocab_type {
    const char *model;
    enum tokenizer_kind kind;
    int bos, eos, unk; /* default ids, -1 for none */
    bool add_bos, add_space_prefix;
    int (*load)(struct tokenizer *t, const struct gguf_file *g, char *err, size_t errlen);
};

static const struct tok_vocab_type tok_vocab_types[] = {
    {"llama", TOKENIZER_KIND_SPM, 1, 2, 0, true, true, NULL},
    {"gpt2", TOKENIZER_KIND_BPE, -1, -1, -1, false, false, tokenizer_bpe_load},
};

int tokenizer_load_gguf(struct tokenizer *t, const struct gguf_file *g, char *err, size_t errlen) {
    tok_reset(t);
    struct gguf_str model;
    if (!gguf_get_str(g, "tokenizer.ggml.model", &model))
        return port_fail(err, errlen, "tokenizer.ggml.model: missing");
    const struct tok_vocab_type *vt = NULL;
    for (size_t i = 0; i < ARRAY_SIZE(tok_vocab_types) && !vt; i++) {
        if (gguf_str_eq(model, tok_vocab_types[i].model))
            vt = &tok_vocab_types[i];
    }
    if (!vt) {
        int n = model.len > 32 ? 32 : (int)model.len;
        return port_fail(err, errlen,
                         "tokenizer.ggml.model: unsupported value \"%.*s\" (only llama, gpt2)", n,
                         model.ptr);
    }
    const struct gguf_kv *kv_tok, *kv_score = NULL, *kv_type = NULL;
    uint32_t et;
    uint64_t n;
    if (!gguf_get_arr(g, "tokenizer.ggml.tokens", &kv_tok, &et, &n))
        return port_fail(err, errlen, "tokenizer.ggml.tokens: missing or not an array");
    if (et != GGUF_TYPE_STRING)
        return port_fail(err, errlen, "tokenizer.ggml.tokens: element type %u, expected string",
                         et);
    if (n == 0 || n > TOKENIZER_VOCAB_MAX)
        return port_fail(err, errlen, "tokenizer.ggml.tokens: count %llu out of range (1..%d)",
                         (unsigned long long)n, TOKENIZER_VOCAB_MAX);
    uint32_t et2;
    uint64_t n2;
    if (gguf_get_arr(g, "tokenizer.ggml.scores", &kv_score, &et2, &n2)) {
        if (et2 != GGUF_TYPE_FLOAT32 || n2 != n)
            return port_fail(
                err, errlen,
                "tokenizer.ggml.scores: %llu elements of type %u, expected %llu float32",
                (unsigned long long)n2, et2, (unsigned long long)n);
    }
    if (gguf_get_arr(g, "tokenizer.ggml.token_type", &kv_type, &et2, &n2)) {
        if (et2 != GGUF_TYPE_INT32 || n2 != n)
            return port_fail(
                err, errlen,
                "tokenizer.ggml.token_type: %llu elements of type %u, expected %llu int32",
                (unsigned long long)n2, et2, (unsigned long long)n);
    }
    if (tok_alloc(t, (int)n, err, errlen) != 0)
        return -1;
    t->kind = vt->kind;
    for (uint64_t i = 0; i < n; i++) {
        struct gguf_str s;
        if (!gguf_arr_str(kv_tok, i, &s))
            goto fail_msg;
        if (s.len > TOKENIZER_PIECE_MAX) {
            port_fail(err, errlen, "tokenizer.ggml.tokens[%llu]: length %llu over %d",
                      (unsigned long long)i, (unsigned long long)s.len, TOKENIZER_PIECE_MAX);
            goto fail;
        }
        struct tokenizer_token *tk = &t->tokens[i];
        tk->text = s.ptr;
        tk->len = (uint32_t)s.len;
        tk->score = kv_score ? gguf_arr_f32(kv_score, i) : 0.0f;
        int32_t ty = kv_type ? gguf_arr_i32(kv_type, i) : TOKENIZER_TYPE_NORMAL;
        if (ty < TOKENIZER_TYPE_NORMAL || ty > TOKENIZER_TYPE_BYTE) {
            port_fail(err, errlen, "tokenizer.ggml.token_type[%llu]: unknown type %d",
                      (unsigned long long)i, (int)ty);
            goto fail;
        }
        tk->type = (uint8_t)ty;
    }
    if (tok_index(t, err, errlen) != 0)
        goto fail;
    const struct {
        const char *key;
        int def;
        size_t off;
    } ids[] = {
        {"tokenizer.ggml.bos_token_id", vt->bos, offsetof(struct tokenizer, bos_id)},
        {"tokenizer.ggml.eos_token_id", vt->eos, offsetof(struct tokenizer, eos_id)},
        {"tokenizer.ggml.unknown_token_id", vt->unk, offsetof(struct tokenizer, unk_id)},
        {"tokenizer.ggml.eot_token_id", -1, offsetof(struct tokenizer, eot_id)},
    };
    for (size_t i = 0; i < ARRAY_SIZE(ids); i++) {
        int *dst = (int *)((char *)t + ids[i].off);
        uint32_t v;
        if (gguf_get_u32(g, ids[i].key, &v)) {
            if (tok_check_id(t, ids[i].key, v, dst, err, errlen) != 0)
                goto fail;
        } else if (gguf_find_kv(g, ids[i].key)) {
            port_fail(err, errlen, "%s: not an unsigned integer", ids[i].key);
            goto fail;
        } else {
            *dst = ids[i].def < t->n_vocab ? ids[i].def : -1;
        }
    }
    if (t->eot_id < 0) {
        static const char *const eot_names[] = {"<|im_end|>", "<|eot_id|>", "<end_of_turn>",
                                                "<|end|>"};
        for (size_t i = 0; i < ARRAY_SIZE(eot_names) && t->eot_id < 0; i++)
            t->eot_id = tokenizer_find(t, eot_names[i], strlen(eot_names[i]));
    }
    tok_mark_eog(t);
    t->add_bos = vt->add_bos;
    t->add_space_prefix = vt->add_space_prefix;
    if (vt->load && vt->load(t, g, err, errlen) != 0)
        goto fail;
    if (gguf_find_kv(g, "tokenizer.ggml.add_bos_token") &&
        !gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &t->add_bos)) {
        port_fail(err, errlen, "tokenizer.ggml.add_bos_token: not a bool");
        goto fail;
    }
    if (gguf_find_kv(g, "tokenizer.ggml.add_space_prefix") &&
        !gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", &t->add_space_prefix)) {
        port_fail(err, errlen, "tokenizer.ggml.add_space_prefix: not a bool");
        goto fail;
    }
    return 0;
fail_msg:
    port_fail(err, errlen, "tokenizer.ggml.tokens: unreadable element");
fail:
    tokenizer_free(t);
    return -1;
}

int tokenizer_load_llama2c(struct tokenizer *t, const uint8_t *data, size_t len, int n_vocab,
                           char *err, size_t errlen) {
    tok_reset(t);
    if (n_vocab <= 0 || n_vocab > TOKENIZER_VOCAB_MAX)
        return port_fail(err, errlen, "tokenizer.bin: vocab size %d out of range (1..%d)", n_vocab,
                         TOKENIZER_VOCAB_MAX);
    if (len < 4)
        return port_fail(err, errlen, "tokenizer.bin: %u bytes, too short for the header",
                         (unsigned)len);
    uint32_t max_len = tok_read_u32(data);
    if (max_len == 0 || max_len > TOKENIZER_PIECE_MAX)
        return port_fail(err, errlen, "tokenizer.bin: max_token_length %u out of range (1..%d)",
                         max_len, TOKENIZER_PIECE_MAX);
    if (tok_alloc(t, n_vocab, err, errlen) != 0)
        return -1;
    t->kind = TOKENIZER_KIND_LLAMA2C;
    size_t off = 4;
    for (int i = 0; i < n_vocab; i++) {
        if (len - off < 8) {
            port_fail(err, errlen,
                      "tokenizer.bin: token %d: record header at offset %u past end "
                      "(len %u)",
                      i, (unsigned)off, (unsigned)len);
            goto fail;
        }
        float score = tok_read_f32(data + off);
        uint32_t n = tok_read_u32(data + off + 4);
        off += 8;
        if (n > max_len || n > len - off) {
            port_fail(err, errlen,
                      "tokenizer.bin: token %d: length %u invalid (max %u, %u bytes "
                      "left)",
                      i, n, max_len, (unsigned)(len - off));
            goto fail;
        }
        struct tokenizer_token *tk = &t->tokens[i];
        tk->text = (const char *)data + off;
        tk->len = n;
        tk->score = score;
        tk->type = tok_byte_of(tk->text, n) >= 0 ? TOKENIZER_TYPE_BYTE : TOKENIZER_TYPE_NORMAL;
        off += n;
    }
    if (tok_index(t, err, errlen) != 0)
        goto fail;
    /* run.c: BOS 1 (generation also stops there), EOS 2; unknown code points are bytes */
    t->unk_id = 0;
    t->bos_id = n_vocab > 1 ? 1 : -1;
    t->eos_id = n_vocab > 2 ? 2 : -1;
    t->add_bos = true;
    t->add_space_prefix = true;
    return 0;
fail:
    tokenizer_free(t);
    return -1;
}

/* ---------------------------------------------------------------- encoding */

/* One symbol of the text being merged: a slice of the normalized text. */
struct tok_sym {
    int start, len; /* bytes in the normalized text; len 0 once merged away */
    int prev, next; /* neighbours, -1 at the ends */
    int id;         /* fixed token (llama2.c byte fallback), or -1: look up the text */
};

struct tok_work {
    const struct tokenizer *t;
    const char *text;            /* normalized text */
    struct tok_sym *sym;         /* (n_text) */
    struct tokenizer_pair *heap; /* (3 * n_text) */
    int n_heap;
};

static void tok_try_pair(struct tok_work *w, int left, int right) {
    if (left < 0 || right < 0)
        return;
    const struct tok_sym *a = &w->sym[left], *b = &w->sym[right];
    if (a->id >= 0 || b->id >= 0)
        return;
    int id = tokenizer_find(w->t, w->text + a->start, (size_t)(a->len + b->len));
    if (id < 0)
        return;
    struct tokenizer_pair p = {w->t->tokens[id].score, left, right, a->len + b->len};
    tokenizer_heap_push(w->heap, &w->n_heap, p);
}

/* Length of the UTF-8 character starting at s[0], clamped to n. llama2.c (run.c)
 * groups up to 4 bytes while continuation bytes follow. SPM takes the length the lead
 * byte announces, as llama.cpp does, but stops early at a byte that is not a
 * continuation: on invalid UTF-8 a character then never swallows the start of the
 * next one (in particular of an escaped space), so decoding still gives the text back. */
static int tok_char_len(const struct tokenizer *t, const char *s, int n) {
    static const uint8_t lens[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    int want = t->kind == TOKENIZER_KIND_LLAMA2C ? 4 : lens[(uint8_t)s[0] >> 4];
    int k = 1;
    while (k < n && k < want && ((uint8_t)s[k] & 0xC0) == 0x80)
        k++;
    return k;
}

static int tok_emit(int *out, int *n, int max_out, int id) {
    if (*n >= max_out)
        return TOKENIZER_ERR_SPACE;
    out[(*n)++] = id;
    return 0;
}

/* Encode one run of plain text (no special tokens); prefix adds the space prefix. */
static int tok_encode_text(const struct tokenizer *t, const char *text, size_t len, bool prefix,
                           int *out, int *n_out, int max_out) {
    if (t->kind == TOKENIZER_KIND_BPE)
        return tokenizer_bpe_encode_text(t, text, len, prefix, out, n_out, max_out);
    bool spm = t->kind == TOKENIZER_KIND_SPM;
    size_t n_norm = 0;
    size_t cap = (len + 1) * 3;
    char *norm = port_alloc(cap);
    struct tok_sym *sym = port_alloc((len + 1) * sizeof *sym);
    struct tokenizer_pair *heap = port_alloc(3 * (len + 1) * sizeof *heap);
    int rc = 0;
    if (!norm || !sym || !heap) {
        rc = TOKENIZER_ERR_NOMEM;
        goto out;
    }
    /* normalize: the space prefix, then spaces as U+2581 for SPM vocabularies */
    for (size_t i = 0; i < len + (prefix ? 1 : 0); i++) {
        char c = prefix ? (i == 0 ? ' ' : text[i - 1]) : text[i];
        if (c == ' ' && spm) {
            memcpy(norm + n_norm, spm_space, 3);
            n_norm += 3;
        } else {
            norm[n_norm++] = c;
        }
    }
    /* split into characters; llama2.c maps characters absent from the vocabulary to
     * byte tokens right away, SPM keeps them mergeable and falls back at the end */
    int n_sym = 0;
    int n_prefix = prefix ? (spm ? 3 : 1) : 0; /* the prefix is a character of its own */
    for (int i = 0; i < (int)n_norm;) {
        int k = tok_char_len(t, norm + i, (int)n_norm - i);
        if (i < n_prefix)
            k = n_prefix - i;
        if (!spm && tokenizer_find(t, norm + i, (size_t)k) < 0) {
            for (int j = 0; j < k; j++) {
                int id = t->byte_token[(uint8_t)norm[i + j]];
                sym[n_sym] =
                    (struct tok_sym){i + j, 1, n_sym - 1, n_sym + 1, id >= 0 ? id : t->unk_id};
                n_sym++;
            }
        } else {
            sym[n_sym] = (struct tok_sym){i, k, n_sym - 1, n_sym + 1, -1};
            n_sym++;
        }
        i += k;
    }
    if (n_sym > 0)
        sym[n_sym - 1].next = -1;
    struct tok_work w = {t, norm, sym, heap, 0};
    for (int i = 0; i + 1 < n_sym; i++)
        tok_try_pair(&w, i, i + 1);
    while (w.n_heap > 0) {
        struct tokenizer_pair p = tokenizer_heap_pop(w.heap, &w.n_heap);
        struct tok_sym *a = &sym[p.left], *b = &sym[p.right];
        if (a->len == 0 || b->len == 0 || a->len + b->len != p.len || a->next != p.right)
            continue; /* stale: one side merged since this pair was queued */
        a->len += b->len;
        b->len = 0;
        a->next = b->next;
        if (b->next >= 0)
            sym[b->next].prev = p.left;
        tok_try_pair(&w, a->prev, p.left);
        tok_try_pair(&w, p.left, a->next);
    }
    for (int i = n_sym > 0 ? 0 : -1; i >= 0 && rc == 0; i = sym[i].next) {
        if (sym[i].id >= 0) {
            rc = tok_emit(out, n_out, max_out, sym[i].id);
            continue;
        }
        int id = tokenizer_find(t, norm + sym[i].start, (size_t)sym[i].len);
        if (id >= 0) {
            rc = tok_emit(out, n_out, max_out, id);
            continue;
        }
        for (int j = 0; j < sym[i].len && rc == 0; j++) {
            int b = t->byte_token[(uint8_t)norm[sym[i].start + j]];
            rc = tok_emit(out, n_out, max_out, b >= 0 ? b : t->unk_id);
        }
    }
out:
    port_free(norm);
    port_free(sym);
    port_free(heap);
    return rc;
}

static int tok_encode(const struct tokenizer *t, const char *text, size_t len, bool add_bos,
                      bool special, int *out, int max_out) {
    int n = 0;
    int rc = 0;
    if (add_bos && t->bos_id >= 0)
        rc = tok_emit(out, &n, max_out, t->bos_id);
    /* the space prefix goes before the text at the start and after each special token
     * (llama.cpp); llama2.c adds its dummy prefix only to non-empty text */
    bool prev_special = true;
    size_t i = 0, run = 0;
    while (rc == 0 && i <= len) {
        int sid = -1;
        if (i < len && t->kind != TOKENIZER_KIND_LLAMA2C) {
            for (int k = 0; k < t->n_special; k++) {
                const struct tokenizer_token *tk = &t->tokens[t->special[k]];
                if (!special && tk->type != TOKENIZER_TYPE_USER_DEFINED)
                    continue; /* user-defined tokens always match, as in llama.cpp */
                if (tk->len <= len - i && memcmp(text + i, tk->text, tk->len) == 0) {
                    sid = t->special[k];
                    break;
                }
            }
        }
        if (sid < 0 && i < len) {
            i++;
            continue;
        }
        if (i > run) {
            rc = tok_encode_text(t, text + run, i - run, t->add_space_prefix && prev_special, out,
                                 &n, max_out);
            prev_special = false;
        }
        if (sid < 0 || rc != 0)
            break;
        rc = tok_emit(out, &n, max_out, sid);
        prev_special = true;
        i += t->tokens[sid].len;
        run = i;
    }
    return rc != 0 ? rc : n;
}

int tokenizer_encode(const struct tokenizer *t, const char *text, size_t len, bool add_bos,
                     int *out, int max_out) {
    return tok_encode(t, text, len, add_bos, false, out, max_out);
}

int tokenizer_encode_special(const struct tokenizer *t, const char *text, size_t len, bool add_bos,
                             int *out, int max_out) {
    return tok_encode(t, text, len, add_bos, true, out, max_out);
}

/* ---------------------------------------------------------------- decoding */

int tokenizer_decode(const struct tokenizer *t, int prev_token, int token, char *out, size_t cap) {
    if (token < 0 || token >= t->n_vocab)
        return TOKENIZER_ERR_TOKEN;
    const struct tokenizer_token *tk = &t->tokens[token];
    size_t n = 0;
    if (tk->type == TOKENIZER_TYPE_BYTE) {
        int b = tok_byte_of(tk->text, tk->len);
        if (b >= 0) {
            if (cap < 1)
                return TOKENIZER_ERR_SPACE;
            out[0] = (char)b;
            return 1;
        }
    }
    if (t->kind == TOKENIZER_KIND_BPE)
        return tokenizer_bpe_decode(t, token, out, cap);
    bool spm = t->kind == TOKENIZER_KIND_SPM;
    if (spm && tk->type == TOKENIZER_TYPE_CONTROL)
        return 0;
    if (spm && tk->type == TOKENIZER_TYPE_UNKNOWN) {
        static const char unk[3] = {(char)0xE2, (char)0x96, (char)0x85}; /* U+2585, as llama.cpp */
        if (cap < 3)
            return TOKENIZER_ERR_SPACE;
        memcpy(out, unk, 3);
        return 3;
    }
    bool first = true;
    for (uint32_t i = 0; i < tk->len; first = false) {
        char c = tk->text[i];
        if (spm && i + 3 <= tk->len && memcmp(tk->text + i, spm_space, 3) == 0) {
            c = ' ';
            i += 3;
        } else {
            i++;
        }
        if (first && c == ' ' && (prev_token < 0 || prev_token == t->bos_id))
            continue; /* the first piece of the text loses its prefix space */
        if (n >= cap)
            return TOKENIZER_ERR_SPACE;
        out[n++] = c;
    }
    return (int)n;
}

bool tokenizer_is_eog(const struct tokenizer *t, int token) {
    if (token < 0)
        return false;
    if (t->kind == TOKENIZER_KIND_LLAMA2C)
        return token == t->bos_id;
    if (token == t->eos_id || token == t->eot_id)
        return true;
    for (int i = 0; i < t->n_eog; i++) {
        if (token == t->eog[i])
            return true;
    }
    return false;
}
