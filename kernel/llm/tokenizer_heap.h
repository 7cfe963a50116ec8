/*
 * tokenizer_heap: the merge queue shared by the SentencePiece merger (tokenizer.c) and
 * the byte-level BPE merger (tokenizer_bpe.c): a binary heap of candidate merges of
 * adjacent symbols, the highest score first and the leftmost of equal scores first.
 * The caller owns the array and skips popped pairs that have gone stale.
 */
#ifndef CLLM_LLM_TOKENIZER_HEAP_H
#define CLLM_LLM_TOKENIZER_HEAP_H

#include "types.h"

/* A candidate merge of sym[left] and its right neighbour into a token of `len` bytes. */
struct tokenizer_pair {
    float score;
    int left, right, len;
};

/* Heap order: higher score first, then the leftmost. */
static inline bool tokenizer_pair_before(const struct tokenizer_pair *a,
                                         const struct tokenizer_pair *b) {
    if (a->score != b->score)
        return a->score > b->score;
    return a->left < b->left;
}

static inline void tokenizer_heap_push(struct tokenizer_pair *h, int *n, struct tokenizer_pair p) {
    int i = (*n)++;
    while (i > 0) {
        int parent = (i - 1) / 2;
        if (!tokenizer_pair_before(&p, &h[parent]))
            break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = p;
}

static inline struct tokenizer_pair tokenizer_heap_pop(struct tokenizer_pair *h, int *n) {
    struct tokenizer_pair top = h[0];
    struct tokenizer_pair last = h[--(*n)];
    int i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && tokenizer_pair_before(&h[c + 1], &h[c]))
            c++;
        if (!tokenizer_pair_before(&h[c], &last))
            break;
        h[i] = h[c];
        i = c;
    }
    if (*n > 0)
        h[i] = last;
    return top;
}

#endif
