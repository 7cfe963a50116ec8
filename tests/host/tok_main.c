/*
 * Host harness for the tokenizer (tests/test_tokenizer.py): loads a vocabulary from a
 * GGUF or a llama2.c tokenizer.bin, then for each stdin line "<flags> <hex>" (flags one
 * hex digit) encodes the hex-decoded bytes and prints "<ids separated by spaces>|<hex of
 * the decoded ids>".
 * flags: bit 0 = add BOS, bit 1 = parse special-token text, bit 2 = add BOS as the
 * vocabulary says (tokenizer.ggml.add_bos_token or its default) instead of bit 0, bit 3 =
 * append "|" and tokenizer_is_eog of each id (0/1, space-separated).
 *
 *   tok_main gguf FILE
 *   tok_main bin FILE N_VOCAB
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm/gguf.h"
#include "llm/tokenizer.h"

static int hexval(int c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: tok_main gguf FILE | bin FILE N_VOCAB\n");
        return 2;
    }
    size_t len;
    uint8_t *data = port_read_file(argv[2], &len);
    if (!data) {
        fprintf(stderr, "cannot read %s\n", argv[2]);
        return 2;
    }
    struct tokenizer t;
    struct gguf_file g = {0};
    char err[256];
    int rc;
    bool is_gguf = strcmp(argv[1], "gguf") == 0;
    if (is_gguf) {
        rc = gguf_open(&g, data, len, err, sizeof err);
        if (rc == 0)
            rc = tokenizer_load_gguf(&t, &g, err, sizeof err);
    } else {
        rc = tokenizer_load_llama2c(&t, data, len, argc > 3 ? atoi(argv[3]) : 0, err, sizeof err);
    }
    if (rc != 0) {
        printf("error: %s\n", err);
        if (is_gguf && g.data)
            gguf_close(&g);
        port_free(data);
        return 1;
    }
    size_t cap = 1 << 22; /* bytes per input line: 2 MiB of text */
    char *line = malloc(cap);
    char *text = malloc(cap);
    int *ids = malloc(cap * sizeof *ids);
    char piece[TOKENIZER_PIECE_MAX];
    while (fgets(line, (int)cap, stdin)) {
        int flags = hexval(line[0]); /* one hex digit */
        size_t n = 0;
        for (char *p = line + 2; hexval(p[0]) >= 0 && hexval(p[1]) >= 0; p += 2)
            text[n++] = (char)(hexval(p[0]) * 16 + hexval(p[1]));
        bool bos = (flags & 4) ? t.add_bos : (flags & 1);
        int k = (flags & 2) ? tokenizer_encode_special(&t, text, n, bos, ids, (int)cap)
                            : tokenizer_encode(&t, text, n, bos, ids, (int)cap);
        if (k < 0) {
            printf("error %d\n", k);
            continue;
        }
        for (int i = 0; i < k; i++)
            printf(i ? " %d" : "%d", ids[i]);
        putchar('|');
        for (int i = 0; i < k; i++) {
            int m = tokenizer_decode(&t, i ? ids[i - 1] : -1, ids[i], piece, sizeof piece);
            for (int j = 0; j < m; j++)
                printf("%02x", (uint8_t)piece[j]);
        }
        if (flags & 8) {
            putchar('|');
            for (int i = 0; i < k; i++)
                printf(i ? " %d" : "%d", tokenizer_is_eog(&t, ids[i]));
        }
        putchar('\n');
        fflush(stdout);
    }
    free(line);
    free(text);
    free(ids);
    tokenizer_free(&t);
    if (is_gguf)
        gguf_close(&g);
    port_free(data);
    return 0;
}
