/*
 * selftest.h: in-image self-tests chosen by cllm.selftest=all|name,name
 * (kernel/init/selftest.c). Each prints "cllm: selftest <name> ok" or
 * "cllm: selftest <name> FAIL <detail>", then a summary line; the kernel exits 0
 * if all passed, 1 otherwise. The fault_* tests end in a panic (exit status 2).
 */
#ifndef CLLM_SELFTEST_H
#define CLLM_SELFTEST_H

#include "types.h"

/* Runs the tests named by the option and exits; returns only if no tests were asked. */
void selftest_run(const char *spec);

/* kernel/init/selftest_sse2.c (SSE2 code: call only when cpu_has_sse2()):
 * dot product of a[0..n) and b[0..n) with packed single-precision arithmetic. */
float selftest_sse2_dot(const float *a, const float *b, size_t n);

#endif
