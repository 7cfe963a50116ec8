/*
 * Host harness for the GBNF grammar (kernel/llm/grammar.c), built with ASan/UBSan.
 *
 *   grammar_main FILE compile              "ok RULES ELEMS" or "error: <message>"
 *   grammar_main FILE check TEXT...        per text: "full", "prefix" or "reject", fed
 *                                          whole, then checked byte by byte to agree
 *   grammar_main FILE walk SEED N TOKEN... N random sentences built from the TOKENs (as a
 *                                          sampler would: only accepted tokens, ending when
 *                                          the sentence is complete), one per line, as JSON
 *                                          strings; "stuck" when no token fits (past 1500
 *                                          bytes tokens with an opening bracket are left
 *                                          out, so that nesting closes)
 * Used by tests/test_grammar.py.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm/grammar.h"

static uint32_t rng(uint32_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static const char *verdict(struct grammar_state *s, const char *text) {
    size_t n = strlen(text);
    if (!grammar_accepts(s, (const uint8_t *)text, n))
        return "reject";
    grammar_advance(s, (const uint8_t *)text, n);
    return grammar_complete(s) ? "full" : "prefix";
}

static void json_string(const char *t, size_t n) {
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    puts("\"");
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: grammar_main FILE compile|check|walk ...\n");
        return 2;
    }
    size_t len;
    uint8_t *src = port_read_file(argv[1], &len);
    if (!src) {
        printf("error: cannot read %s\n", argv[1]);
        return 1;
    }
    struct grammar *g;
    char err[200];
    if (grammar_compile(&g, (const char *)src, len, err, sizeof(err))) {
        printf("error: %s\n", err);
        port_free(src);
        return 1;
    }
    port_free(src);
    struct grammar_state s, t;
    if (grammar_state_init(&s, g, err, sizeof(err)) ||
        grammar_state_init(&t, g, err, sizeof(err))) {
        printf("error: %s\n", err);
        return 1;
    }
    int rc = 0;
    if (!strcmp(argv[2], "compile")) {
        printf("ok %d %d\n", g->n_rules, g->n_elems);
    } else if (!strcmp(argv[2], "check")) {
        struct grammar_state init;
        grammar_state_init(&init, g, err, sizeof(err));
        grammar_state_copy(&init, &s);
        for (int i = 3; i < argc; i++) {
            grammar_state_copy(&s, &init);
            const char *whole = verdict(&s, argv[i]);
            /* byte by byte must agree: a token may end inside a character */
            grammar_state_copy(&t, &init);
            const char *bytes = "prefix";
            for (size_t k = 0; argv[i][k]; k++) {
                char one[2] = {argv[i][k], 0};
                if (!grammar_accepts(&t, (const uint8_t *)one, 1) ||
                    grammar_advance(&t, (const uint8_t *)one, 1)) {
                    bytes = "reject";
                    break;
                }
            }
            if (strcmp(bytes, "reject"))
                bytes = grammar_complete(&t) ? "full" : "prefix";
            if (strcmp(whole, bytes)) {
                printf("split-mismatch %s %s\n", whole, bytes);
                rc = 1;
            } else {
                printf("%s\n", whole);
            }
        }
        grammar_state_free(&init);
    } else if (!strcmp(argv[2], "walk") && argc > 5) {
        uint32_t seed = (uint32_t)strtoul(argv[3], NULL, 10) | 1;
        int n = atoi(argv[4]);
        int n_tok = argc - 5;
        char **tok = argv + 5;
        struct grammar_state init;
        grammar_state_init(&init, g, err, sizeof(err));
        grammar_state_copy(&init, &s);
        int *ok = malloc(sizeof(int) * (size_t)n_tok);
        for (int w = 0; w < n; w++) {
            grammar_state_copy(&s, &init);
            char text[8192];
            size_t tl = 0;
            for (;;) {
                int n_ok = 0;
                for (int k = 0; k < n_tok; k++) {
                    /* past 1500 bytes, no more opening brackets: the walk closes */
                    if (tl > 1500 && strpbrk(tok[k], "{[("))
                        continue;
                    if (grammar_accepts(&s, (const uint8_t *)tok[k], strlen(tok[k])))
                        ok[n_ok++] = k;
                }
                bool can_end = grammar_complete(&s);
                if (n_ok == 0 && !can_end) {
                    printf("stuck after ");
                    json_string(text, tl);
                    rc = 1;
                    break;
                }
                /* end with a chance once complete, surely when the text gets long */
                if (can_end && (n_ok == 0 || tl > 3000 || rng(&seed) % 8 == 0)) {
                    json_string(text, tl);
                    break;
                }
                const char *pick = tok[ok[rng(&seed) % (uint32_t)n_ok]];
                size_t pl = strlen(pick);
                if (tl + pl >= sizeof(text) || grammar_advance(&s, (const uint8_t *)pick, pl)) {
                    puts(tl + pl >= sizeof(text) ? "too-long" : "advance-refused");
                    rc = 1;
                    break;
                }
                memcpy(text + tl, pick, pl);
                tl += pl;
            }
        }
        free(ok);
        grammar_state_free(&init);
    } else {
        fprintf(stderr, "unknown command %s\n", argv[2]);
        rc = 2;
    }
    grammar_state_free(&s);
    grammar_state_free(&t);
    grammar_free(g);
    return rc;
}
