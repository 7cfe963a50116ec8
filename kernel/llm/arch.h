/*
 * Architecture bindings: for the file's general.architecture (llama, qwen2, gemma3:
 * one table row each in arch.c) read the hyperparameters from GGUF metadata, bind
 * each weight by its tensor name, checking types and shapes, and set the options
 * the forward pass reads (model_config, model_layer). Called by model_load
 * (model.c); relies on gguf.h.
 */
#ifndef CLLM_LLM_ARCH_H
#define CLLM_LLM_ARCH_H

#include "llm/model.h"

/* Fill m->cfg and bind all weights from the already opened m->gguf. 0 on success,
 * -1 with a message naming the key or tensor and the value. */
int arch_bind_gguf(struct model *m, char *err, size_t errlen);

/* Set the forward-pass options of the llama architecture on a model whose cfg and
 * layers are already filled (the llama2.c loader's). */
void arch_use_llama(struct model *m);

/* Check a bound matrix: type supported, data present, rows * row_bytes within
 * `avail` bytes. Shared with llama2c.c. */
int arch_check_matrix(const struct model_matrix *w, const char *what, char *err, size_t errlen);

#endif
