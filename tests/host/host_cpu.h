/*
 * What the host CPU can run, for the host harnesses that pick a kernel set
 * (llm_main.c --avx2, avx2_types.c). x86 hosts only (gcc and clang's <cpuid.h>).
 */
#ifndef CLLM_TESTS_HOST_CPU_H
#define CLLM_TESTS_HOST_CPU_H

#include <cpuid.h>
#include <stdbool.h>

/* The first of the AVX2 set's CPU features the host lacks ("avx2", "fma", "f16c",
 * or "osxsave" when the OS has not enabled AVX state), or NULL if it has them all. */
static inline const char *host_cpu_avx2_missing(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE))
        return "osxsave";
    if (!(c & bit_FMA))
        return "fma";
    if (!(c & bit_F16C))
        return "f16c";
    if (__get_cpuid_max(0, NULL) < 7)
        return "avx2";
    __cpuid_count(7, 0, a, b, c, d);
    return (b & bit_AVX2) ? NULL : "avx2";
}

#endif
