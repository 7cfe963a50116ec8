/*
 * libFuzzer target: a llama2.c checkpoint and its tokenizer.bin (kernel/llm:
 * llama2c.c, tokenizer.c, forward.c). The input is split at the offset its first
 * four bytes give (little-endian, modulo the length): the checkpoint before it, the
 * tokenizer after it. Whatever loads runs two forward steps and a round of
 * encode/decode. Built by tests/fuzzing.py with ASan and UBSan.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm/model.h"
#include "llm/ops.h"
#include "llm/tokenizer.h"

#define FUZZ_CTX 2

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    ops_select(true);
    return 0;
}

static uint8_t *dup_bytes(const uint8_t *p, size_t n) {
    uint8_t *c = malloc(n ? n : 1);
    memcpy(c, p, n);
    return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 4)
        return 0;
    uint32_t cut = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 |
                   (uint32_t)data[3] << 24;
    data += 4;
    size -= 4;
    size_t n_model = size ? cut % (size + 1) : 0;
    uint8_t *model_bytes = dup_bytes(data, n_model);
    uint8_t *tok_bytes = dup_bytes(data + n_model, size - n_model);
    struct model m;
    char err[160];
    /* model_load takes any file that is not GGUF as a llama2.c checkpoint. */
    if (model_load(&m, model_bytes, n_model, err, sizeof(err)) != 0) {
        if (!err[0])
            abort();
        goto out;
    }
    struct tokenizer t;
    if (tokenizer_load_llama2c(&t, tok_bytes, size - n_model, m.cfg.vocab_size, err, sizeof(err)) ==
        0) {
        static const char text[] = "Once upon a time \xe2\x96\x81\xf0\x9f\x98\x80";
        int ids[64];
        int n = tokenizer_encode(&t, text, sizeof(text) - 1, true, ids, 64);
        char piece[TOKENIZER_PIECE_MAX];
        for (int i = 0; i < n; i++)
            tokenizer_decode(&t, i ? ids[i - 1] : -1, ids[i], piece, sizeof(piece));
        tokenizer_free(&t);
    } else if (!err[0]) {
        abort();
    }
    struct model_state s;
    if (model_state_init(&s, &m, FUZZ_CTX) == 0) {
        model_forward(&m, &s, 1 % m.cfg.vocab_size, 0);
        model_forward(&m, &s, 0, 1 < s.n_ctx ? 1 : 0);
        model_state_free(&s);
    }
    model_free(&m);
out:
    free(model_bytes);
    free(tok_bytes);
    return 0;
}
