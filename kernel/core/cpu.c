/*
 * CPU feature detection and FPU/SSE setup (cpu.h), run once by kernel_main before
 * any floating-point code, and by each application processor as it starts
 * (cpu_init_ap, kernel/core/smp.c), so every CPU computes with the same settings.
 * A CPU without CPUID (early 486) is treated as having an FPU and nothing else; a CPU without SSE
 * (Pentium) runs the x87 code paths.
 */
#include "cpu.h"
#include "kernel.h"
#include "x86.h"

#define EFLAGS_ID (1u << 21)
#define CPUID_EDX_FPU (1u << 0)
#define CPUID_EDX_PSE (1u << 3)
#define CPUID_EDX_TSC (1u << 4)
#define CPUID_EDX_FXSR (1u << 24)
#define CPUID_EDX_SSE (1u << 25)
#define CPUID_EDX_SSE2 (1u << 26)
#define CR0_MP (1u << 1)
#define CR0_EM (1u << 2)
#define CR0_TS (1u << 3)
#define CR0_NE (1u << 5)
#define CR4_OSFXSR (1u << 9)
#define CR4_OSXMMEXCPT (1u << 10)

static bool has_cpuid, sse_on, sse2_on;
static uint32_t features_edx;
static char vendor[13] = "unknown";

static bool cpu_detect_cpuid(void) {
    uint32_t before = read_eflags();
    write_eflags(before ^ EFLAGS_ID);
    uint32_t after = read_eflags();
    write_eflags(before);
    return ((before ^ after) & EFLAGS_ID) != 0;
}

void cpu_init(void) {
    has_cpuid = cpu_detect_cpuid();
    if (has_cpuid) {
        uint32_t max, b, c, d, a;
        cpuid(0, &max, &b, &c, &d);
        memcpy(vendor, &b, 4);
        memcpy(vendor + 4, &d, 4);
        memcpy(vendor + 8, &c, 4);
        vendor[12] = '\0';
        if (max >= 1)
            cpuid(1, &a, &b, &c, &features_edx);
    } else {
        features_edx = CPUID_EDX_FPU;
    }

    sse_on = (features_edx & CPUID_EDX_SSE) && (features_edx & CPUID_EDX_FXSR);
    sse2_on = sse_on && (features_edx & CPUID_EDX_SSE2) != 0;
    cpu_init_ap();
    printk("cllm: cpu %s fpu %s tsc %s pse %s sse %s sse2 %s\n", vendor,
           cpu_has_fpu() ? "yes" : "no", cpu_has_tsc() ? "yes" : "no", cpu_has_pse() ? "yes" : "no",
           sse_on ? "on" : "no", sse2_on ? "on" : "no");
}

/* The FPU/SSE switches cpu_init chose, on the calling CPU. Prints nothing: it also
 * runs on application processors, which stay off the log. */
void cpu_init_ap(void) {
    /* x87: native error reporting, WAIT honours TS, no emulation; then a clean state. */
    write_cr0((read_cr0() & ~(CR0_EM | CR0_TS)) | CR0_MP | CR0_NE);
    fninit();
    if (sse_on)
        write_cr4(read_cr4() | CR4_OSFXSR | CR4_OSXMMEXCPT);
}

bool cpu_has_cpuid(void) {
    return has_cpuid;
}
bool cpu_has_fpu(void) {
    return (features_edx & CPUID_EDX_FPU) != 0;
}
bool cpu_has_tsc(void) {
    return (features_edx & CPUID_EDX_TSC) != 0;
}
bool cpu_has_pse(void) {
    return (features_edx & CPUID_EDX_PSE) != 0;
}
bool cpu_has_sse(void) {
    return sse_on;
}
bool cpu_has_sse2(void) {
    return sse2_on;
}
const char *cpu_vendor(void) {
    return vendor;
}
