/*
 * generate: one text-generation request, advanced a step at a time. Console mode
 * (console.c) drives one request to the end; the HTTP API creates one per call and the
 * scheduler (sched.c) steps every active request, so all per-sequence state (KV cache,
 * sampler, held-back bytes) lives in struct gen_request and the model stays shared and
 * read-only.
 *
 * Usage:
 *   gen_params_default(&p); p.n_predict = 64; ...       (gen_param.h)
 *   if (gen_init(&req, llm, toks, n, &p, err, sizeof err) != 0) -> err says why
 *   while ((r = gen_step(&req, &out)) >= 0) {
 *       use out.text[0..out.len)        (valid for every return >= 0, may be empty)
 *       if (r == GEN_STEP_DONE) break;  (req.finish says why)
 *   }
 *   gen_free(&req);
 *
 * Text is released only when it is final: bytes of an incomplete UTF-8 character are
 * held until the character completes, and text that could still become the start of a
 * stop string is held until it can no longer match. A matched stop string and
 * everything after it is never released.
 *
 * Under a grammar (params.grammar) a sampled token whose bytes cannot continue a valid
 * parse is refused; only then is every token of the vocabulary checked and the draw
 * repeated over those allowed, so the common case costs one check (and the answer is
 * a draw from the allowed tokens' distribution). End-of-generation is allowed only when
 * the text is a whole sentence; when nothing more can follow, the generation ends as
 * if at EOS. Relies on grammar.h, gen_param.h (struct gen_params),
 * model.h (model_state_init, model_forward), tokenizer.h, sampler.h and port.h
 * (allocation, port_time_us, port_cycles).
 *
 * KV memory: with a shared pool (llm->kv, kv.h) a request holds KV blocks only for the
 * positions it has reached; whoever steps it (sched.c) reserves the blocks a step needs
 * (gen_kv_need) and may take them all back (gen_preempt). Without one (console mode
 * without a pool, host tools) it gets a private cache of its whole context.
 */
#ifndef CLLM_LLM_GENERATE_H
#define CLLM_LLM_GENERATE_H

#include "llm/gen_param.h"
#include "llm/grammar.h"
#include "llm/sampler.h"
#include "types.h"

struct llm;
struct model_state;

#define GEN_PROMPT_CHUNK 32 /* prompt tokens a step evaluates when cllm.prefill_chunk is absent */
#define GEN_BATCH_MAX 64    /* requests gen_forward_pending runs in one pass */
#define GEN_PASS_ROWS 64    /* rows gen_forward_pending hands to model_forward_rows at once */
#define GEN_TEXT_MAX 512    /* bytes one gen_step may release (held bytes + a piece) */
#define GEN_MAX_PROBS 20    /* alternatives reported per token (gen_params.n_probs) */

/* Why gen_init refused a request; the HTTP API maps each to a status in one place. */
enum gen_err {
    GEN_OK = 0,
    GEN_ERR_REQUEST,   /* the request is wrong: prompt, stop strings, a parameter */
    GEN_ERR_NO_MEMORY, /* the server has no memory for it now; retry later */
    GEN_ERR_NO_MODEL,  /* no model is loaded */
};

enum gen_finish {
    GEN_FINISH_NONE,   /* still running */
    GEN_FINISH_LENGTH, /* n_predict reached or the context is full */
    GEN_FINISH_STOP,   /* a stop string matched */
    GEN_FINISH_EOS,    /* the model produced end-of-generation */
    GEN_FINISH_ERROR,  /* the forward pass failed */
};

/* Return values of gen_step. */
#define GEN_STEP_DONE 0   /* finished; out holds the last released text */
#define GEN_STEP_PROMPT 1 /* a chunk of the prompt awaits its pass (see below); out is empty */
#define GEN_STEP_TOKEN 2  /* sampled one token (out.token); out holds released text */

