/*
 * sampler.c: penalties, top-k, top-p, min-p, temperature and a seeded draw over one
 * logits vector (see sampler.h for the order and the PRNG). Called by generate.c once
 * per generated token; the host tests drive it directly. Relies on port.h (expf,
 * port_alloc at init only).
 */
#include "llm/sampler.h"

#include "port.h"

#define SAMPLER_SEED_ZERO 0x9E3779B97F4A7C15ull /* state used for seed 0 (xorshift needs != 0) */

static int sampler_fail(char *err, size_t errlen, const char *name, float v) {
    if (err && errlen) {
        char num[32];
        sampler_format_float(num, sizeof num, v, 3);
        snprintf(err, errlen, "%s: value %s out of range", name, num);
    }
    return SAMPLER_ERR_PARAM;
}

static bool sampler_bad(float v, float lo, float hi) {
    return v != v || v < lo || v > hi;
}

int sampler_init(struct sampler *s, int n_vocab, const struct sampler_params *p, char *err,
                 size_t errlen) {
    memset(s, 0, sizeof *s);
    if (n_vocab <= 0) {
        if (err && errlen)
            snprintf(err, errlen, "vocab size %d out of range", n_vocab);
        return SAMPLER_ERR_PARAM;
    }
    if (sampler_bad(p->temperature, -1e30f, 1e30f))
        return sampler_fail(err, errlen, "temperature", p->temperature);
    if (sampler_bad(p->top_p, 0.0f, 1.0f))
        return sampler_fail(err, errlen, "top_p", p->top_p);
    if (sampler_bad(p->min_p, 0.0f, 1.0f))
        return sampler_fail(err, errlen, "min_p", p->min_p);
    if (sampler_bad(p->repeat_penalty, 1e-6f, 1e6f))
        return sampler_fail(err, errlen, "repeat_penalty", p->repeat_penalty);
    if (sampler_bad(p->presence_penalty, -1e6f, 1e6f))
        return sampler_fail(err, errlen, "presence_penalty", p->presence_penalty);
    if (sampler_bad(p->frequency_penalty, -1e6f, 1e6f))
        return sampler_fail(err, errlen, "frequency_penalty", p->frequency_penalty);
    s->n_vocab = n_vocab;
    s->p = *p;
    s->rng = p->seed ? p->seed : SAMPLER_SEED_ZERO;
    s->cand = port_alloc((size_t)n_vocab * sizeof *s->cand);
    s->count = port_alloc((size_t)n_vocab * sizeof *s->count);
    if (!s->cand || !s->count) {
        sampler_free(s);
        if (err && errlen)
            snprintf(err, errlen, "out of memory for the sampler (vocab %d)", n_vocab);
        return SAMPLER_ERR_MEMORY;
    }
    memset(s->count, 0, (size_t)n_vocab * sizeof *s->count);
    return 0;
}

void sampler_free(struct sampler *s) {
    port_free(s->cand);
    port_free(s->count);
    s->cand = NULL;
    s->count = NULL;
}

uint32_t sampler_rand_u32(uint64_t *state) {
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return (uint32_t)((x * 0x2545F4914F6CDD1Dull) >> 32);
}

float sampler_rand_f32(uint64_t *state) {
    return (float)(sampler_rand_u32(state) >> 8) / 16777216.0f;
}

/* llama.cpp's penalties: seen tokens get logit / r (positive) or * r (negative), then
 * minus count * frequency and minus presence once. cand[i].id == i here. */
static void sampler_penalize(struct sampler *s, const int *history, int n_history) {
    const struct sampler_params *p = &s->p;
    if (p->repeat_last_n == 0 ||
        (p->repeat_penalty == 1.0f && p->presence_penalty == 0.0f && p->frequency_penalty == 0.0f))
        return;
    int n = p->repeat_last_n < 0 ? n_history : MIN(n_history, p->repeat_last_n);
    const int *h = history + n_history - n;
    for (int i = 0; i < n; i++)
        if (h[i] >= 0 && h[i] < s->n_vocab && s->count[h[i]] < UINT16_MAX)
            s->count[h[i]]++;
    for (int i = 0; i < n; i++) {
        int id = h[i];
        if (id < 0 || id >= s->n_vocab || s->count[id] == 0)
            continue; /* out of range, or already applied */
        float *l = &s->cand[id].logit;
        *l = *l <= 0.0f ? *l * p->repeat_penalty : *l / p->repeat_penalty;
        *l -= (float)s->count[id] * p->frequency_penalty + p->presence_penalty;
        s->count[id] = 0;
    }
}

/* Candidate order: higher logit first, lower id on ties (deterministic). */
static bool sampler_before(const struct sampler_cand *a, const struct sampler_cand *b) {
    return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}

/* Heap sift-down over c[0..n). With worst_root false the root is the candidate that
 * sorts first (for sorting); with worst_root true it is the one that sorts last (the
 * bar a new candidate must pass to enter a top-k set). */
static void sampler_sift(struct sampler_cand *c, int n, int i, bool worst_root) {
    struct sampler_cand v = c[i];
    for (;;) {
        int k = 2 * i + 1;
        if (k >= n)
            break;
        if (k + 1 < n && sampler_before(&c[k + 1], &c[k]) != worst_root)
            k++;
        if (sampler_before(&c[k], &v) == worst_root)
            break;
        c[i] = c[k];
        i = k;
    }
    c[i] = v;
}

