/*
 * Host harness for the model loader and forward pass (kernel/llm built with
 * -DCLLM_HOST). Used by tests/test_llm_*.py and bench/llm_bench.py.
 *
 *   llm_main [--scalar] [--ctx N] MODEL info
 *   llm_main [--scalar] [--ctx N] MODEL logits TOK...      one line of logits per token
 *   llm_main [--scalar] [--ctx N] MODEL greedy STEPS TOK... feed TOKs, then greedy
 *   llm_main [--scalar] [--ctx N] MODEL bench STEPS TOK...  timings of prompt and generation
 *   llm_main [--scalar] [--ctx N] MODEL multi STEPS T,T,... T,T,...  several sequences
 *       (comma-separated prompts): each prompt batched, then STEPS greedy steps of all
 *       sequences together, one row each through model_forward_rows; one line of tokens per
 * sequence llm_main [--scalar] --chunk K MODEL multi STEPS T,T,... T,T,...  the same sequences
 *       stepped as the scheduler does it: one model_forward_rows call a turn holding the
 *       next K prompt tokens of each sequence still reading its prompt and the next token
 *       of each one past it, until every sequence has STEPS tokens
 *   llm_main [--ctx N] MODEL mutate SEED COUNT LIMIT      load COUNT copies of MODEL with
 *       random bytes changed within its first LIMIT bytes; run two tokens through each
 *       one that loads; print how many loaded and were refused (a fuzz test under ASan)
 *
 * --kv-f16 (logits, greedy, bench): the KV cache in a pool of IEEE halves (kv.h) instead of
 * the state's private F32 one.
 *
 * Errors print "error: <message>" and exit 1. --scalar forces the scalar kernels,
 * --avx2 the AVX2 set (exit 3 where the CPU lacks AVX2, FMA or F16C).
 * --batch runs the TOKs through model_forward_batch (for `logits`: one line, the last).
 * --threads N splits the matrix products across N threads (smp_host_threads), as the
 * kernel splits them across its CPUs; the output is the same for every N.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host_cpu.h"
#include "llm/model.h"
#include "llm/ops.h"
#include "smp.h"

static uint32_t rng_next(uint32_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static int mutate(const uint8_t *data, size_t len, uint32_t seed, int count, size_t limit,
                  int n_ctx) {
    uint8_t *buf = port_alloc(len);
    int loaded = 0, refused = 0;
    limit = MIN(limit, len);
    for (int i = 0; i < count; i++) {
        memcpy(buf, data, len);
        int flips = 1 + (int)(rng_next(&seed) % 8);
        for (int f = 0; f < flips; f++) {
            size_t at = rng_next(&seed) % limit;
            uint32_t r = rng_next(&seed);
            buf[at] = (r & 3) == 0 ? 0xff : (r & 3) == 1 ? 0 : (uint8_t)(r >> 8);
        }
        size_t n = rng_next(&seed) % 16 == 0 ? rng_next(&seed) % len : len; /* sometimes truncate */
        struct model m;
        char err[160];
        if (model_load(&m, buf, n, err, sizeof(err))) {
            refused++;
            continue;
        }
        loaded++;
        struct model_state s;
        if (model_state_init(&s, &m, n_ctx) == 0) {
            model_forward(&m, &s, 1 % m.cfg.vocab_size, 0);
            model_forward(&m, &s, 0, 1 < s.n_ctx ? 1 : 0);
            model_state_free(&s);
        }
        model_free(&m);
    }
    port_free(buf);
    printf("loaded %d refused %d\n", loaded, refused);
    return 0;
}

static int argmax(const float *v, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best])
            best = i;
    return best;
}

#define MULTI_MAX 16