/* A token and its log probability: the log softmax of the logits it was sampled from,
 * before penalties, temperature, bias or grammar (what OpenAI and llama.cpp report). */
struct gen_prob {
    int id;
    float logprob;
};

struct gen_output {
    int token;            /* sampled token, -1 for prompt steps and the final flush */
    int prev;             /* the token before it (for its text: tokenizer_decode) */
    bool has_prob;        /* params.logprobs and a token that is part of the text */
    struct gen_prob prob; /* the sampled token's */
    int n_top;            /* params.n_probs most likely tokens, most likely first */
    struct gen_prob top[GEN_MAX_PROBS];
    size_t len;              /* bytes in text */
    char text[GEN_TEXT_MAX]; /* released UTF-8, not NUL-terminated */
};

/* Where a request's time went, by phase, in port_cycles() (port_cycles_hz() per
 * second). The phases do not overlap, so with the time between steps they add up to
 * the request's wall time. */
struct gen_cycles {
    uint64_t queue;    /* gen_init to the first gen_step: waiting for a turn or KV blocks */
    uint64_t prompt;   /* forward passes of the prompt (and of tokens run again after a
                        * preemption) */
    uint64_t decode;   /* forward passes of sampled tokens (a batched pass: a share each) */
    uint64_t sampling; /* the sampler with logit bias and grammar, the token's text and
                        * stop strings */
    uint64_t network;  /* writing the answer out: the consumer's (the HTTP API fills it) */
};

struct gen_request {
    const struct llm *llm;
    struct model_state *state; /* owned: KV cache and activations of this sequence */
    struct sampler sampler;    /* owned */
    struct gen_params params;
    int *tokens;         /* (n_ctx) owned: prompt then generated tokens */
    int n_ctx;           /* positions allocated in the KV cache */
    int n_prompt;        /* prompt tokens */
    int n_known;         /* tokens to run before sampling: the prompt, or after a
                          * preemption every token evaluated before it */
    int n_eval;          /* tokens run through the forward pass so far */
    int n_chunk;         /* tokens[n_eval..n_eval + n_chunk) of the known ones await their
                          * forward pass: the batched pass of the turn, or the next step */
    int chunk_room;      /* prompt tokens the scheduler leaves the next step this turn (its
                          * budget of cllm.prefill_chunk rows a turn); 0: a whole chunk */
    int n_preempted;     /* times its KV blocks were taken back (gen_preempt) */
    int n_gen;           /* tokens sampled so far */
    const float *logits; /* (vocab) of the last evaluated token, owned by state */
    bool pending;        /* tokens[n_eval] is sampled and awaits its forward pass */
    enum gen_finish finish;
    char hold[GEN_TEXT_MAX]; /* decoded but not yet released bytes */
    size_t n_hold;
    uint64_t t_prompt_us;        /* time spent evaluating the prompt */
    uint64_t t_gen_us;           /* time spent generating (forward of sampled tokens + sampling) */
    struct grammar *grammar;     /* owned: params.grammar compiled; NULL when unconstrained */
    struct grammar_state gstate; /* the text generated so far, parsed by grammar */
    float *masked;               /* (vocab) owned: logits with the refused tokens at -1e30 */
    float *biased;               /* (vocab) owned when params.n_bias: logits + logit_bias */
    uint64_t t_grammar_us;       /* part of t_gen_us spent checking tokens against grammar */
    int n_masked;                /* tokens drawn again under the whole vocabulary's mask */
    struct gen_request *share;   /* the sibling whose prompt it waits for (gen_share);
                                  * NULL when none, once taken, or given up */
    int n_cached;                /* prompt tokens the prefix cache held when first run */
    int n_shared;                /* prompt positions taken from the sibling */
    uint64_t cyc_init;           /* port_cycles() at gen_init */
    bool stepped;                /* gen_step ran at least once (cyc.queue is final) */
    struct gen_cycles cyc;       /* the phases so far (network stays 0 here) */
};

