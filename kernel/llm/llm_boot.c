/*
 * llm_init: find the model (Multiboot module "model", else the one embedded in the
 * ELF's .model section), bind it in place, build its tokenizer (from the GGUF, or
 * for llama2.c checkpoints from module "tokenizer" / the .tokenizer section) and
 * publish it through llm_get(). Called once by kernel_main; relies on model.c,
 * tokenizer.c, ops.c (kernel choice by cpu_has_avx2 / cpu_has_sse2) and printk.
 *
 * It also sets the server-wide generation defaults from the command line
 * (gen_params_configure: cllm.max_tokens, cllm.temperature, ...).
 *
 * Then it builds the KV pool every generation shares (kv.h): cllm.kv_kib, else the free
 * memory less a reserve, never more than the scheduler's SCHED_MAX_SEQS whole contexts;
 * elements cllm.kv_type (f16 by default, as llama.cpp); cllm.ctx bounds one generation's
 * positions, by default the model's context, or the pool's if it holds less;
 * cllm.prefix_cache=off turns prefix caching off. cllm.prefill_chunk sets the prompt
 * tokens a generation runs per scheduler turn (generate.h).
 *
 * Option cllm.llm_check=N (checked by the option registry): after loading, run the
 * model from BOS and print the first position's logits and N greedy tokens, so tests
 * can compare the kernel's arithmetic with the host build.
 */
#include "cmdline.h"
#include "cpu.h"
#include "kernel.h"
#include "llm/gen_param.h"
#include "llm/llm.h"
#include "llm/ops.h"
#include "llm/sched.h"
#include "llm/tokenizer.h"
#include "memlayout.h"
#include "mm.h"
#include "subsys.h"

extern char embedded_tokenizer_start[], embedded_tokenizer_end[];

static struct llm llm_the;
static struct tokenizer llm_tok;
static struct kv_pool llm_kv;

struct llm *llm_get(void) {
    return llm_the.status == LLM_STATUS_READY ? &llm_the : NULL;
}

struct llm *llm_record(void) {
    return &llm_the;
}

static void llm_fail(const char *what, const char *msg) {
    snprintf(llm_the.error, sizeof(llm_the.error), "%s%s", what, msg);
    llm_the.status = LLM_STATUS_ERROR;
    printk("cllm: model: error: %s\n", llm_the.error);
    printk("cllm: no model\n");
}

static void llm_copy_template(const struct model *m) {
    struct gguf_str s;
    if (m->format != MODEL_FORMAT_GGUF || !gguf_get_str(&m->gguf, "tokenizer.chat_template", &s))
        return;
    char *t = port_alloc(s.len + 1);
    if (!t)
        return;
    memcpy(t, s.ptr, s.len);
    t[s.len] = 0;
    llm_the.chat_template = t;
}

static int llm_load_tokenizer(const struct model *m, char *err, size_t errlen) {
    if (m->format == MODEL_FORMAT_GGUF)
        return tokenizer_load_gguf(&llm_tok, &m->gguf, err, errlen);
    const struct boot_module *tm = bootinfo_module("tokenizer");
    const uint8_t *data =
        tm ? (const uint8_t *)tm->start : (const uint8_t *)embedded_tokenizer_start;
    size_t len = tm ? tm->len : (size_t)(embedded_tokenizer_end - embedded_tokenizer_start);
    if (!len) {
        snprintf(err, errlen, "llama2.c model needs a tokenizer (module `tokenizer`)");
        return -1;
    }
    return tokenizer_load_llama2c(&llm_tok, data, len, m->cfg.vocab_size, err, errlen);
}

/* Micro-units, for printing without %f. */
static long llm_micro(float v) {
    float s = v * 1e6f;
    if (s > 2e9f)
        return 2000000000L;
    if (s < -2e9f)
        return -2000000000L;
    return (long)(s < 0 ? s - 0.5f : s + 0.5f);
}

static void llm_check(const struct model *m, long steps) {
    struct model_state s;
    if (model_state_init(&s, m, 0)) {
        printk("cllm: llm: check: out of memory\n");
        return;
    }
    int tok = llm_tok.bos_id >= 0 ? llm_tok.bos_id : 1;
    const float *lg = model_forward(m, &s, tok, 0);
    int n = MIN(m->cfg.vocab_size, LLM_CHECK_LOGITS);
    char line[LLM_CHECK_PER_LINE * 14 + 40];
    for (int i = 0; lg && i < n; i += LLM_CHECK_PER_LINE) {
        size_t o = (size_t)snprintf(line, sizeof(line), "cllm: llm: check logits %d", i);
        for (int j = i; j < MIN(n, i + LLM_CHECK_PER_LINE) && o < sizeof(line); j++)
            o += (size_t)snprintf(line + o, sizeof(line) - o, " %ld", llm_micro(lg[j]));
        printk("%s\n", line);
    }
    printk("cllm: llm: check tokens");
    uint64_t t0 = port_time_us();
    int pos = 1;
    for (; lg && pos <= steps && pos < s.n_ctx; pos++) {
        int best = 0;
        for (int i = 1; i < m->cfg.vocab_size; i++)
            if (lg[i] > lg[best])
                best = i;
        printk(" %d", best);
        lg = model_forward(m, &s, best, pos);
    }
    printk("\n");
    printk("cllm: llm: check %d forward passes in %lu us\n", pos - 1,
           (unsigned long)(port_time_us() - t0));
    model_state_free(&s);
}

