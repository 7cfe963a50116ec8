/*
 * sched.c: the generation scheduler (see sched.h). A fixed table of running
 * sequences, stepped in table order once per turn; the batched decode pass over the
 * table follows the steps. Called by gen_poll (llm_boot.c) from the poll loop and by
 * the API backend (api_llm.c); relies on generate.h and port.h.
 */
#include "llm/sched.h"

#include "port.h"

/* Parallel tables: sched_reqs is what gen_forward_pending reads (NULL: free place). */
static struct gen_request *sched_reqs[SCHED_MAX_SEQS];
static const struct sched_sink *sched_sinks[SCHED_MAX_SEQS];
static void *sched_ctxs[SCHED_MAX_SEQS];
static int sched_n;
static uint64_t sched_batches;    /* decode passes that advanced more than one sequence */
static uint64_t sched_batch_rows; /* sequences those passes advanced, all together */

int sched_add(struct gen_request *req, const struct sched_sink *sink, void *ctx) {
    for (int i = 0; i < SCHED_MAX_SEQS; i++) {
        if (sched_reqs[i])
            continue;
        sched_reqs[i] = req;
        sched_sinks[i] = sink;
        sched_ctxs[i] = ctx;
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

/* One step of the sequence at place i. */
static void sched_step(int i) {
    struct gen_request *req = sched_reqs[i];
    const struct sched_sink *sink = sched_sinks[i];
    void *ctx = sched_ctxs[i];
    struct gen_output out;
    out.len = 0;
    int r = gen_step(req, &out);
    sink->output(ctx, &out);
    if (sched_reqs[i] != req || (r >= 0 && r != GEN_STEP_DONE))
        return; /* removed by its consumer, or still running */
    sched_clear(i);
    sink->done(ctx);
}

bool sched_poll(void) {
    bool stepped = false;
    for (int i = 0; i < SCHED_MAX_SEQS; i++) {
        if (!sched_reqs[i])
            continue;
        if (sched_sinks[i]->ready && !sched_sinks[i]->ready(sched_ctxs[i]))
            continue;
        sched_step(i);
        stepped = true;
    }
    if (!stepped)
        return false;
    /* The tokens just sampled, one forward pass for all. */
    int rows = gen_forward_pending(sched_reqs, SCHED_MAX_SEQS);
    if (rows > 1) {
        sched_batches++;
        sched_batch_rows += (uint64_t)rows;
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
                     "cllm_decode_batch_rows_total %llu\n",
                     (unsigned long long)sched_batches, (unsigned long long)sched_batch_rows);
    return n > 0 ? (size_t)n : 0;
}
