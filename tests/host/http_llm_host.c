/*
 * The real engine behind the host HTTP harness (tests/test_api_llm_host.py): loads a
 * GGUF model and its tokenizer into the llm record that api_llm.c reads, standing in
 * for the kernel's llm_boot.c (which needs Multiboot modules), and steps the
 * generations with the kernel's scheduler (sched.c) as main.c's gen_poll does.
 * Linked instead of http_fake_backend.c.
 *
 * The shared KV pool, as llm_boot.c builds it in the kernel, shaped by the environment:
 * CLLM_KV_TYPE (f32, the default here, or f16), CLLM_KV_BLOCKS (default: room for
 * SCHED_MAX_SEQS whole contexts), CLLM_KV_BLOCK_LEN (default KV_BLOCK_LEN), CLLM_CTX,
 * CLLM_KV_PREFIX (0: no prefix caching); and CLLM_PREFILL_CHUNK, cllm.prefill_chunk's
 * prompt tokens per turn (0: the whole prompt at once). CLLM_KERNELS picks the
 * kernel set: sse2 (the default, as llm_main.c's), avx2 (refused where the CPU lacks
 * it) or scalar.
 * When no generation runs, harness_gen_active walks the pool (kv_pool_check) and
 * reports a leaked block or a broken free list as -1 running, so every script's
 * "after close" line checks it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host_cpu.h"
#include "http/api_backend.h"
#include "llm/llm.h"
#include "llm/ops.h"
#include "llm/sched.h"
#include "llm/tokenizer.h"

static struct llm host_llm;
static struct tokenizer host_tok;
static struct kv_pool host_kv;

static long host_env(const char *name, long dflt) {
    const char *v = getenv(name);
    return v && *v ? strtol(v, NULL, 10) : dflt;
}

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
    int n = sched_active();
    char err[160];
    if (n == 0 && host_llm.kv) {
        if (kv_pool_check(host_llm.kv, err, sizeof(err)) != 0) {
            fprintf(stderr, "%s\n", err);
            return -1;
        }
        if (host_llm.kv->n_free != host_llm.kv->n_blocks) {
            fprintf(stderr, "kv: %d blocks held with no generation running\n",
                    host_llm.kv->n_blocks - host_llm.kv->n_free);
            return -1;
        }
    }
    return n;
}

size_t harness_metrics(char *buf, size_t cap) {
    return sched_metrics_format(buf, cap);
}

void harness_set_status(int status) {
    host_llm.status = status == API_MODEL_READY   ? LLM_STATUS_READY
                      : status == API_MODEL_ERROR ? LLM_STATUS_ERROR
                                                  : LLM_STATUS_NONE;
}

/* The kernel set CLLM_KERNELS names (see the top); -1 with a message if it cannot run. */
static int host_kernels(void) {
    const char *k = getenv("CLLM_KERNELS");
    if (!k || !*k || !strcmp(k, "sse2"))
        ops_select_kernels(&ops_sse2);
    else if (!strcmp(k, "scalar"))
        ops_select_kernels(&ops_scalar);
    else if (!strcmp(k, "avx2") && !host_cpu_avx2_missing())
        ops_select_kernels(&ops_avx2);
    else {
        fprintf(stderr, "CLLM_KERNELS=%s: %s\n", k,
                strcmp(k, "avx2") ? "not one of scalar, sse2, avx2" : host_cpu_avx2_missing());
        return -1;
    }
    return 0;
}

const struct api_backend *harness_backend(const char *model) {
    if (host_kernels() != 0)
        return NULL;
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
    const struct model_config *c = &host_llm.model.cfg;
    const char *tname = getenv("CLLM_KV_TYPE");
    int type = tname && *tname ? kv_type_parse(tname) : KV_TYPE_F32;
    int block_len = (int)host_env("CLLM_KV_BLOCK_LEN", KV_BLOCK_LEN);
    long whole = (c->seq_len + block_len - 1) / block_len;
    long blocks = host_env("CLLM_KV_BLOCKS", (long)SCHED_MAX_SEQS * whole);
    int kv_dim = c->n_kv_heads * c->head_dim;
    if (type < 0 || block_len <= 0 || blocks <= 0 ||
        kv_pool_init(&host_kv, c->n_layers, kv_dim, type, block_len,
                     (size_t)blocks * kv_block_bytes(c->n_layers, kv_dim, type, block_len), err,
                     sizeof(err)) != 0) {
        fprintf(stderr, "kv pool: %s\n", type < 0 ? "CLLM_KV_TYPE is neither f32 nor f16" : err);
        return NULL;
    }
    host_kv.cache = host_env("CLLM_KV_PREFIX", 1) != 0;
    host_llm.kv = &host_kv;
    host_llm.n_ctx = (int)host_env("CLLM_CTX", 0);
    long chunk = host_env("CLLM_PREFILL_CHUNK", GEN_PROMPT_CHUNK);
    host_llm.prefill_chunk = chunk > 0 ? (int)chunk : c->seq_len;
    host_llm.tok = &host_tok;
    host_llm.name = host_llm.model.name;
    host_llm.status = LLM_STATUS_READY;
    return &api_llm_backend;
}
