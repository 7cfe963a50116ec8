/*
 * cpu.h: what the processor can do (kernel/core/cpu.c). cpu_init runs CPUID, turns
 * the x87 FPU on (CR0.EM off, CR0.MP and CR0.NE on) and, when the CPU has SSE and
 * FXSR, enables SSE (CR4.OSFXSR, CR4.OSXMMEXCPT). Code in *_sse2.c files may only run
 * when cpu_has_sse2() is true.
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
bool cpu_has_sse2(void);      /* SSE2 present and enabled by the kernel */
const char *cpu_vendor(void); /* "GenuineIntel", ... or "unknown" */

#endif
