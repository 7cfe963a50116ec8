/*
 * chat: turn a list of chat messages into one prompt string using the model's chat
 * template. Templates are recognized from the GGUF's tokenizer.chat_template by the
 * markers each one contains (no Jinja interpreter), as llama.cpp does:
 *   "<|im_start|>"       -> chatml
 *   "<|start_header_id|>" -> llama3
 *   "<start_of_turn>"    -> gemma
 *   "<|user|>"           -> zephyr
 *   "[INST]"             -> llama2
 * No template, or one with none of these markers, falls back to chatml (llama.cpp's
 * default); chat_detect_model first looks for the turn tokens in the vocabulary (a
 * GGUF without a template, such as Gemma 3's, still gets its own turns). chatml
 * templates that open with a default system message when the conversation has none
 * (SmolLM2's) get it too through chat_apply_model. Called by the HTTP API for
 * /v1/chat/completions; relies on port.h and tokenizer.h.
 * The result is plain text containing the template's special-token text; encode it with
 * tokenizer_encode_special so those become single tokens.
 */
#ifndef CLLM_LLM_CHAT_H
#define CLLM_LLM_CHAT_H

#include "types.h"

enum chat_template {
    CHAT_TEMPLATE_CHATML,
    CHAT_TEMPLATE_LLAMA2,
    CHAT_TEMPLATE_ZEPHYR,
    CHAT_TEMPLATE_LLAMA3,
    CHAT_TEMPLATE_GEMMA,
};

struct tokenizer;

#define CHAT_TEMPLATE_DEFAULT CHAT_TEMPLATE_CHATML

struct chat_message {
    const char *role;    /* "system", "user" or "assistant" (others are passed through) */
    const char *content; /* UTF-8, content_len bytes, need not be NUL-terminated */
    size_t content_len;
};

/* The template a GGUF tokenizer.chat_template (NUL-terminated, may be NULL) selects. */
enum chat_template chat_detect(const char *tmpl);

/* As chat_detect, but a template that is missing or has no known marker is chosen from
 * the turn tokens of the vocabulary t (may be NULL): <start_of_turn> -> gemma,
 * <|start_header_id|> -> llama3, else chatml. */
enum chat_template chat_detect_model(const char *tmpl, const struct tokenizer *t);

/* chat_apply with the template chat_detect_model picks; a chatml template's default
 * system message (written in the template for conversations without one) goes first
 * when msgs has no system message. */
size_t chat_apply_model(const char *tmpl, const struct tokenizer *t,
                        const struct chat_message *msgs, size_t n, bool add_assistant, char *out,
                        size_t cap);

/* The template named "chatml", "llama2", "zephyr", "llama3" or "gemma"; -1 if unknown. */
int chat_template_from_name(const char *name);
const char *chat_template_name(enum chat_template t);

/* Format msgs[0..n) with template t; add_assistant appends the header that opens the
 * assistant's turn. Writes at most cap bytes including a terminating NUL (when cap > 0)
 * and returns the full length the result needs (excluding the NUL), like snprintf:
 * a return >= cap means out was too small. */
size_t chat_apply(enum chat_template t, const struct chat_message *msgs, size_t n,
                  bool add_assistant, char *out, size_t cap);

#endif
