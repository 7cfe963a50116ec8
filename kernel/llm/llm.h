/*
 * The one loaded model of the kernel, as the rest of the system sees it: the model,
 * its tokenizer, its name and chat template. Filled once by llm_init (llm_boot.c);
 * read by console mode, the generation scheduler and the HTTP API.
 */
#ifndef CLLM_LLM_H
#define CLLM_LLM_H

#include "llm/model.h"

struct tokenizer;

/* cllm.llm_check=N (llm_boot.c): print the first position's logits and N greedy tokens. */
#define LLM_CHECK_MAX_STEPS 1024 /* cap on N */
#define LLM_CHECK_LOGITS 512     /* logits printed (the first ids) */
#define LLM_CHECK_PER_LINE 16    /* logits per line */

/* The shared KV pool (llm_boot.c): memory kept out of it at boot for everything else
 * (network, HTTP buffers, the state of each running generation), MiB, plus per slot
 * LLM_KV_SLOT_VOCAB_BYTES per vocabulary entry (logits, sampler) and its scores. */
#define LLM_KV_RESERVE_MB 32
#define LLM_KV_SLOT_VOCAB_BYTES 16

/* general.name of the bundled demonstration model (models/default.gguf): the boot log
 * and /v1/models say it is one, so nobody takes it for an assistant. */
#define LLM_DEMO_NAME "cllm-default"

enum llm_status {
    LLM_STATUS_NONE = 0,  /* no model given */
    LLM_STATUS_READY = 1, /* model and tokenizer loaded */
    LLM_STATUS_ERROR = 2, /* a model was given but refused; see error */
};

struct llm {
    struct model model;
    struct tokenizer *tok;     /* NULL when the tokenizer could not be built */
    const char *name;          /* model.name */
    const char *chat_template; /* tokenizer.chat_template (NUL-terminated copy) or NULL */
    struct kv_pool *kv;        /* the KV pool generations share; NULL: each gets its own */
    int n_ctx;                 /* positions a generation may reach (cllm.ctx); 0: seq_len */
    int prefill_chunk;         /* prompt tokens a generation runs per scheduler turn, batched with
                                * the others' decode rows (cllm.prefill_chunk); 0: GEN_PROMPT_CHUNK */
    int status;                /* enum llm_status */
    char error[160];           /* why loading failed, when status == LLM_STATUS_ERROR */
};

/* The loaded model, or NULL when none is loaded (status != LLM_STATUS_READY). */
struct llm *llm_get(void);

/* The llm record whatever its status (for status reporting). */
struct llm *llm_record(void);

/* kv_mem.c (kernel only): the shared KV pool's used, cached and free blocks as parts of
 * the heap's KV tag, for mem_add_parts (mm.h). */
struct mem_owner;
size_t llm_kv_memory(struct mem_owner *out, size_t cap);

#endif
