/*
 * Host check of one weight type's kernels (kernel/llm built with -DCLLM_HOST), run
 * by tests/test_llm_types.py:
 *
 *   llm_types [--scalar] TYPE ROWS COLS NB WFILE XFILE
 *
 * WFILE holds ROWS rows of COLS values in ggml type TYPE (a number), XFILE NB inputs
 * of COLS float32. Prints "deq R v..." for each row (ops_get_row), "dot B o..." with
 * the ROWS outputs of ops_matmul for each input, and "batch B o..." with those of
 * one ops_matmul_batch over all inputs. Errors print "error: <message>", exit 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm/ops.h"
#include "llm/quant.h"

static void print_row(const char *tag, int i, const float *v, int n) {
    printf("%s %d", tag, i);
    for (int j = 0; j < n; j++)
        printf(" %.9g", v[j]);
    printf("\n");
}

int main(int argc, char **argv) {
    int a = 1;
    bool scalar = argc > 1 && !strcmp(argv[1], "--scalar");
    a += scalar;
    if (argc - a != 6) {
        fprintf(stderr, "usage: llm_types [--scalar] TYPE ROWS COLS NB WFILE XFILE\n");
        return 2;
    }
    uint32_t type = (uint32_t)atoi(argv[a]);
    int rows = atoi(argv[a + 1]), cols = atoi(argv[a + 2]), nb = atoi(argv[a + 3]);
    size_t wlen, xlen, rb = quant_row_bytes(type, cols);
    uint8_t *w = port_read_file(argv[a + 4], &wlen);
    float *x = (float *)port_read_file(argv[a + 5], &xlen);
    ops_select(!scalar);
    if (!ops_supports(type) || !rb) {
        printf("error: type %s (%u) with %d columns not supported\n", model_wtype_name(type),
               (unsigned)type, cols);
        return 1;
    }
    if (!w || !x || wlen != rb * (size_t)rows || xlen != (size_t)nb * (size_t)cols * 4) {
        printf("error: files do not hold %d rows of %lu bytes and %d inputs\n", rows,
               (unsigned long)rb, nb);
        return 1;
    }
    struct model_matrix m = {.type = type, .data = w, .rows = rows, .cols = cols};
    struct ops_scratch sc = {0};
    float *out = port_alloc((size_t)(rows > cols ? rows : cols) * (size_t)nb * sizeof(float));
    for (int r = 0; r < rows; r++) {
        ops_get_row(out, &m, r);
        print_row("deq", r, out, cols);
    }
    for (int b = 0; b < nb; b++) {
        ops_matmul(&sc, out, &m, x + (size_t)b * cols);
        print_row("dot", b, out, rows);
    }
    float *const outs[1] = {out};
    const struct model_matrix *const ms[1] = {&m};
    ops_matmul_batch(&sc, outs, ms, 1, x, nb);
    for (int b = 0; b < nb; b++)
        print_row("batch", b, out + (size_t)b * rows, rows);
    ops_scratch_free(&sc);
    port_free(out);
    port_free(w);
    port_free(x);
    return 0;
}