/* The `multi` command: argv[0] is STEPS, argv[1..] the prompts. */
static int multi(const struct model *m, int n_ctx, int argc, char **argv) {
    int n = argc - 1, steps = argc > 0 ? atoi(argv[0]) : 0;
    if (n < 1 || n > MULTI_MAX) {
        printf("error: multi needs STEPS and 1..%d prompts\n", MULTI_MAX);
        return 1;
    }
    struct model_state st[MULTI_MAX];
    struct model_state *sp[MULTI_MAX];
    int pos[MULTI_MAX], next[MULTI_MAX], out[MULTI_MAX][512], rc = 0, ready = 0;
    for (int i = 0; i < n; i++) {
        int toks[512], k = 0;
        for (char *t = strtok(argv[i + 1], ","); t && k < 512; t = strtok(NULL, ","))
            toks[k++] = atoi(t);
        sp[i] = &st[i];
        const float *lg = NULL;
        if (model_state_init(&st[i], m, n_ctx) == 0)
            ready++;
        if (ready == i || !(lg = model_forward_batch(m, &st[i], toks, k, 0))) {
            printf("error: prompt %d refused: %s\n", i, ready == i ? "out of memory" : st[i].error);
            rc = 1;
            goto out;
        }
        pos[i] = k;
        next[i] = argmax(lg, m->cfg.vocab_size);
    }
    for (int s = 0; s < steps && s < 512; s++) {
        for (int i = 0; i < n; i++)
            out[i][s] = next[i];
        struct model_row rows[MULTI_MAX];
        for (int i = 0; i < n; i++)
            rows[i] = (struct model_row){sp[i], next[i], pos[i], true};
        if (model_forward_rows(m, rows, n) != 0) {
            for (int i = 0; i < n; i++) /* each alone: the failing sequence says why */
                if (!model_forward(m, sp[i], next[i], pos[i]))
                    printf("error: sequence %d step %d: %s\n", i, s, st[i].error);
            printf("error: step %d refused\n", s);
            rc = 1;
            goto out;
        }
        for (int i = 0; i < n; i++) {
            pos[i]++;
            next[i] = argmax(st[i].logits, m->cfg.vocab_size);
        }
    }
    for (int i = 0; i < n; i++) {
        for (int s = 0; s < steps && s < 512; s++)
            printf(s ? " %d" : "%d", out[i][s]);
        printf("\n");
    }
out:
    for (int i = 0; i < ready; i++)
        model_state_free(&st[i]);
    return rc;
}

/* `multi` with --chunk k: sequences at different stages in one model_forward_rows call
 * a turn, prompt chunks beside decode rows. */
static int multi_rows(const struct model *m, int n_ctx, int k, int argc, char **argv) {
    int n = argc - 1, steps = argc > 0 ? atoi(argv[0]) : 0;
    if (n < 1 || n > MULTI_MAX || k < 1 || steps < 1 || steps > 512) {
        printf("error: multi --chunk needs K > 0, STEPS 1..512 and 1..%d prompts\n", MULTI_MAX);
        return 1;
    }
    static struct model_state st[MULTI_MAX];
    static int toks[MULTI_MAX][1024]; /* the prompt, then the tokens generated */
    static struct model_row rows[MULTI_MAX * 1024];
    int len[MULTI_MAX], done[MULTI_MAX], n_prompt[MULTI_MAX], rc = 0, ready = 0;
    for (int i = 0; i < n; i++) {
        len[i] = 0;
        for (char *t = strtok(argv[i + 1], ","); t && len[i] < 512; t = strtok(NULL, ","))
            toks[i][len[i]++] = atoi(t);
        n_prompt[i] = len[i];
        done[i] = 0;
        if (model_state_init(&st[i], m, n_ctx) != 0) {
            printf("error: out of memory\n");
            rc = 1;
            goto out;
        }
        ready++;
    }
    for (int turn = 0;; turn++) {
        int nr = 0;
        for (int i = 0; i < n; i++) {
            if (len[i] - n_prompt[i] >= steps)
                continue;
            int take = done[i] < n_prompt[i] ? MIN(k, n_prompt[i] - done[i]) : 1;
            for (int j = 0; j < take; j++)
                rows[nr++] = (struct model_row){&st[i], toks[i][done[i] + j], done[i] + j,
                                                j == take - 1 && done[i] + take >= n_prompt[i]};
        }
        if (!nr)
            break;
        if (model_forward_rows(m, rows, nr) != 0) {
            printf("error: turn %d refused\n", turn);
            rc = 1;
            goto out;
        }
        for (int b = 0; b < nr; b++) { /* every row moves its sequence on; wanted logits sample */
            struct model_state *s = rows[b].s;
            int i = (int)(s - st);
            done[i]++;
            if (rows[b].logits)
                toks[i][len[i]++] = argmax(s->logits, m->cfg.vocab_size);
        }
    }
    for (int i = 0; i < n; i++) {
        for (int s = n_prompt[i]; s < len[i]; s++)
            printf(s > n_prompt[i] ? " %d" : "%d", toks[i][s]);
        printf("\n");
    }
out:
    for (int i = 0; i < ready; i++)
        model_state_free(&st[i]);
    return rc;
}

