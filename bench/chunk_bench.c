/*
 * The driver of bench/chunk_bench.py: the kernel's generation scheduler (sched.c over
 * generate.c and the forward pass) built for the host, stepped turn after turn as
 * main.c's poll loop steps it, with a wall-clock stamp on every token a stream gets.
 *
 *   chunk_bench MODEL CHUNK STREAMS LONG [THREADS]
 *
 * STREAMS greedy generations of 8-token prompts start; once each has 8 tokens, a
 * prompt of LONG tokens arrives (cllm.prefill_chunk = CHUNK, 0: all at once); the run
 * ends 8 turns after its first token. Output, times in microseconds from the start:
 *   arrive T              the long prompt was added
 *   first T               its first token came out
 *   tok STREAM T          a stream's token
 */
#include <stdio.h>
#include <stdlib.h>

#include "llm/llm.h"
#include "llm/ops.h"
#include "llm/sched.h"
#include "llm/tokenizer.h"
#include "port.h"
#include "smp.h"

#define BENCH_STREAMS 16
#define BENCH_PROMPT 8 /* tokens of a stream's prompt */
#define BENCH_WARM 8   /* tokens every stream has before the long prompt arrives */
#define BENCH_AFTER 8  /* turns run after the long prompt's first token */

static struct llm bench_llm;
static struct tokenizer bench_tok;
static struct kv_pool bench_kv;
static uint64_t bench_t0;

struct llm *llm_get(void) {
    return &bench_llm;
}

struct llm *llm_record(void) {
    return &bench_llm;
}

struct bench_seq {
    int id;     /* stream number, or -1 for the long prompt */
    int n_tok;  /* tokens it has had */
    bool first; /* (long prompt) its first token is out */
};

static void bench_output(void *ctx, const struct gen_output *out) {
    struct bench_seq *q = ctx;
    if (out->token < 0)
        return;
    uint64_t t = port_time_us() - bench_t0;
    q->n_tok++;
    if (q->id >= 0)
        printf("tok %d %llu\n", q->id, (unsigned long long)t);
    else if (!q->first)
        printf("first %llu\n", (unsigned long long)t);
    q->first = true;
}

static void bench_done(void *ctx) {
    (void)ctx;
}

static const struct sched_sink bench_sink = {NULL, bench_output, bench_done};

/* A deterministic prompt of n ids in [3, vocab): BOS first. */
static void bench_prompt(int *out, int n, int vocab, uint32_t seed) {
    out[0] = 1;
    for (int i = 1; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        out[i] = 3 + (int)((seed >> 8) % (uint32_t)(vocab - 3));
    }
}

static int bench_start(struct gen_request *req, const int *prompt, int n, int n_predict,
                       struct bench_seq *q) {
    struct gen_params p;
    gen_params_default(&p);
    p.n_predict = n_predict;
    p.sample.temperature = 0;
    p.ignore_eos = true;
    p.cache_prompt = false;
    char err[160];
    if (gen_init(req, &bench_llm, prompt, n, &p, err, sizeof err) != GEN_OK) {
        fprintf(stderr, "gen_init: %s\n", err);
        return -1;
    }
    return sched_add(req, &bench_sink, q);
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: chunk_bench MODEL CHUNK STREAMS LONG [THREADS]\n");
        return 2;
    }
    int chunk = atoi(argv[2]), streams = atoi(argv[3]), n_long = atoi(argv[4]);
    if (argc > 5 && smp_host_threads(atoi(argv[5])) != 0)
        return 2;
    size_t len;
    uint8_t *data = port_read_file(argv[1], &len);
    char err[256];
    ops_select(true);
    if (!data || model_load(&bench_llm.model, data, len, err, sizeof err) != 0 ||
        tokenizer_load_gguf(&bench_tok, &bench_llm.model.gguf, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", argv[1], data ? err : "cannot read");
        return 1;
    }
    const struct model_config *c = &bench_llm.model.cfg;
    if (streams < 1 || streams > BENCH_STREAMS || n_long < 1 || n_long >= c->seq_len) {
        fprintf(stderr, "streams 1..%d, LONG 1..%d\n", BENCH_STREAMS, c->seq_len - 1);
        return 2;
    }
    /* Each stream generates until the run ends: a token a turn, and the long prompt
     * takes LONG / CHUNK turns. */
    int chunk_eff = chunk > 0 ? MIN(chunk, n_long) : n_long;
    int n_stream = n_long / chunk_eff + BENCH_WARM + BENCH_AFTER + 16;
    int kv_dim = c->n_kv_heads * c->head_dim;
    long positions = (long)streams * (BENCH_PROMPT + n_stream) + n_long + 64;
    size_t bb = kv_block_bytes(c->n_layers, kv_dim, KV_TYPE_F16, KV_BLOCK_LEN);
    if (kv_pool_init(&bench_kv, c->n_layers, kv_dim, KV_TYPE_F16, KV_BLOCK_LEN,
                     (size_t)(positions / KV_BLOCK_LEN + 1) * bb, err, sizeof err) != 0) {
        fprintf(stderr, "kv pool: %s\n", err);
        return 1;
    }
    bench_llm.kv = &bench_kv;
    bench_llm.tok = &bench_tok;
    bench_llm.name = bench_llm.model.name;
    bench_llm.status = LLM_STATUS_READY;
    bench_llm.prefill_chunk = chunk > 0 ? chunk : c->seq_len;

    static struct gen_request reqs[BENCH_STREAMS + 1];
    static struct bench_seq seqs[BENCH_STREAMS + 1];
    int prompt[BENCH_PROMPT];
    bench_t0 = port_time_us();
    for (int i = 0; i < streams; i++) {
        seqs[i].id = i;
        bench_prompt(prompt, BENCH_PROMPT, c->vocab_size, 77u + (uint32_t)i);
        if (bench_start(&reqs[i], prompt, BENCH_PROMPT, n_stream, &seqs[i]) != 0)
            return 1;
    }
    for (bool warm = false; !warm;) {
        sched_poll();
        warm = true;
        for (int i = 0; i < streams; i++)
            warm = warm && seqs[i].n_tok >= BENCH_WARM;
    }
    int *long_prompt = malloc((size_t)n_long * sizeof(int));
    bench_prompt(long_prompt, n_long, c->vocab_size, 4242u);
    struct bench_seq *lq = &seqs[streams];
    lq->id = -1;
    printf("arrive %llu\n", (unsigned long long)(port_time_us() - bench_t0));
    if (bench_start(&reqs[streams], long_prompt, n_long, 4, lq) != 0)
        return 1;
    while (!lq->first)
        sched_poll();
    for (int t = 0; t < BENCH_AFTER; t++)
        sched_poll();
    for (int i = 0; i <= streams; i++) {
        sched_remove(&reqs[i]);
        if (reqs[i].state)
            kv_seq_release(&reqs[i].state->kv);
        gen_free(&reqs[i]);
    }
    free(long_prompt);
    return 0;
}
