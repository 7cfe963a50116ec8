/*
 * The kernel's console mode as a Linux program, for bench/usermode_bench.py: the same
 * engine sources (kernel/llm with tests/host/port_host.c) built as a static i386 binary
 * with the kernel's compiler and flags, run under qemu-i386, so that the kernel in
 * QEMU can be compared with the same code in user mode, both under TCG.
 *
 *   usermode_gen MODEL PROMPT N [f16|f32]
 *
 * Like console mode (kernel/llm/console.c and llm_boot.c): SSE2 kernels where the CPU
 * has SSE2, a shared KV pool of the given type (f16 by default, as cllm.kv_type), the
 * prompt's UTF-8 encoded with BOS, N tokens greedy. The continuation goes to stdout
 * and the console's timings line to stderr:
 *   cllm: timings: prompt P tokens X tok/s, generation G tokens Y tok/s
 */
#include <cpuid.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm/generate.h"
#include "llm/llm.h"
#include "llm/ops.h"
#include "llm/tokenizer.h"

/* Tokens per second of n tokens in us microseconds (0 for no time). */
static double usermode_rate(int n, uint64_t us) {
    return us ? (double)n * 1e6 / (double)us : 0.0;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: usermode_gen MODEL PROMPT N [f16|f32]\n");
        return 2;
    }
    int kv_type = argc > 4 ? kv_type_parse(argv[4]) : KV_TYPE_F16;
    if (kv_type < 0) {
        fprintf(stderr, "error: kv type %s: f16 or f32\n", argv[4]);
        return 2;
    }
    /* CPUID as the kernel reads it (leaf 1, EDX bit 26); the compiler's
     * __builtin_cpu_supports needs a runtime that a static musl binary lacks. */
    unsigned eax, ebx, ecx, edx;
    bool sse2 = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (edx & bit_SSE2);
    ops_select(sse2);
    fprintf(stderr, "cllm: kernels: %s\n", sse2 ? "sse2" : "scalar");
    size_t mlen;
    uint8_t *mdata = port_read_file(argv[1], &mlen);
    static struct llm llm;
    static struct tokenizer tok;
    static struct kv_pool pool;
    char err[256];
    if (!mdata || model_load(&llm.model, mdata, mlen, err, sizeof err) != 0 ||
        tokenizer_load_gguf(&tok, &llm.model.gguf, err, sizeof err) != 0) {
        fprintf(stderr, "error: %s: %s\n", argv[1], mdata ? err : "unreadable");
        return 1;
    }
    const struct model_config *c = &llm.model.cfg;
    int kv_dim = c->n_kv_heads * c->head_dim;
    size_t bytes = (size_t)kv_block_bytes(c->n_layers, kv_dim, kv_type, KV_BLOCK_LEN) *
                   (size_t)((c->seq_len + KV_BLOCK_LEN - 1) / KV_BLOCK_LEN);
    if (kv_pool_init(&pool, c->n_layers, kv_dim, kv_type, KV_BLOCK_LEN, bytes, err, sizeof err)) {
        fprintf(stderr, "error: kv pool: %s\n", err);
        return 1;
    }
    llm.tok = &tok;
    llm.kv = &pool;
    llm.n_ctx = (int)kv_pool_positions(&pool);
    llm.status = LLM_STATUS_READY;
    size_t plen = strlen(argv[2]);
    int *ids = malloc((3 * plen + 4) * sizeof *ids);
    int n = ids ? tokenizer_encode(&tok, argv[2], plen, tok.add_bos, ids, (int)(3 * plen + 4)) : -1;
    struct gen_params p;
    gen_params_default(&p);
    p.n_predict = atoi(argv[3]);
    p.sample.temperature = 0;
    struct gen_request req;
    if (n < 0 || gen_init(&req, &llm, ids, n, &p, err, sizeof err) != GEN_OK) {
        fprintf(stderr, "error: %s\n", n < 0 ? "cannot encode the prompt" : err);
        return 1;
    }
    static struct gen_output out;
    int rc;
    while ((rc = gen_step(&req, &out)) >= 0) {
        fwrite(out.text, 1, out.len, stdout);
        if (rc == GEN_STEP_DONE)
            break;
    }
    fflush(stdout);
    fprintf(stderr, "cllm: timings: prompt %d tokens %.2f tok/s, generation %d tokens %.2f tok/s\n",
            req.n_prompt, usermode_rate(req.n_prompt, req.t_prompt_us), req.n_gen,
            usermode_rate(req.n_gen, req.t_gen_us));
    int status = req.finish == GEN_FINISH_ERROR ? 1 : 0;
    gen_free(&req);
    kv_pool_free(&pool);
    tokenizer_free(&tok);
    model_free(&llm.model);
    port_free(mdata);
    free(ids);
    return status;
}
