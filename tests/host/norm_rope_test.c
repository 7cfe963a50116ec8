/*
 * Host check of the kernel sets' RMSNorm and RoPE (kernel/llm built with -DCLLM_HOST),
 * run by tests/test_norm_rope_host.py:
 *
 *   norm_rope_test SET N ROWS FILE
 *
 * SET is scalar, sse2 or avx2; FILE holds float32 x (ROWS, N), then weight (N), then
 * the angle table cs (N: cos and sin of pair j at 2j, 2j + 1, N even). Prints
 * "norm R v..." with ops_rmsnorm of row R (eps 1e-5) into another buffer, and exits 1
 * if the in-place call differs from it. For even N, "norm_rope R v..." and
 * "neox_rope R v..." with the rows as ROWS heads of N floats rotated by ops_rope in the
 * adjacent-pair and the halves layout; exits 1 if rotating pair by pair (the way
 * forward.c goes without a table) differs. Values print with %a (exact). Exit 3 with
 * "missing FEATURE" when SET needs an instruction set the host CPU lacks; 2 on bad
 * arguments or file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host_cpu.h"
#include "llm/ops.h"

#define NORM_EPS 1e-5f

static void print_row(const char *tag, int r, const float *v, int n) {
    printf("%s %d", tag, r);
    for (int j = 0; j < n; j++)
        printf(" %a", (double)v[j]);
    printf("\n");
}

/* The kernel set named `name`; exits when there is none or the CPU cannot run it. */
static const struct ops_kernels *pick(const char *name) {
    const struct ops_kernels *sets[] = {&ops_scalar, &ops_sse2, &ops_avx2};
    for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
        if (strcmp(name, sets[i]->name) != 0)
            continue;
        const char *missing = sets[i] == &ops_avx2 ? host_cpu_avx2_missing() : NULL;
        if (missing) {
            printf("missing %s\n", missing);
            exit(3);
        }
        return sets[i];
    }
    fprintf(stderr, "no kernel set %s\n", name);
    exit(2);
}

/* heads(rows, n) rotated in one call, then a copy pair by pair; 1 if they differ. */
static int rope_rows(const char *tag, const float *x, const float *cs, int rows, int n, int half) {
    size_t bytes = (size_t)rows * (size_t)n * sizeof(float);
    float *a = port_alloc(bytes), *b = port_alloc(bytes);
    memcpy(a, x, bytes);
    memcpy(b, x, bytes);
    ops_rope(a, rows, n, cs, n / 2, half);
    for (int j = 0; j < n / 2; j++)
        ops_rope(b + (half ? j : 2 * j), rows, n, cs + 2 * j, 1, half);
    for (int r = 0; r < rows; r++)
        print_row(tag, r, a + (size_t)r * n, n);
    int bad = memcmp(a, b, bytes) != 0;
    if (bad)
        printf("error: %s pair by pair differs\n", tag);
    port_free(a);
    port_free(b);
    return bad;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: norm_rope_test SET N ROWS FILE\n");
        return 2;
    }
    const struct ops_kernels *k = pick(argv[1]);
    int n = atoi(argv[2]), rows = atoi(argv[3]);
    size_t len;
    float *data = (float *)port_read_file(argv[4], &len);
    if (n < 1 || rows < 1 || !data || len != (size_t)(rows + 2) * (size_t)n * sizeof(float)) {
        fprintf(stderr, "%s does not hold %d rows, a weight and a table of %d floats\n", argv[4],
                rows, n);
        return 2;
    }
    ops_select_kernels(k);
    const float *x = data, *w = data + (size_t)rows * n, *cs = w + n;
    float *out = port_alloc((size_t)n * sizeof(float)), *in = port_alloc((size_t)n * sizeof(float));
    int bad = 0;
    for (int r = 0; r < rows; r++) {
        ops_rmsnorm(out, x + (size_t)r * n, w, n, NORM_EPS);
        memcpy(in, x + (size_t)r * n, (size_t)n * sizeof(float));
        ops_rmsnorm(in, in, w, n, NORM_EPS);
        print_row("norm", r, out, n);
        if (memcmp(in, out, (size_t)n * sizeof(float)) != 0) {
            printf("error: in-place RMSNorm of row %d differs\n", r);
            bad = 1;
        }
    }
    if (n % 2 == 0) {
        bad |= rope_rows("norm_rope", x, cs, rows, n, 0);
        bad |= rope_rows("neox_rope", x, cs, rows, n, n / 2);
    }
    port_free(out);
    port_free(in);
    port_free(data);
    return bad;
}