int main(int argc, char **argv) {
    bool scalar = false, batch = false, kv_f16 = false, avx2 = false;
    int n_ctx = 0, a = 1, chunk = 0;
    for (; a < argc && argv[a][0] == '-'; a++) {
        if (!strcmp(argv[a], "--scalar"))
            scalar = true;
        else if (!strcmp(argv[a], "--batch"))
            batch = true;
        else if (!strcmp(argv[a], "--avx2"))
            avx2 = true;
        else if (!strcmp(argv[a], "--kv-f16"))
            kv_f16 = true;
        else if (!strcmp(argv[a], "--ctx") && a + 1 < argc)
            n_ctx = atoi(argv[++a]);
        else if (!strcmp(argv[a], "--chunk") && a + 1 < argc)
            chunk = atoi(argv[++a]);
        else if (!strcmp(argv[a], "--threads") && a + 1 < argc &&
                 smp_host_threads(atoi(argv[++a])) != 0) {
            printf("error: --threads %s: give 1..%d\n", argv[a], SMP_MAX_CPUS);
            return 1;
        }
    }
    if (argc - a < 2) {
        fprintf(stderr, "usage: llm_main [--scalar] [--batch] [--ctx N] [--threads N] MODEL "
                        "info|logits|greedy|bench ...\n");
        return 2;
    }
    const char *path = argv[a], *cmd = argv[a + 1];
    a += 2;
    size_t len;
    uint8_t *data = port_read_file(path, &len);
    if (!data) {
        printf("error: cannot read %s\n", path);
        return 1;
    }
    if (avx2 && host_cpu_avx2_missing()) {
        printf("error: --avx2: this CPU lacks %s\n", host_cpu_avx2_missing());
        return 3;
    }
    if (avx2)
        ops_select_kernels(&ops_avx2);
    else
        ops_select(!scalar);
    struct model m;
    char err[160];
    if (model_load(&m, data, len, err, sizeof(err))) {
        printf("error: %s\n", err);
        port_free(data);
        return 1;
    }
    const struct model_config *c = &m.cfg;
    if (!strcmp(cmd, "info")) {
        printf("name %s dim %d hidden %d layers %d heads %d kv_heads %d vocab %d ctx %d type %s "
               "tied %d ops %s "
               "arch %s head_dim %d\n",
               m.name, c->dim, c->hidden_dim, c->n_layers, c->n_heads, c->n_kv_heads, c->vocab_size,
               c->seq_len, model_wtype_name(c->wtype), m.tied_output, ops_name(), c->arch,
               c->head_dim);
        model_free(&m);
        port_free(data);
        return 0;
    }
    if (!strcmp(cmd, "mutate")) {
        if (argc - a < 3) {
            printf("error: mutate needs SEED COUNT LIMIT\n");
            return 1;
        }
        model_free(&m);
        int rc = mutate(data, len, (uint32_t)strtoul(argv[a], NULL, 10) | 1u, atoi(argv[a + 1]),
                        (size_t)strtoul(argv[a + 2], NULL, 10), n_ctx > 0 ? n_ctx : 8);
        port_free(data);
        return rc;
    }
    if (!strcmp(cmd, "multi")) {
        int rc = chunk ? multi_rows(&m, n_ctx, chunk, argc - a, argv + a)
                       : multi(&m, n_ctx, argc - a, argv + a);
        model_free(&m);
        port_free(data);
        return rc;
    }
    int steps = 0;
    if (!strcmp(cmd, "greedy") || !strcmp(cmd, "bench")) {
        if (a >= argc) {
            printf("error: missing STEPS\n");
            return 1;
        }
        steps = atoi(argv[a++]);
    }
    struct model_state s;
    struct kv_pool pool = {0};
    int kv_dim = c->n_kv_heads * c->head_dim, ctx = n_ctx > 0 ? MIN(n_ctx, c->seq_len) : c->seq_len;
    size_t bb = kv_block_bytes(c->n_layers, kv_dim, KV_TYPE_F16, KV_BLOCK_LEN);
    if (kv_f16 && (kv_pool_init(&pool, c->n_layers, kv_dim, KV_TYPE_F16, KV_BLOCK_LEN,
                                (size_t)(ctx / KV_BLOCK_LEN + 1) * bb, err, sizeof(err)) ||
                   model_state_init_pool(&s, &m, ctx, &pool) || kv_seq_reserve(&s.kv, ctx))) {
        printf("error: no F16 KV pool\n");
        return 1;
    }
    if (!kv_f16 && model_state_init(&s, &m, n_ctx)) {
        printf("error: out of memory for state\n");
        return 1;
    }
    int rc = 0, pos = 0, n_prompt = argc - a;
    const float *logits = NULL;
    uint64_t t0 = port_time_us();
    if (batch && n_prompt > 0) {
        int *toks = port_alloc((size_t)n_prompt * sizeof(int));
        for (int i = 0; toks && i < n_prompt; i++)
            toks[i] = atoi(argv[a + i]);
        logits = toks ? model_forward_batch(&m, &s, toks, n_prompt, 0) : NULL;
        port_free(toks);
        if (!logits) {
            printf("error: prompt of %d tokens refused: %s\n", n_prompt, s.error);
            rc = 1;
            goto out;
        }
        if (!strcmp(cmd, "logits"))
            for (int i = 0; i < c->vocab_size; i++)
                printf(i ? " %.9g" : "%.9g", logits[i]);
        if (!strcmp(cmd, "logits"))
            printf("\n");
        a = argc;
        pos = n_prompt;
    }
    for (; a < argc; a++, pos++) {
        logits = model_forward(&m, &s, atoi(argv[a]), pos);
        if (!logits) {
            printf("error: token %s at position %d: %s\n", argv[a], pos, s.error);
            rc = 1;
            goto out;
        }
        if (!strcmp(cmd, "logits")) {
            for (int i = 0; i < c->vocab_size; i++)
                printf(i ? " %.9g" : "%.9g", logits[i]);
            printf("\n");
        }
    }
    uint64_t t1 = port_time_us();
    if (steps && logits) {
        int n = 0;
        for (; n < steps && pos < s.n_ctx; n++, pos++) {
            int tok = argmax(logits, c->vocab_size);
            if (strcmp(cmd, "bench"))
                printf(n ? " %d" : "%d", tok);
            logits = model_forward(&m, &s, tok, pos);
            if (!logits) {
                printf("\nerror: step %d at position %d: %s\n", n, pos, s.error);
                rc = 1;
                goto out;
            }
        }
        uint64_t t2 = port_time_us();
        if (!strcmp(cmd, "bench"))
            printf("prompt %d tokens %.3f ms generate %d tokens %.3f ms ops %s threads %d\n",
                   n_prompt, (double)(t1 - t0) / 1000.0, n, (double)(t2 - t1) / 1000.0, ops_name(),
                   smp_cpu_count());
        else
            printf("\n");
    }
out:
    model_state_free(&s);
    kv_pool_free(&pool);
    model_free(&m);
    port_free(data);
    return rc;
}