static void llm_kv_init(const struct model *m) {
    const struct model_config *c = &m->cfg;
    const char *tname = cmdline_get("kv_type");
    int type = tname ? kv_type_parse(tname) : KV_TYPE_F16;
    type = type < 0 ? KV_TYPE_F16 : type;
    uint32_t v;
    long n_ctx = c->seq_len;
    if (cmdline_get_u32("ctx", &v) && v > 0)
        n_ctx = MIN(n_ctx, (long)v);
    int kv_dim = c->n_kv_heads * c->head_dim;
    uint64_t bb = kv_block_bytes(c->n_layers, kv_dim, type, KV_BLOCK_LEN);
    uint64_t slot = (uint64_t)c->vocab_size * LLM_KV_SLOT_VOCAB_BYTES +
                    (uint64_t)(c->n_heads + 1) * (uint64_t)n_ctx * sizeof(float);
    uint64_t reserve = ((uint64_t)LLM_KV_RESERVE_MB << 20) + (uint64_t)SCHED_MAX_SEQS * slot;
    uint64_t avail = (uint64_t)page_count(PAGE_OWNER_FREE) * PAGE_SIZE;
    uint64_t bytes = avail > reserve ? avail - reserve : 0;
    if (cmdline_get_u32("kv_kib", &v))
        bytes = (uint64_t)v << 10;
    uint64_t per_seq = (uint64_t)((n_ctx + KV_BLOCK_LEN - 1) / KV_BLOCK_LEN) * bb;
    uint64_t most = (uint64_t)SCHED_MAX_SEQS * per_seq;
    bytes = MIN(MIN(bytes, most), (uint64_t)SIZE_MAX / 2);
    char err[120];
    if (kv_pool_init(&llm_kv, c->n_layers, kv_dim, type, KV_BLOCK_LEN, (size_t)bytes, err,
                     sizeof(err))) {
        printk("cllm: kv: warning: %s; each generation gets a cache of its own\n", err);
        return;
    }
    const char *cache = cmdline_get("prefix_cache");
    llm_kv.cache = !cache || strcmp(cache, "off") != 0;
    llm_the.kv = &llm_kv;
    llm_the.n_ctx = (int)MIN(n_ctx, kv_pool_positions(&llm_kv));
    printk("cllm: kv: pool %d blocks of %d positions, %s, %lu KiB (%lu KiB a block), "
           "%d used %d free; context %d\n",
           llm_kv.n_blocks, llm_kv.block_len, kv_type_name(type),
           (unsigned long)(((uint64_t)llm_kv.n_blocks * bb) >> 10), (unsigned long)(bb >> 10),
           llm_kv.n_blocks - llm_kv.n_free, llm_kv.n_free, llm_the.n_ctx);
}

void llm_init(const struct bootinfo *bi) {
    char err[160];
    struct model *m = &llm_the.model;
    ops_select_kernels(cpu_has_avx2() ? &ops_avx2 : cpu_has_sse2() ? &ops_sse2 : &ops_scalar);
    if (gen_params_configure(bi->cmdline, err, sizeof(err)) != 0)
        printk("cllm: warning: %s; its default stays\n", err);
    const struct boot_module *mod = bootinfo_module("model");
    const uint8_t *data = mod ? (const uint8_t *)mod->start : (const uint8_t *)embedded_model_start;
    size_t len = mod ? mod->len : (size_t)(embedded_model_end - embedded_model_start);
    if (!len) {
        llm_the.status = LLM_STATUS_NONE;
        printk("cllm: no model\n");
        return;
    }
    if (model_load(m, data, len, err, sizeof(err))) {
        llm_fail("", err);
        return;
    }
    const struct model_config *c = &m->cfg;
    printk("cllm: model: %s arch %s dim %d layers %d heads %d/%d vocab %d ctx %d type %s\n",
           m->name, c->arch, c->dim, c->n_layers, c->n_heads, c->n_kv_heads, c->vocab_size,
           c->seq_len, model_wtype_name(c->wtype));
    if (llm_load_tokenizer(m, err, sizeof(err))) {
        model_free(m);
        llm_fail("tokenizer: ", err);
        return;
    }
    llm_the.tok = &llm_tok;
    llm_the.name = m->name;
    llm_copy_template(m);
    llm_the.status = LLM_STATUS_READY;
    printk("cllm: model: loaded from %s, %lu bytes, kernels %s\n", mod ? "module" : "image",
           (unsigned long)len, ops_name());
    if (!strcmp(m->name, LLM_DEMO_NAME))
        printk("cllm: model: %s is the bundled demonstration model: it continues text in the "
               "style of the King James Bible; it is not an assistant\n",
               m->name);
    uint32_t steps;
    if (cmdline_get_u32("llm_check", &steps))
        llm_check(m, MIN((long)steps, LLM_CHECK_MAX_STEPS));
    llm_kv_init(m); /* after the check: its private cache is freed by then */
    uint32_t chunk;
    if (cmdline_get_u32("prefill_chunk", &chunk)) /* 0: the whole prompt, whatever its length */
        llm_the.prefill_chunk = chunk ? (int)chunk : m->cfg.seq_len;
}

bool gen_poll(void) {
    return sched_poll();
}
