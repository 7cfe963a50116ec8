/*
 * The generation scheduler: the table of running sequences (generate.h requests) and
 * the turn that advances them together. main.c's poll loop calls gen_poll (subsys.h),
 * which is sched_poll; the HTTP API's model backend (kernel/http/api_llm.c) adds a
 * sequence per request. Relies on generate.h and port.h only, so it builds on the host.
 *
 * One turn (sched_poll): every sequence whose consumer can take more output runs one
 * gen_step (a prompt chunk or one sampled token) and its released text goes to the
 * consumer's sink; then the forward passes those steps left pending run as one batched
 * pass (gen_forward_pending): the decode rows of the sequences that sampled and the
 * prompt chunks of those still reading their prompts, every weight matrix read once
 * for all. That is continuous batching with chunked prefill: a sequence joins or
 * leaves between turns, never waits for another one to finish, and a long prompt
 * costs the others one chunk (cllm.prefill_chunk) of time per turn, not its whole
 * length.
 *
 * KV memory (requests on the shared pool, kv.h): sequences step oldest first, and
 * before its step each one reserves the blocks the step needs (gen_kv_need). When the
 * pool is short, the newest sequence holding blocks is preempted (gen_preempt: blocks
 * back, tokens kept; it recomputes them when it runs again, with the same output); if
 * the one asking is itself the newest, it gives its blocks back and waits. So a new
 * request is admitted as soon as blocks are free, and the oldest always progresses.
 *
 * Ownership: the caller allocates the gen_request and gen_init's it; sched_add only
 * registers it, and the caller stays its owner (gen_free and the memory). A sequence
 * that finishes leaves the table first, then its sink's done() is called, the last
 * call for it: the consumer may free the request there. A consumer that goes away
 * before that calls sched_remove (the sink is never called again), then frees it.
 */
#ifndef CLLM_LLM_SCHED_H
#define CLLM_LLM_SCHED_H

#include "llm/generate.h"
#include "types.h"

#define SCHED_MAX_SEQS 64 /* running sequences at once (the HTTP API's slots fit in it) */

/* Where a sequence's output goes; ctx is the consumer's, given to sched_add. */
struct sched_sink {
    /* May the sequence step now? false holds it for this turn (e.g. the client reads
     * slower than it generates). NULL: always. */
    bool (*ready)(void *ctx);
    /* The text one step released (out->len may be 0, e.g. for a prompt chunk). */
    void (*output)(void *ctx, const struct gen_output *out);
    /* The sequence finished (its gen_request's finish says why) and has left the table. */
    void (*done)(void *ctx);
};

/* Register a gen_init'ed request; it advances from the next turn on. 0, or -1 when
 * all SCHED_MAX_SEQS places are taken (nothing registered). */
int sched_add(struct gen_request *req, const struct sched_sink *sink, void *ctx);
/* Take a request out before it finished; no effect if it is not in the table. */
void sched_remove(struct gen_request *req);
/* One turn, as described above; true if any sequence stepped. */
bool sched_poll(void);
/* Sequences in the table. */
int sched_active(void);

/* The batched decode passes so far (passes that advanced more than one sequence), the
 * sequences they advanced, those of the passes that held prompt chunks beside decode
 * steps, and the shared KV pool (kv_pool_metrics_format of
 * llm_record()->kv), as Prometheus text for /metrics; snprintf-like
 * (returns the length it needed, writes at most cap - 1 bytes and a NUL). */
size_t sched_metrics_format(char *buf, size_t cap);

#endif
