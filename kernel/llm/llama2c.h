/*
 * llama2.c checkpoints: the legacy header (7 int32) and the versioned v1 (fp32) and
 * v2 (int8 groups) layouts, bound in place. Called by model_load (model.c); the
 * tokenizer of such a model comes separately (module `tokenizer`).
 */
#ifndef CLLM_LLM_LLAMA2C_H
#define CLLM_LLM_LLAMA2C_H

#include "llm/model.h"

#define LLAMA2C_MAGIC 0x616b3432u   /* "ak42" little endian */
#define LLAMA2C_HEADER_V 256        /* bytes of a versioned header */
#define LLAMA2C_ROPE_THETA 10000.0f /* llama2.c models use the Meta default */
#define LLAMA2C_RMS_EPS 1e-5f

/* True if the buffer starts with the versioned-header magic. */
bool llama2c_is_versioned(const uint8_t *data, size_t len);

/* Bind a llama2.c checkpoint. 0 on success, -1 with a message in err. */
int llama2c_load(struct model *m, const uint8_t *data, size_t len, char *err, size_t errlen);

#endif
