/*
 * sched.c: the generation scheduler (see sched.h). A fixed table of running
 * sequences, stepped oldest first once per turn after their KV blocks are reserved;
 * the batched pass over the sequences that stepped follows (their decode rows and
 * prompt chunks together). Called by gen_poll
 * (llm_boot.c) from the poll loop and by the API backend (api_llm.c); relies on
 * generate.h, kv.h, llm.h (the shared pool, for /metrics) and port.h.
 */
#include "llm/sched.h"

#include "llm/llm.h"
#include "port.h"

/* Parallel tables (NULL request: free place). */
static struct gen_request *sched_reqs[SCHED_MAX_SEQS];
static const struct sched_sink *sched_sinks[SCHED_MAX_SEQS];
static void *sched_ctxs[SCHED_MAX_SEQS];
static uint64_t sched_arrival[SCHED_MAX_SEQS]; /* order of sched_add: larger is newer */
static uint64_t sched_next_arrival;
static int sched_n;
static uint64_t sched_batches;    /* decode passes that advanced more than one sequence */
static uint64_t sched_batch_rows; /* sequences those passes advanced, all together */
static uint64_t
    sched_deferred;          /* prompt steps left for a later turn: its prompt budget was spent */
static uint64_t sched_mixed; /* of those, passes with prompt chunks beside decode rows */

int sched_add(struct gen_request *req, const struct sched_sink *sink, void *ctx) {
    for (int i = 0; i < SCHED_MAX_SEQS; i++) {
        if (sched_reqs[i])
            continue;
        sched_reqs[i] = req;
        sched_sinks[i] = sink;
        sched_ctxs[i] = ctx;
        sched_arrival[i] = ++sched_next_arrival;
        sched_n++;
        return 0;
    }
    return -1;
}

static void sched_clear(int i) {
    sched_reqs[i] = NULL;
    sched_sinks[i] = NULL;
    sched_ctxs[i] = NULL;
    sched_n--;
}

void sched_remove(struct gen_request *req) {
    for (int i = 0; req && i < SCHED_MAX_SEQS; i++) {
        if (sched_reqs[i] == req) {
            sched_clear(i);
            return;
        }
    }
}

int sched_active(void) {
    return sched_n;
}

/* The request's blocks table when it is on the shared pool, else NULL. */
static struct kv_seq *sched_kv(struct gen_request *req) {
    return req->state && !req->state->own ? &req->state->kv : NULL;
}

/* Take back the blocks of the newest sequence newer than place i that holds any;
 * false when there is none. */
static bool sched_preempt_newer(int i) {
    int victim = -1;
    for (int j = 0; j < SCHED_MAX_SEQS; j++) {
        struct kv_seq *kv = sched_reqs[j] ? sched_kv(sched_reqs[j]) : NULL;
        if (!kv || !kv->n_blocks || sched_arrival[j] <= sched_arrival[i])
            continue;
        if (victim < 0 || sched_arrival[j] > sched_arrival[victim])
            victim = j;
    }
    if (victim < 0)
        return false;
    sched_reqs[victim]->state->kv.pool->n_preempted++;
    gen_preempt(sched_reqs[victim]);
    return true;
}

/* Blocks for the next step of the sequence at place i, preempting newer ones if the
 * pool is short. false: it cannot step this turn (it gave its own blocks back). */
static bool sched_reserve(int i) {
    struct gen_request *req = sched_reqs[i];
    struct kv_seq *kv = sched_kv(req);
    if (!kv || req->finish != GEN_FINISH_NONE)
        return true;
    while (gen_kv_reserve(req) != 0) {
        if (!sched_preempt_newer(i)) {
            if (kv->n_blocks) {
                kv->pool->n_preempted++;
                gen_preempt(req);
            }
            return false;
        }
    }
    return true;
}

/* One step of the sequence at place i; true if it is still in the table after it. */
static bool sched_step(int i) {
    struct gen_request *req = sched_reqs[i];
    const struct sched_sink *sink = sched_sinks[i];
    void *ctx = sched_ctxs[i];
    struct gen_output out;
    out.len = 0;
    int r = gen_step(req, &out);
    sink->output(ctx, &out);
    if (sched_reqs[i] != req)
        return false; /* removed by its consumer */
    if (r >= 0 && r != GEN_STEP_DONE)
        return true;
    struct kv_seq *kv = sched_kv(req);
    if (kv)
        kv_seq_release(kv); /* its blocks serve others at once, whenever it is freed */
    sched_clear(i);
    sink->done(ctx);
    return false;
}

