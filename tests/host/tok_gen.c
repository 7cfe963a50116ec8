/*
 * Host harness for the generation loop (tests/test_generate.py): loads a model (GGUF,
 * or llama2.c with --tokenizer), encodes the prompt with BOS and runs gen_step to the
 * end, printing every step so tests can check the text released, the hold-back rules
 * and the finish reason.
 *
 *   tok_gen MODEL [--tokenizer F] [--n N] [--temp T] [--top-k K] [--top-p P] [--min-p P]
 *           [--repeat-penalty R] [--seed S] [--stop TEXT]... [--ignore-eos] PROMPT
 * Output lines:
 *   prompt <tokens> <id>...
 *   step <rc> <token> <hex of released text>
 *   finish <reason> <n_gen>
 *   error: <message> [<enum gen_err, e.g. request>]   when gen_init refuses
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm/generate.h"
#include "llm/llm.h"
#include "llm/tokenizer.h"

static float fnum(const char *s) {
    float v;
    if (sampler_parse_float(s, &v) != 0) {
        fprintf(stderr, "bad number %s\n", s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv) {
    struct gen_params p;
    gen_params_default(&p);
    const char *tok_path = NULL, *prompt = NULL;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if (!strcmp(a, "--tokenizer") && has)
            tok_path = argv[++i];
        else if (!strcmp(a, "--n") && has)
            p.n_predict = atoi(argv[++i]);
        else if (!strcmp(a, "--temp") && has)
            p.sample.temperature = fnum(argv[++i]);
        else if (!strcmp(a, "--top-k") && has)
            p.sample.top_k = atoi(argv[++i]);
        else if (!strcmp(a, "--top-p") && has)
            p.sample.top_p = fnum(argv[++i]);
        else if (!strcmp(a, "--min-p") && has)
            p.sample.min_p = fnum(argv[++i]);
        else if (!strcmp(a, "--repeat-penalty") && has)
            p.sample.repeat_penalty = fnum(argv[++i]);
        else if (!strcmp(a, "--seed") && has)
            p.sample.seed = strtoull(argv[++i], NULL, 0);
        else if (!strcmp(a, "--stop") && has && p.n_stop < GEN_MAX_STOP) {
            /* too long a string fills the slot without a NUL, for gen_init to refuse */
            size_t n = strlen(argv[++i]);
            memcpy(p.stop[p.n_stop], argv[i], n < sizeof p.stop[0] ? n + 1 : sizeof p.stop[0]);
            p.n_stop++;
        } else if (!strcmp(a, "--ignore-eos"))
            p.ignore_eos = true;
        else
            prompt = a;
    }
    if (argc < 3 || !prompt) {
        fprintf(stderr, "usage: see the file header\n");
        return 2;
    }
    size_t mlen, tlen = 0;
    uint8_t *mdata = port_read_file(argv[1], &mlen), *tdata = NULL;
    static struct llm llm;
    static struct tokenizer tok;
    char err[256];
    if (!mdata || model_load(&llm.model, mdata, mlen, err, sizeof err) != 0) {
        printf("error: model: %s\n", mdata ? err : "unreadable");
        return 1;
    }
    int rc;
    if (llm.model.format == MODEL_FORMAT_GGUF) {
        rc = tokenizer_load_gguf(&tok, &llm.model.gguf, err, sizeof err);
    } else {
        tdata = tok_path ? port_read_file(tok_path, &tlen) : NULL;
        rc = tdata ? tokenizer_load_llama2c(&tok, tdata, tlen, llm.model.cfg.vocab_size, err,
                                            sizeof err)
                   : -1;
    }
    if (rc != 0) {
        printf("error: tokenizer: %s\n", err);
        return 1;
    }
    llm.tok = &tok;
    llm.status = LLM_STATUS_READY;
    size_t plen = strlen(prompt);
    int *ids = malloc((plen + 3) * sizeof *ids);
    int n = tokenizer_encode(&tok, prompt, plen, tok.add_bos, ids, (int)plen + 3);
    printf("prompt %d", n);
    for (int i = 0; i < n; i++)
        printf(" %d", ids[i]);
    putchar('\n');
    struct gen_request req;
    static const char *const why_names[] = {
        [GEN_OK] = "ok",
        [GEN_ERR_REQUEST] = "request",
        [GEN_ERR_NO_MEMORY] = "no_memory",
        [GEN_ERR_NO_MODEL] = "no_model",
    };
    enum gen_err why = gen_init(&req, &llm, ids, n, &p, err, sizeof err);
    if (why != GEN_OK) {
        printf("error: %s [%s]\n", err, why_names[why]);
    } else {
        static struct gen_output out;
        while ((rc = gen_step(&req, &out)) >= 0) {
            printf("step %d %d ", rc, out.token);
            for (size_t i = 0; i < out.len; i++)
                printf("%02x", (uint8_t)out.text[i]);
            putchar('\n');
            if (rc == GEN_STEP_DONE)
                break;
        }
        printf("finish %s %d %d\n", gen_finish_name(req.finish), (int)req.finish, req.n_gen);
        if (gen_step(&req, &out) != -1)
            printf("error: step after done did not return -1\n");
        gen_free(&req);
        gen_free(&req);
    }
    free(ids);
    tokenizer_free(&tok);
    model_free(&llm.model);
    port_free(mdata);
    port_free(tdata);
    return 0;
}
