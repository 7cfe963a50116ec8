/*
 * libFuzzer target: the GGUF model loader, its vocabulary and one forward step
 * (kernel/llm: gguf.c, arch.c, model.c, tokenizer.c, ops, forward.c). A file that
 * loads gets a two-position state, two forward passes and a round of tokenizer
 * encode/decode, so whatever the loader accepts must be safe to run. Built by
 * tests/fuzzing.py with ASan and UBSan (float-cast-overflow included).
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

static void fuzz_tokenizer(const struct model *m) {
    struct tokenizer t;
    char err[160];
    if (tokenizer_load_gguf(&t, &m->gguf, err, sizeof(err)) != 0) {
        if (!err[0])
            abort(); /* a refusal names the reason */
        return;
    }
    static const char text[] = "Hello, world! <|im_start|> 123 \xc3\xa9\xff";
    int ids[64];
    int n = tokenizer_encode_special(&t, text, sizeof(text) - 1, true, ids, 64);
    char piece[TOKENIZER_PIECE_MAX];
    for (int i = 0; i < n; i++)
        if (tokenizer_decode(&t, i ? ids[i - 1] : -1, ids[i], piece, sizeof(piece)) >
            (int)sizeof(piece))
            abort();
    tokenizer_free(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct model m;
    char err[160];
    /* The model is bound in place: give it a copy of exactly `size` bytes so reads
     * past the end are caught. */
    uint8_t *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    if (model_load(&m, copy, size, err, sizeof(err)) != 0) {
        if (!err[0])
            abort();
        free(copy);
        return 0;
    }
    if (m.format == MODEL_FORMAT_GGUF)
        fuzz_tokenizer(&m);
    struct model_state s;
    if (model_state_init(&s, &m, FUZZ_CTX) == 0) {
        model_forward(&m, &s, 1 % m.cfg.vocab_size, 0);
        model_forward(&m, &s, 0, 1 < s.n_ctx ? 1 : 0);
        model_state_free(&s);
    }
    model_free(&m);
    free(copy);
    return 0;
}
