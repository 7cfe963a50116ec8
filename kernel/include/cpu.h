/*
 * cpu.h: what the processor can do (kernel/core/cpu.c). cpu_init runs CPUID, turns
 * the x87 FPU on (CR0.EM off, CR0.MP and CR0.NE on) and, when the CPU has SSE and
 * FXSR, enables SSE (CR4.OSFXSR, CR4.OSXMMEXCPT), and when it has AVX with XSAVE,
 * enables AVX state (CR4.OSXSAVE, XCR0 = x87 | SSE | AVX). Code in *_sse2.c files may
 * only run when cpu_has_sse2() is true, code in *_avx2.c files when cpu_has_avx2() is.
 */
#ifndef CLLM_CPU_H
#define CLLM_CPU_H

#include "types.h"

void cpu_init(void);
void cpu_init_ap(void); /* the same FPU/SSE settings on another CPU (after cpu_init) */
bool cpu_has_cpuid(void);
bool cpu_has_fpu(void);
bool cpu_has_tsc(void);
bool cpu_has_pse(void);
bool cpu_has_sse(void);
bool cpu_has_sse2(void); /* SSE2 present and enabled by the kernel */
bool cpu_has_avx(void);  /* AVX present and its state enabled (CR4.OSXSAVE, XCR0) */
bool cpu_has_avx2(void); /* AVX enabled, and AVX2, FMA and F16C present */
/* The widest vector unit enabled: "avx2", "sse2" or "x87" (the kernel set chosen). */
const char *cpu_vector_level(void);
const char *cpu_vendor(void); /* "GenuineIntel", ... or "unknown" */

#endif
