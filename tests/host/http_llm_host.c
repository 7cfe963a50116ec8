/*
 * The real engine behind the host HTTP harness (tests/test_api_llm_host.py): loads a
 * GGUF model and its tokenizer into the llm record that api_llm.c reads, standing in
 * for the kernel's llm_boot.c (which needs Multiboot modules), and steps the
 * generations with the kernel's scheduler (sched.c) as main.c's gen_poll does.
 * Linked instead of http_fake_backend.c.
 */
#include <stdio.h>
#include <stdlib.h>

#include "http/api_backend.h"
#include "llm/llm.h"
#include "llm/sched.h"
#include "llm/tokenizer.h"

static struct llm host_llm;
static struct tokenizer host_tok;

struct llm *llm_get(void) {
    return host_llm.status == LLM_STATUS_READY ? &host_llm : NULL;
}

struct llm *llm_record(void) {
    return &host_llm;
}

bool harness_gen_poll(void) {
    return sched_poll();
}

int harness_gen_active(void) {
    return sched_active();
}

size_t harness_metrics(char *buf, size_t cap) {
    return sched_metrics_format(buf, cap);
}

void harness_set_status(int status) {
    host_llm.status = status == API_MODEL_READY ? LLM_STATUS_READY
                      : status == API_MODEL_ERROR ? LLM_STATUS_ERROR
                                                  : LLM_STATUS_NONE;
}

const struct api_backend *harness_backend(const char *model) {
    if (!model) {
        fprintf(stderr, "serve needs a model file\n");
        return NULL;
    }
    FILE *f = fopen(model, "rb");
    if (!f) {
        perror(model);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *data = malloc((size_t)n);
    if (!data || fread(data, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        return NULL;
    }
    fclose(f);
    char err[256];
    if (model_load(&host_llm.model, data, (size_t)n, err, sizeof(err)) != 0 ||
        tokenizer_load_gguf(&host_tok, &host_llm.model.gguf, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s: %s\n", model, err);
        return NULL;
    }
    struct gguf_str tmpl;
    if (gguf_get_str(&host_llm.model.gguf, "tokenizer.chat_template", &tmpl)) {
        char *t = malloc(tmpl.len + 1);
        memcpy(t, tmpl.ptr, tmpl.len);
        t[tmpl.len] = 0;
        host_llm.chat_template = t;
    }
    host_llm.tok = &host_tok;
    host_llm.name = host_llm.model.name;
    host_llm.status = LLM_STATUS_READY;
    return &api_llm_backend;
}
