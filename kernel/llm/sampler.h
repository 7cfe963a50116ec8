/*
 * sampler: pick the next token from a logits vector. Used by the generation loop
 * (generate.c), one sampler per request. Semantics follow llama.cpp's default chain:
 * repetition/presence/frequency penalties over the last repeat_last_n tokens, then
 * top-k, top-p, min-p, temperature, softmax and a draw from a seeded PRNG.
 * temperature <= 0 is greedy: the argmax after penalties.
 *
 * PRNG: xorshift64* (Marsaglia's xorshift64 step, output multiplied by
 * 0x2545F4914F6CDD1D, high 32 bits kept); a uniform float in [0,1) is the top 24 bits
 * of that divided by 2^24. Seed 0 is mapped to a fixed non-zero state. Same seed and
 * same logits give the same tokens on every build (kernel x87 and host).
 *
 * Memory: sampler_init allocates the scratch (n_vocab candidates and counters) once;
 * sampling a token allocates nothing. Relies only on port.h.
 */
#ifndef CLLM_LLM_SAMPLER_H
#define CLLM_LLM_SAMPLER_H

#include "types.h"

struct sampler_params {
    float temperature;       /* <= 0: greedy */
    int top_k;               /* keep the k most likely; <= 0: off */
    float top_p;             /* keep the smallest set with mass >= top_p; >= 1: off */
    float min_p;             /* drop tokens with p < min_p * p_max; <= 0: off */
    float repeat_penalty;    /* divide positive / multiply negative logits of seen tokens; 1: off */
    int repeat_last_n;       /* window of history the penalties look at; 0: off */
    float presence_penalty;  /* subtracted once from each seen token's logit; 0: off */
    float frequency_penalty; /* subtracted per occurrence; 0: off */
    uint64_t seed;           /* PRNG seed */
};

struct sampler_cand {
    int id;
    float logit; /* then probability after softmax */
};

struct sampler {
    int n_vocab;
    struct sampler_params p;
    uint64_t rng;              /* xorshift64* state, never 0 */
    struct sampler_cand *cand; /* (n_vocab) scratch */
    uint16_t *count;           /* (n_vocab) occurrences in the penalty window, zero between calls */
};

#define SAMPLER_ERR_PARAM (-1)  /* sampler_init: a parameter is out of range */
#define SAMPLER_ERR_MEMORY (-2) /* sampler_init: the scratch cannot be allocated */

/* 0 on success, else SAMPLER_ERR_PARAM or SAMPLER_ERR_MEMORY with a message naming
 * the parameter or the size in err. */
int sampler_init(struct sampler *s, int n_vocab, const struct sampler_params *p, char *err,
                 size_t errlen);
void sampler_free(struct sampler *s);

/* Next token from logits (n_vocab, left unchanged); history holds the n_history most
 * recent tokens (oldest first) for the penalties. */
int sampler_sample(struct sampler *s, const float *logits, const int *history, int n_history);

/* The PRNG, exposed for tests: next 32-bit output and next float in [0,1). */
uint32_t sampler_rand_u32(uint64_t *state);
float sampler_rand_f32(uint64_t *state);

/* Decimal text <-> float for parameters given as text (kernel command line, logs; the
 * kernel's printf has no %f). parse: [+-]digits[.digits][e[+-]digits], the whole string;
 * 0 on success, -1 if malformed or out of float range. format: fixed-point with
 * `decimals` (0..6) digits, like snprintf's return. */
int sampler_parse_float(const char *s, float *out);
int sampler_format_float(char *buf, size_t cap, float v, int decimals);

#endif