bool sched_poll(void) {
    /* Places in arrival order, oldest first (insertion sort of at most 64). */
    int order[SCHED_MAX_SEQS], n = 0;
    for (int i = 0; i < SCHED_MAX_SEQS; i++) {
        if (!sched_reqs[i])
            continue;
        int j = n++;
        while (j > 0 && sched_arrival[order[j - 1]] > sched_arrival[i]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    struct gen_request *stepped[SCHED_MAX_SEQS];
    int n_stepped = 0;
    int prompt_rows = 0; /* prompt tokens this turn's pass runs so far, oldest prompts first */
    for (int k = 0; k < n; k++) {
        int i = order[k];
        if (!sched_reqs[i])
            continue;
        if (sched_sinks[i]->ready && !sched_sinks[i]->ready(sched_ctxs[i]))
            continue;
        struct gen_request *req = sched_reqs[i];
        bool prompt = gen_in_prompt(req);
        if (prompt) {
            /* One turn runs at most a chunk of prompt rows, all prompts together, so the
             * decode rows beside them wait one chunk whatever the number of prompts. */
            req->chunk_room = gen_prompt_budget(req) - prompt_rows;
            if (req->chunk_room <= 0) {
                req->chunk_room = 0;
                sched_deferred++;
                continue;
            }
        }
        if (!sched_reserve(i))
            continue;
        bool kept = sched_step(i);
        if (kept && prompt)
            prompt_rows += req->n_chunk;
        stepped[n_stepped++] = kept ? req : NULL;
    }
    if (!n_stepped) {
        if (!sched_n)
            model_scratch_release(); /* idle: the same memory whatever batches ran */
        return false;
    }
    int chunks = 0, tokens = 0;
    for (int k = 0; k < n_stepped; k++) {
        if (stepped[k] && stepped[k]->n_chunk)
            chunks++;
        else if (stepped[k] && stepped[k]->pending)
            tokens++;
    }
    /* The prompt chunks and the tokens just sampled, one forward pass for all. */
    int rows = gen_forward_pending(stepped, n_stepped);
    if (rows > 1) {
        sched_batches++;
        sched_batch_rows += (uint64_t)rows;
        sched_mixed += chunks && tokens;
    }
    return true;
}

size_t sched_metrics_format(char *buf, size_t cap) {
    int n = snprintf(buf, cap,
                     "# HELP cllm_decode_batches_total Forward passes that advanced several "
                     "generations at once.\n"
                     "# TYPE cllm_decode_batches_total counter\ncllm_decode_batches_total %llu\n"
                     "# HELP cllm_decode_batch_rows_total Generations advanced by those passes.\n"
                     "# TYPE cllm_decode_batch_rows_total counter\n"
                     "cllm_decode_batch_rows_total %llu\n"
                     "# HELP cllm_prefill_mixed_batches_total Those passes that ran prompt "
                     "chunks together with decode steps.\n"
                     "# TYPE cllm_prefill_mixed_batches_total counter\n"
                     "cllm_prefill_mixed_batches_total %llu\n"
                     "# HELP cllm_prefill_deferred_total Prompt chunks left for a later turn, "
                     "the turn's prompt rows (cllm.prefill_chunk) being spent by older prompts.\n"
                     "# TYPE cllm_prefill_deferred_total counter\n"
                     "cllm_prefill_deferred_total %llu\n",
                     (unsigned long long)sched_batches, (unsigned long long)sched_batch_rows,
                     (unsigned long long)sched_mixed, (unsigned long long)sched_deferred);
    size_t len = n > 0 ? (size_t)n : 0;
    const struct llm *l = llm_record();
    if (l && l->kv) {
        size_t at = MIN(len, cap);
        len += kv_pool_metrics_format(l->kv, buf ? buf + at : NULL, cap - at);
    }
    return len;
}
