/*
 * RMSNorm and RoPE per kernel set on the host (bench/norm_rope_bench.py builds it with
 * -O2 -march=native):
 *
 *   norm_rope_bench SET DIM N_HEADS N_KV_HEADS HEAD_DIM ITERS
 *
 * Times ITERS calls of ops_rmsnorm over DIM floats, and ITERS rotations of one token's
 * q (N_HEADS heads) and k (N_KV_HEADS heads) by ops_rope in each layout, as forward.c
 * makes them; prints "SET rmsnorm NS rope_norm NS rope_neox NS" in nanoseconds per
 * call (per token for RoPE). The scalar set's code is what every set ran before RMSNorm
 * and RoPE became kernel-set rows. Exit 3 with "missing FEATURE" when the host CPU
 * cannot run SET.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tests/host/host_cpu.h"
#include "llm/ops.h"

/* Nanoseconds per call since t0 (port_cycles counts nanoseconds on the host). */
static double bench_ns(uint64_t t0, int iters) {
    return (double)(port_cycles() - t0) / (double)iters;
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: norm_rope_bench SET DIM N_HEADS N_KV_HEADS HEAD_DIM ITERS\n");
        return 2;
    }
    const struct ops_kernels *sets[] = {&ops_scalar, &ops_sse2, &ops_avx2}, *k = NULL;
    for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++)
        if (!strcmp(argv[1], sets[i]->name))
            k = sets[i];
    if (!k) {
        fprintf(stderr, "no kernel set %s\n", argv[1]);
        return 2;
    }
    if (k == &ops_avx2 && host_cpu_avx2_missing()) {
        printf("missing %s\n", host_cpu_avx2_missing());
        return 3;
    }
    int dim = atoi(argv[2]), nh = atoi(argv[3]), nkv = atoi(argv[4]), hd = atoi(argv[5]);
    int iters = atoi(argv[6]);
    if (dim < 1 || nh < 1 || nkv < 1 || hd < 2 || hd % 2 || iters < 1) {
        fprintf(stderr, "bad sizes\n");
        return 2;
    }
    ops_select_kernels(k);
    float *x = port_alloc((size_t)dim * sizeof(float)),
          *w = port_alloc((size_t)dim * sizeof(float));
    float *q = port_alloc((size_t)nh * hd * sizeof(float)),
          *kk = port_alloc((size_t)nkv * hd * sizeof(float));
    float *cs = port_alloc((size_t)hd * sizeof(float));
    for (int i = 0; i < dim; i++) {
        x[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
        w[i] = 1.0f + (float)(i % 7) / 10.0f;
    }
    for (int i = 0; i < nh * hd; i++)
        q[i] = (float)((i * 13) % 29) / 14.0f - 1.0f;
    for (int i = 0; i < nkv * hd; i++)
        kk[i] = (float)((i * 11) % 23) / 11.0f - 1.0f;
    for (int j = 0; j < hd / 2; j++) { /* a rotation by a small angle keeps values bounded */
        cs[2 * j] = 0.9999f;
        cs[2 * j + 1] = 0.0141f;
    }
    uint64_t t0 = port_cycles();
    for (int it = 0; it < iters; it++)
        ops_rmsnorm(x, x, w, dim, 1e-5f);
    double norm = bench_ns(t0, iters);
    double rope[2];
    for (int layout = 0; layout < 2; layout++) {
        int half = layout ? hd / 2 : 0;
        t0 = port_cycles();
        for (int it = 0; it < iters; it++) {
            ops_rope(q, nh, hd, cs, hd / 2, half);
            ops_rope(kk, nkv, hd, cs, hd / 2, half);
        }
        rope[layout] = bench_ns(t0, iters);
    }
    printf("%s rmsnorm %.1f rope_norm %.1f rope_neox %.1f\n", ops_name(), norm, rope[0], rope[1]);
    port_free(x);
    port_free(w);
    port_free(q);
    port_free(kk);
    port_free(cs);
    return 0;
}
