/*
 * Host harness for chat templates (tests/test_chat.py).
 *   tok_chat detect            template text on stdin -> the detected name
 *   tok_chat apply NAME ADD CAP ROLE CONTENT [ROLE CONTENT ...]
 *       prints "<length>\n" then the formatted text (at most CAP-1 bytes)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm/chat.h"

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "detect") == 0) {
        static char tmpl[1 << 16];
        size_t n = fread(tmpl, 1, sizeof tmpl - 1, stdin);
        tmpl[n] = '\0';
        puts(chat_template_name(chat_detect(n ? tmpl : NULL)));
        return 0;
    }
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
