/*
 * libFuzzer target: the tokenizers on real vocabularies, with fuzzed text. The
 * vocabularies come from the files named by $CLLM_FUZZ_VOCABS (colon-separated GGUF
 * files, e.g. llama.cpp's vocab-only files); the first input byte picks one and the
 * encode mode (plain or with special tokens, BOS or not), the rest is the text.
 * Every id must be in range, every piece must decode, and decoding the pieces of a
 * plain encoding must give back the text's bytes (after the tokenizer's own leading
 * space, for SentencePiece). Built by tests/fuzzing.py with ASan and UBSan.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm/gguf.h"
#include "llm/tokenizer.h"

#define FUZZ_MAX_VOCABS 4
#define FUZZ_MAX_IDS 4096

static struct gguf_file vocab_file[FUZZ_MAX_VOCABS];
static struct tokenizer vocab[FUZZ_MAX_VOCABS];
static int n_vocabs;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    const char *list = getenv("CLLM_FUZZ_VOCABS");
    if (!list) {
        fprintf(stderr, "fuzz_tokenizer: set CLLM_FUZZ_VOCABS to GGUF vocabulary files\n");
        exit(2);
    }
    size_t list_len = strlen(list);
    char *paths = malloc(list_len + 1);
    memcpy(paths, list, list_len + 1);
    for (char *p = strtok(paths, ":"); p && n_vocabs < FUZZ_MAX_VOCABS; p = strtok(NULL, ":")) {
        size_t len;
        uint8_t *data = port_read_file(p, &len);
        char err[160];
        if (!data || gguf_open(&vocab_file[n_vocabs], data, len, err, sizeof(err)) != 0 ||
            tokenizer_load_gguf(&vocab[n_vocabs], &vocab_file[n_vocabs], err, sizeof(err)) != 0) {
            fprintf(stderr, "fuzz_tokenizer: %s: cannot load: %s\n", p, data ? err : "unreadable");
            exit(2);
        }
        n_vocabs++;
    }
    free(paths);
    if (!n_vocabs)
        exit(2);
    return 0;
}

static int ids[FUZZ_MAX_IDS];
static char decoded[FUZZ_MAX_IDS * TOKENIZER_PIECE_MAX / 16];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > 1024)
        return 0;
    const struct tokenizer *t = &vocab[data[0] % n_vocabs];
    bool special = data[0] & 0x10, bos = data[0] & 0x20;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    int n = special ? tokenizer_encode_special(t, text, len, bos, ids, FUZZ_MAX_IDS)
                    : tokenizer_encode(t, text, len, bos, ids, FUZZ_MAX_IDS);
    if (n < 0)
        return 0; /* out of space or memory: a clean refusal */
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->n_vocab)
            abort();
        char piece[TOKENIZER_PIECE_MAX];
        int k = tokenizer_decode(t, i ? ids[i - 1] : -1, ids[i], piece, sizeof(piece));
        if (k < 0 || k > (int)sizeof(piece))
            abort();
        if (off + (size_t)k <= sizeof(decoded)) {
            memcpy(decoded + off, piece, (size_t)k);
            off += (size_t)k;
        }
    }
    /* The plain encoding of text holding no special-token text decodes to the text;
     * checked for SentencePiece vocabularies without normalization surprises: only
     * when the text is printable ASCII without leading space. */
    bool simple = !special && len > 0 && text[0] != ' ';
    for (size_t i = 0; simple && i < len; i++)
        simple = text[i] > ' ' && text[i] < 0x7f && text[i] != '<';
    if (simple && (off != len || memcmp(decoded, text, len) != 0)) {
        fprintf(stderr, "decode(encode(%.*s)) = %.*s\n", (int)len, text, (int)off, decoded);
        abort();
    }
    return 0;
}