/* Start a request for prompt[0..n_prompt) (already tokenized, BOS included if wanted).
 * Copies the prompt and params. GEN_OK on success, else the reason with a message in
 * err (no model, empty or too long prompt, bad parameter, out of memory); on failure
 * nothing needs freeing. */
enum gen_err gen_init(struct gen_request *req, const struct llm *llm, const int *prompt,
                      int n_prompt, const struct gen_params *params, char *err, size_t errlen);

/* Advance by one step: a chunk of the prompt, or one sampled token. The forward pass a
 * step calls for (the chunk's, the sampled token's) is left pending, for a
 * gen_forward_pending that batches it with other requests' rows; the next gen_step
 * runs it alone if none did. Returns GEN_STEP_*, or -1 if called after GEN_STEP_DONE. */
int gen_step(struct gen_request *req, struct gen_output *out);

/* Run the forward passes the requests' last gen_step left pending, all in one batch
 * (model_forward_rows): the sampled tokens of decoding requests and the prompt chunks
 * (n_chunk tokens) of the others, each chunk followed in the same pass by the token
 * that waited through a preemption where there is one. Up to GEN_BATCH_MAX requests,
 * the rest one by one. Requests with nothing pending, and NULL entries, are skipped.
 * Returns the requests batched (0 if the batch was refused: those stay pending for
 * their own next gen_step). The results are the same as if each request's next
 * gen_step had run its own. */
int gen_forward_pending(struct gen_request *const *reqs, int n);

/* Whether the request's next gen_step reads prompt tokens (a chunk of the prompt, or
 * of what a preemption left to run again), not a sibling's blocks. */
bool gen_in_prompt(const struct gen_request *req);

/* Prompt tokens every scheduler turn may run, all prompts together (cllm.prefill_chunk). */
int gen_prompt_budget(const struct gen_request *req);

/* Positions whose KV blocks the next gen_step, and the batched pass after it, may
 * write (the scheduler reserves them first): n_eval plus a prompt chunk, or plus the
 * pending token and the one about to be sampled. */
int gen_kv_need(const struct gen_request *req);

/* Hold the KV blocks of gen_kv_need, first taking, for a request that holds none yet
 * (and asks for it: params.cache_prompt), the cached blocks (kv_seq_match) of its
 * known tokens but the last (which it then skips). 0, or -1 when the pool is short (nothing taken
 * then but the cached blocks). A request waiting for its sibling's prompt (gen_share)
 * holds nothing and gets 0; when the prompt is ready it forks it (-1: no block for the
 * copy yet). */
int gen_kv_reserve(struct gen_request *req);

/* n > 1 choices of one prompt: req (gen_init'ed, not stepped yet) takes the prompt's
 * evaluation from first, a request of the same model and prompt on the same shared
 * pool that is stepped before it (added to the scheduler earlier). req's steps wait,
 * holding no block, while first evaluates the prompt; then req takes its blocks
 * (kv_seq_fork: the full ones by reference, the partly filled last one copied) and the
 * prompt's last logits, and samples with its own sampler. Should first have gone past
 * its prompt or stopped by then, req runs the prompt itself: the output is the same
 * either way. first must stay allocated while req waits (free siblings together).
 * 0, or -1 when they cannot share (nothing changed). */
int gen_share(struct gen_request *req, struct gen_request *first);

/* Give the request's KV blocks back to the shared pool, keeping its tokens: its next
 * gen_steps run them again (prompt steps, no output) up to where it was, then it goes
 * on exactly as if never preempted. No effect on a request with a private KV cache. */
void gen_preempt(struct gen_request *req);

/* Release everything gen_init allocated. Safe after a failed gen_init and twice. */
void gen_free(struct gen_request *req);

/* Name of a finish reason as the OpenAI API spells it: "length", "stop" (also for EOS),
 * "error", or NULL while running. */
const char *gen_finish_name(enum gen_finish f);

#endif
