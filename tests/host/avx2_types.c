/*
 * Host check of the kernel sets against each other (kernel/llm built with
 * -DCLLM_HOST), run by tests/test_avx2_host.py:
 *
 *   avx2_types SET TYPE ROWS COLS NB WFILE XFILE
 *
 * SET is scalar, sse2 or avx2; WFILE holds ROWS rows of COLS values in ggml type TYPE
 * (a number), XFILE NB inputs of COLS float32. Prints "dot B o..." with the ROWS
 * outputs of ops_matmul for each input, "batch B o..." with those of one
 * ops_matmul_batch over all inputs, "attn B d" with ops_dot of input B and input 0,
 * "axpy v..." with input 0 plus 0.37 times each other input (ops_axpy), "softmax B
 * v..." with ops_softmax of the first COLS - B values of input B, and "swiglu B v..."
 * with ops_swiglu of those values and input 0. Exit 3
 * with "missing FEATURE" when SET needs an instruction set the host CPU lacks;
 * errors print "error: <message>" and exit 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host_cpu.h"
#include "llm/ops.h"
#include "llm/quant.h"

static void print_row(const char *tag, int i, const float *v, int n) {
    printf("%s %d", tag, i);
    for (int j = 0; j < n; j++)
        printf(" %.9g", v[j]);
    printf("\n");
}

/* The kernel set named `name`, or NULL after printing why it cannot run here. */
static const struct ops_kernels *pick(const char *name) {
    if (!strcmp(name, "scalar"))
        return &ops_scalar;
    if (!strcmp(name, "sse2"))
        return &ops_sse2;
    if (strcmp(name, "avx2") != 0) {
        printf("error: no kernel set %s\n", name);
        return NULL;
    }
    const char *missing = host_cpu_avx2_missing();
    if (missing) {
        printf("missing %s\n", missing);
        exit(3);
    }
    return &ops_avx2;
}

int main(int argc, char **argv) {
    if (argc != 8) {
        fprintf(stderr, "usage: avx2_types SET TYPE ROWS COLS NB WFILE XFILE\n");
        return 2;
    }
    const struct ops_kernels *k = pick(argv[1]);
    if (!k)
        return 1;
    uint32_t type = (uint32_t)atoi(argv[2]);
    int rows = atoi(argv[3]), cols = atoi(argv[4]), nb = atoi(argv[5]);
    size_t wlen, xlen, rb = quant_row_bytes(type, cols);
    uint8_t *w = port_read_file(argv[6], &wlen);
    float *x = (float *)port_read_file(argv[7], &xlen);
    ops_select_kernels(k);
    if (strcmp(ops_name(), argv[1]) != 0 || !ops_supports(type) || !rb) {
        printf("error: type %u with %d columns not supported by %s\n", (unsigned)type, cols,
               ops_name());
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
    for (int b = 0; b < nb; b++) {
        ops_matmul(&sc, out, &m, x + (size_t)b * cols);
        print_row("dot", b, out, rows);
    }
    float *const outs[1] = {out};
    const struct model_matrix *const ms[1] = {&m};
    ops_matmul_batch(&sc, outs, ms, 1, x, nb);
    for (int b = 0; b < nb; b++)
        print_row("batch", b, out + (size_t)b * rows, rows);
    for (int b = 0; b < nb; b++)
        printf("attn %d %.9g\n", b, ops_dot(x + (size_t)b * cols, x, cols));
    memcpy(out, x, (size_t)cols * sizeof(float));
    for (int b = 1; b < nb; b++)
        ops_axpy(out, 0.37f, x + (size_t)b * cols, cols);
    print_row("axpy", 0, out, cols);
    for (int b = 0; b < nb && b < cols; b++) { /* every length modulo 8 */
        memcpy(out, x + (size_t)b * cols, (size_t)(cols - b) * sizeof(float));
        ops_softmax(out, cols - b);
        print_row("softmax", b, out, cols - b);
    }
    for (int b = 1; b < nb && b < cols; b++) {
        memcpy(out, x + (size_t)b * cols, (size_t)(cols - b) * sizeof(float));
        ops_swiglu(out, x, cols - b);
        print_row("swiglu", b, out, cols - b);
    }
    ops_scratch_free(&sc);
    port_free(out);
    port_free(w);
    port_free(x);
    return 0;
}
