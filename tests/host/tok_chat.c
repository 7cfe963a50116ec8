/*
 * Host harness for chat templates (tests/test_chat.py).
 *   tok_chat detect            template text on stdin -> the detected name
 *   tok_chat apply NAME ADD CAP ROLE CONTENT [ROLE CONTENT ...]
 *       prints "<length>\n" then the formatted text (at most CAP-1 bytes)
 *   tok_chat model GGUF ADD CAP ROLE CONTENT [ROLE CONTENT ...]
 *       the template chat_detect_model picks for the GGUF's chat template and
 *       vocabulary, then as apply through chat_apply_model, then a line with the token
 *       ids of the text encoded with special tokens
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm/chat.h"
#include "llm/gguf.h"
#include "llm/tokenizer.h"

/* The "model" command: argv as for "apply" with a GGUF path in place of NAME. */
static int chat_model(int argc, char **argv) {
    size_t len;
    uint8_t *data = port_read_file(argv[2], &len);
    struct gguf_file g = {0};
    struct tokenizer t;
    char err[256];
    if (!data || gguf_open(&g, data, len, err, sizeof err) != 0 ||
        tokenizer_load_gguf(&t, &g, err, sizeof err) != 0) {
        printf("error: %s\n", data ? err : "unreadable");
        if (g.data)
            gguf_close(&g);
        port_free(data);
        return 1;
    }
    char *tmpl = NULL;
    struct gguf_str s;
    if (gguf_get_str(&g, "tokenizer.chat_template", &s)) {
        tmpl = malloc(s.len + 1);
        memcpy(tmpl, s.ptr, s.len);
        tmpl[s.len] = 0;
    }
    size_t n = (size_t)(argc - 5) / 2;
    struct chat_message msgs[16];
    for (size_t i = 0; i < n && i < 16; i++)
        msgs[i] = (struct chat_message){argv[5 + 2 * i], argv[6 + 2 * i], strlen(argv[6 + 2 * i])};
    size_t cap = (size_t)atoi(argv[4]);
    char *out = malloc(cap + 1);
    size_t k = chat_apply_model(tmpl, &t, msgs, n < 16 ? n : 16, atoi(argv[3]) != 0, out, cap);
    printf("%s\n%zu\n%s\n", chat_template_name(chat_detect_model(tmpl, &t)), k, out);
    int ids[4096];
    int m = tokenizer_encode_special(&t, out, strlen(out), t.add_bos, ids, 4096);
    for (int i = 0; i < m; i++)
        printf(i ? " %d" : "%d", ids[i]);
    putchar('\n');
    free(out);
    free(tmpl);
    tokenizer_free(&t);
    gguf_close(&g);
    port_free(data);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "detect") == 0) {
        static char tmpl[1 << 16];
        size_t n = fread(tmpl, 1, sizeof tmpl - 1, stdin);
        tmpl[n] = '\0';
        puts(chat_template_name(chat_detect(n ? tmpl : NULL)));
        return 0;
    }
    if (argc >= 5 && strcmp(argv[1], "model") == 0 && (argc - 5) % 2 == 0)
        return chat_model(argc, argv);
    if (argc < 5 || strcmp(argv[1], "apply") != 0 || (argc - 5) % 2 != 0)
        return 2;
    int t = chat_template_from_name(argv[2]);
    if (t < 0) {
        puts("unknown template");
        return 1;
    }
    size_t n = (size_t)(argc - 5) / 2;
    struct chat_message msgs[16];
    if (n > 16)
        return 2;
    for (size_t i = 0; i < n; i++)
        msgs[i] = (struct chat_message){argv[5 + 2 * i], argv[6 + 2 * i], strlen(argv[6 + 2 * i])};
    size_t cap = (size_t)atoi(argv[4]);
    char *out = malloc(cap ? cap : 1);
    size_t len = chat_apply((enum chat_template)t, msgs, n, atoi(argv[3]) != 0, out, cap);
    printf("%zu\n", len);
    if (cap)
        fwrite(out, 1, strlen(out), stdout);
    free(out);
    return 0;
}
