/*
 * Architecture binding: reads the `llama` hyperparameters from GGUF metadata and
 * binds each weight by its tensor name (arch.c holds the name table), checking
 * types and shapes. Called by model_load (model.c); relies on gguf.h.
 */
#ifndef CLLM_LLM_ARCH_H
#define CLLM_LLM_ARCH_H

#include "llm/model.h"

/* Fill m->cfg and bind all weights from the already opened m->gguf. 0 on success,
 * -1 with a message naming the key or tensor and the value. */
int arch_bind_llama(struct model *m, char *err, size_t errlen);

/* Check a bound matrix: type supported, data present, rows * row_bytes within
 * `avail` bytes. Shared with llama2c.c. */
int arch_check_matrix(const struct model_matrix *w, const char *what, char *err, size_t errlen);

#endif
