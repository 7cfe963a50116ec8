/*
 * Host harness for the sampler (tests/test_sampler.py).
 *
 *   tok_sampler sample N TEMP TOP_K TOP_P MIN_P REP REP_N PRES FREQ SEED LOGITS... [-- HISTORY...]
 *       N draws from the same logits and history; prints the ids on one line
 *   tok_sampler rand SEED N       N outputs of the PRNG (u32)
 *   tok_sampler parse TEXT        the float parsed, formatted with 6 decimals, or "error"
 *   tok_sampler format V DECIMALS
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm/sampler.h"

static float num(const char *s) {
    float v;
    if (sampler_parse_float(s, &v) != 0) {
        fprintf(stderr, "bad number %s\n", s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv) {
    char buf[64];
    if (argc == 4 && strcmp(argv[1], "rand") == 0) {
        uint64_t st = strtoull(argv[2], NULL, 0);
        for (int i = 0, n = atoi(argv[3]); i < n; i++)
            printf(i ? " %u" : "%u", sampler_rand_u32(&st));
        putchar('\n');
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "parse") == 0) {
        float v;
        if (sampler_parse_float(argv[2], &v) != 0) {
            puts("error");
            return 0;
        }
        sampler_format_float(buf, sizeof buf, v, 6);
        puts(buf);
        return 0;
    }
    if (argc == 4 && strcmp(argv[1], "format") == 0) {
        sampler_format_float(buf, sizeof buf, num(argv[2]), atoi(argv[3]));
        puts(buf);
        return 0;
    }
    if (argc < 13 || strcmp(argv[1], "sample") != 0) {
        fprintf(stderr, "usage: see the file header\n");
        return 2;
    }
    struct sampler_params p = {
        .temperature = num(argv[3]),
        .top_k = atoi(argv[4]),
        .top_p = num(argv[5]),
        .min_p = num(argv[6]),
        .repeat_penalty = num(argv[7]),
        .repeat_last_n = atoi(argv[8]),
        .presence_penalty = num(argv[9]),
        .frequency_penalty = num(argv[10]),
        .seed = strtoull(argv[11], NULL, 0),
    };
    int n_logits = 0, n_hist = 0;
    float *logits = malloc((size_t)argc * sizeof *logits);
    int *hist = malloc((size_t)argc * sizeof *hist);
    int i = 12;
    for (; i < argc && strcmp(argv[i], "--") != 0; i++)
        logits[n_logits++] = num(argv[i]);
    for (i++; i < argc; i++)
        hist[n_hist++] = atoi(argv[i]);
    struct sampler s;
    char err[128];
    if (sampler_init(&s, n_logits, &p, err, sizeof err) != 0) {
        printf("error: %s\n", err);
        free(logits);
        free(hist);
        return 1;
    }
    for (int k = 0, n = atoi(argv[2]); k < n; k++)
        printf(k ? " %d" : "%d", sampler_sample(&s, logits, hist, n_hist));
    putchar('\n');
    sampler_free(&s);
    free(logits);
    free(hist);
    return 0;
}
