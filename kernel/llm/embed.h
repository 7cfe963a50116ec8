/*
 * embed: the embedding of a text, as llama.cpp computes it for a generative model with
 * mean pooling: the last hidden state (after the output norm) of every token, averaged
 * over the tokens, then scaled to unit length. The HTTP API's /v1/embeddings and
 * /embedding call it through the model backend (api_llm.c). Relies on model.h:
 * model_forward leaves the output-normed hidden state of the token it ran in the
 * state's x (the vector it multiplies by the output matrix for the logits).
 */
#ifndef CLLM_LLM_EMBED_H
#define CLLM_LLM_EMBED_H

#include "llm/generate.h"

/* The embedding of tokens[0..n) into out (cfg.dim floats). Runs the n tokens through
 * a state of its own (allocated and freed here), one at a time. GEN_OK, or the
 * reason with a message in err (empty or too long input, a bad token, no memory). */
enum gen_err embed_tokens(const struct llm *llm, const int *tokens, int n, float *out, char *err,
                          size_t errlen);

#endif