/* Sort c[0..n) in sampler_before order (heap sort: no recursion, no allocation). */
static void sampler_sort(struct sampler_cand *c, int n) {
    for (int i = n / 2 - 1; i >= 0; i--)
        sampler_sift(c, n, i, false);
    for (int end = n - 1; end > 0; end--) {
        struct sampler_cand t = c[0];
        c[0] = c[end];
        c[end] = t;
        sampler_sift(c, end, 0, false);
    }
    /* each pop moved the best remaining candidate to the end: reverse */
    for (int i = 0, j = n - 1; i < j; i++, j--) {
        struct sampler_cand t = c[i];
        c[i] = c[j];
        c[j] = t;
    }
}

/* Move the k best candidates of c[0..n) to the front, sorted: a heap of the k best
 * seen so far whose root is the worst of them. */
static void sampler_top_k(struct sampler_cand *c, int n, int k) {
    for (int i = k / 2 - 1; i >= 0; i--)
        sampler_sift(c, k, i, true);
    for (int i = k; i < n; i++) {
        if (sampler_before(&c[i], &c[0])) {
            struct sampler_cand t = c[0];
            c[0] = c[i];
            c[i] = t;
            sampler_sift(c, k, 0, true);
        }
    }
    sampler_sort(c, k);
}

int sampler_sample(struct sampler *s, const float *logits, const int *history, int n_history) {
    struct sampler_cand *c = s->cand;
    int n = s->n_vocab;
    for (int i = 0; i < n; i++) {
        c[i].id = i;
        c[i].logit = logits[i];
    }
    sampler_penalize(s, history, n_history);
    const struct sampler_params *p = &s->p;
    if (!(p->temperature > 0.0f)) {
        int best = 0;
        for (int i = 1; i < n; i++)
            if (c[i].logit > c[best].logit)
                best = i;
        return best;
    }
    if (p->top_k > 0 && p->top_k < n) {
        sampler_top_k(c, n, p->top_k);
        n = p->top_k;
    } else {
        sampler_sort(c, n);
    }
    /* probabilities at temperature 1 for top-p and min-p, as llama.cpp does */
    float max = c[0].logit, sum = 0.0f;
    if (p->top_p < 1.0f || p->min_p > 0.0f) {
        for (int i = 0; i < n; i++)
            sum += expf(c[i].logit - max);
        if (p->top_p < 1.0f) {
            float cum = 0.0f;
            for (int i = 0; i < n; i++) {
                cum += expf(c[i].logit - max) / sum;
                if (cum >= p->top_p) {
                    n = i + 1;
                    break;
                }
            }
        }
        if (p->min_p > 0.0f) {
            /* p_i >= min_p * p_max  <=>  logit_i >= max + log(min_p) */
            float floor = max + logf(p->min_p);
            int keep = 1;
            while (keep < n && c[keep].logit >= floor)
                keep++;
            n = keep;
        }
    }
    sum = 0.0f;
    for (int i = 0; i < n; i++) {
        c[i].logit = expf((c[i].logit - max) / p->temperature);
        sum += c[i].logit;
    }
    float r = sampler_rand_f32(&s->rng) * sum, cum = 0.0f;
    for (int i = 0; i < n; i++) {
        cum += c[i].logit;
        if (r < cum)
            return c[i].id;
    }
    return c[n - 1].id;
}

/* ---------------------------------------------------------------- decimal text */

int sampler_parse_float(const char *s, float *out) {
    const char *p = s;
    bool neg = false;
    if (*p == '+' || *p == '-')
        neg = *p++ == '-';
    double v = 0.0, scale = 1.0;
    int digits = 0;
    while (*p >= '0' && *p <= '9') {
        if (v < 1e30)
            v = v * 10.0 + (*p - '0');
        p++;
        digits++;
    }
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') {
            scale /= 10.0;
            v += (*p - '0') * scale;
            p++;
            digits++;
        }
    }
    if (digits == 0)
        return -1;
    if (*p == 'e' || *p == 'E') {
        p++;
        bool eneg = false;
        if (*p == '+' || *p == '-')
            eneg = *p++ == '-';
        int e = 0, edigits = 0;
        while (*p >= '0' && *p <= '9') {
            if (e < 100)
                e = e * 10 + (*p - '0');
            p++;
            edigits++;
        }
        if (edigits == 0)
            return -1;
        while (e-- > 0)
            v = eneg ? v / 10.0 : v * 10.0;
    }
    if (*p != '\0' || v > 3.0e38)
        return -1;
    *out = (float)(neg ? -v : v);
    return 0;
}

int sampler_format_float(char *buf, size_t cap, float v, int decimals) {
    if (v != v)
        return snprintf(buf, cap, "nan");
    const char *sign = v < 0 ? "-" : "";
    if (v < 0)
        v = -v;
    if (v >= 2.0e9f)
        return snprintf(buf, cap, "%sinf", sign);
    decimals = decimals < 0 ? 0 : decimals > 6 ? 6 : decimals;
    int32_t scale = 1;
    for (int i = 0; i < decimals; i++)
        scale *= 10;
    int32_t ip = (int32_t)v;
    int32_t fp = (int32_t)((v - (float)ip) * (float)scale + 0.5f);
    if (fp >= scale) {
        ip++;
        fp -= scale;
    }
    if (decimals == 0)
        return snprintf(buf, cap, "%s%d", sign, (int)ip);
    char frac[8];
    for (int i = decimals - 1; i >= 0; i--) {
        frac[i] = (char)('0' + fp % 10);
        fp /= 10;
    }
    frac[decimals] = '\0';
    return snprintf(buf, cap, "%s%d.%s", sign, (int)ip, frac);
}
