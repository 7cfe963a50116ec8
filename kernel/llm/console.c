/*
 * Console mode: when the boot loader passed a module named "prompt", kernel_main calls
 * llm_console_run instead of serving: encode the prompt's raw UTF-8 with BOS, generate
 * up to cllm.n tokens, write exactly the continuation (not the prompt) to COM2, report
 * the prompt size, the finish reason and the timings on COM1, and return the exit
 * status. Relies on llm.h (the loaded model), generate.h, gen_param.h, tokenizer.h,
 * bootinfo.h and dev/serial.h.
 *
 * Sampling options come from the command line through the parameter table
 * (gen_param.h), which reads the command line text itself, so that a value the
 * option registry rejected is still reported here as an error rather than silently
 * replaced by a default: cllm.max_tokens (or cllm.n), cllm.temperature (or
 * cllm.temp), cllm.top_k, cllm.top_p, cllm.min_p, cllm.repeat_penalty,
 * cllm.repeat_last_n, cllm.presence_penalty, cllm.frequency_penalty, cllm.seed.
 */
#include "dev/serial.h"
#include "kernel.h"
#include "llm/generate.h"
#include "llm/llm.h"
#include "llm/ops.h"
#include "llm/tokenizer.h"
#include "port.h"
#include "subsys.h"

/* Longest prompt module accepted, bytes; keeps the token buffer size from wrapping. */
#define CONSOLE_PROMPT_MAX (16u << 20)

#define CONSOLE_DEFAULT_N 128 /* tokens generated when cllm.n is absent */

bool llm_console_requested(const struct bootinfo *bi) {
    UNUSED(bi);
    return bootinfo_module("prompt") != NULL;
}

/* Fill p from the defaults and the command line; -1 after reporting a bad value. */
static int console_params(const char *cmdline, struct gen_params *p) {
    char err[160];
    gen_params_default(p);
    p->n_predict = CONSOLE_DEFAULT_N;
    if (gen_params_from_cmdline(p, cmdline, err, sizeof err) == 0)
        return 0;
    printk("cllm: console: error: %s\n", err);
    return -1;
}

/* "X.XX" tokens per second, without floating point formatting. */
static void console_rate(char *buf, size_t cap, int tokens, uint64_t us) {
    uint64_t centi = us ? (uint64_t)tokens * 100000000ull / us : 0;
    snprintf(buf, cap, "%llu.%02llu", (unsigned long long)(centi / 100),
             (unsigned long long)(centi % 100));
}

int llm_console_run(const struct bootinfo *bi) {
    const struct llm *llm = llm_get();
    if (!llm || !llm->tok) {
        const struct llm *rec = llm_record();
        printk("cllm: console: error: no model loaded%s%s\n",
               rec->status == LLM_STATUS_ERROR ? ": " : "",
               rec->status == LLM_STATUS_ERROR ? rec->error : "");
        return 1;
    }
    const struct boot_module *pm = bootinfo_module("prompt");
    struct gen_params params;
    if (!pm || console_params(bi->cmdline, &params) != 0)
        return 1;
    /* Worst case: every byte a byte-fallback token, and every space escaped to U+2581
     * (3 bytes) when the vocabulary lacks that piece; plus BOS and the space prefix. */
    if (pm->len > CONSOLE_PROMPT_MAX) {
        printk("cllm: console: error: prompt of %u bytes is over the %u-byte limit\n",
               (unsigned)pm->len, (unsigned)CONSOLE_PROMPT_MAX);
        return 1;
    }
    size_t max_tokens = 3 * pm->len + 4;
    int *ids = port_alloc(max_tokens * sizeof *ids);
    if (!ids) {
        printk("cllm: console: error: out of memory for a prompt of %u bytes\n", (unsigned)pm->len);
        return 1;
    }
    int n = tokenizer_encode(llm->tok, (const char *)pm->start, pm->len, llm->tok->add_bos, ids,
                             (int)max_tokens);
    if (n < 0) {
        printk("cllm: console: error: cannot encode the prompt (%d)\n", n);
        port_free(ids);
        return 1;
    }
    printk("cllm: prompt: %u bytes, %d tokens\n", (unsigned)pm->len, n);
    struct gen_request req;
    char err[160];
    if (gen_init(&req, llm, ids, n, &params, err, sizeof err) != 0) {
        printk("cllm: console: error: %s\n", err);
        port_free(ids);
        return 1;
    }
    port_free(ids);
    static struct gen_output out; /* GEN_TEXT_MAX bytes: not on the kernel stack */
    int rc;
    while ((rc = gen_step(&req, &out)) >= 0) {
        if (out.len)
            serial_data_write(out.text, out.len);
        if (rc == GEN_STEP_DONE)
            break;
    }
    char pr[32], gr[32];
    console_rate(pr, sizeof pr, req.n_prompt, req.t_prompt_us);
    console_rate(gr, sizeof gr, req.n_gen, req.t_gen_us);
    printk("cllm: console: done: %d tokens, finish %s\n", req.n_gen,
           req.finish == GEN_FINISH_EOS ? "eos" : gen_finish_name(req.finish));
    printk("cllm: timings: prompt %d tokens %s tok/s, generation %d tokens %s tok/s\n",
           req.n_prompt, pr, req.n_gen, gr);
    static char prof[1024]; /* not on the kernel stack */
    ops_prof_format(prof, sizeof prof);
    printk("cllm: batch profile: %s\n", prof);
    int status = req.finish == GEN_FINISH_ERROR ? 1 : 0;
    gen_free(&req);
    return status;
}
