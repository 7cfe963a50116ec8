/*
 * CPU feature detection and FPU/SSE setup (cpu.h), run once by kernel_main before
 * any floating-point code, and by each application processor as it starts
 * (cpu_init_ap, kernel/core/smp.c), so every CPU computes with the same settings.
 * A CPU without CPUID (early 486) is treated as having an FPU and nothing else; a CPU without SSE
 * (Pentium) runs the x87 code paths.
 *
 * The vector level (cpu_vector_level) is the widest the kernel enabled: x87, SSE2, or
 * AVX2 with FMA and F16C. AVX needs the OS to opt in: CR4.OSXSAVE, then XCR0 naming
 * the x87, SSE and AVX state components, on every CPU.
 *
 * Vector state is never saved or restored: no trap or IRQ handler touches x87, SSE
 * or AVX registers (they are compiled without SSE and do no float math), and vector
 * code runs only in the poll loop and in the smp_run jobs on each CPU, never in two
 * contexts on one CPU at a time. XCR0 enables the AVX state only so that the
 * instructions do not fault; nothing uses XSAVE.
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
#define CR4_OSXSAVE (1u << 18)
#define CPUID_ECX_FMA (1u << 12)
#define CPUID_ECX_XSAVE (1u << 26)
#define CPUID_ECX_AVX (1u << 28)
#define CPUID_ECX_F16C (1u << 29)
#define CPUID7_EBX_AVX2 (1u << 5)
#define XCR0_X87 (1u << 0)
#define XCR0_SSE (1u << 1)
#define XCR0_AVX (1u << 2)
#define XCR0_WANT (XCR0_X87 | XCR0_SSE | XCR0_AVX)

static bool has_cpuid, sse_on, sse2_on, avx_on, avx2_on;
static uint32_t features_edx, features_ecx, features7_ebx;
static char vendor[13] = "unknown";

static bool cpu_avx_possible(void);

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
            cpuid(1, &a, &b, &features_ecx, &features_edx);
        if (max >= 7)
            cpuid(7, &a, &features7_ebx, &c, &d);
    } else {
        features_edx = CPUID_EDX_FPU;
    }

    sse_on = (features_edx & CPUID_EDX_SSE) && (features_edx & CPUID_EDX_FXSR);
    sse2_on = sse_on && (features_edx & CPUID_EDX_SSE2) != 0;
    avx_on = sse2_on && cpu_avx_possible();
    avx2_on = avx_on && (features7_ebx & CPUID7_EBX_AVX2) && (features_ecx & CPUID_ECX_FMA) &&
              (features_ecx & CPUID_ECX_F16C);
    cpu_init_ap();
    printk("cllm: cpu %s fpu %s tsc %s pse %s sse %s sse2 %s avx %s avx2 %s\n", vendor,
           cpu_has_fpu() ? "yes" : "no", cpu_has_tsc() ? "yes" : "no", cpu_has_pse() ? "yes" : "no",
           sse_on ? "on" : "no", sse2_on ? "on" : "no", avx_on ? "on" : "no",
           avx2_on ? "on" : "no");
    printk("cllm: cpu: vector level %s\n", cpu_vector_level());
}

/* AVX can be turned on: the CPU has AVX and XSAVE, and XCR0 may name the AVX state
 * (CPUID leaf 0xD lists the components the processor supports). */
static bool cpu_avx_possible(void) {
    uint32_t max, a, b, c, d;
    if (!(features_ecx & CPUID_ECX_AVX) || !(features_ecx & CPUID_ECX_XSAVE))
        return false;
    cpuid(0, &max, &b, &c, &d);
    if (max < 0xd)
        return false;
    cpuid(0xd, &a, &b, &c, &d);
    return (a & XCR0_WANT) == XCR0_WANT;
}

/* The FPU/SSE switches cpu_init chose, on the calling CPU. Prints nothing: it also
 * runs on application processors, which stay off the log. */
void cpu_init_ap(void) {
    /* x87: native error reporting, WAIT honours TS, no emulation; then a clean state. */
    write_cr0((read_cr0() & ~(CR0_EM | CR0_TS)) | CR0_MP | CR0_NE);
    fninit();
    if (sse_on)
        write_cr4(read_cr4() | CR4_OSFXSR | CR4_OSXMMEXCPT);
    if (avx_on) {
        write_cr4(read_cr4() | CR4_OSXSAVE);
        xsetbv(0, xgetbv(0) | XCR0_WANT);
    }
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
bool cpu_has_avx(void) {
    return avx_on;
}
bool cpu_has_avx2(void) {
    return avx2_on;
}
const char *cpu_vector_level(void) {
    return avx2_on ? "avx2" : sse2_on ? "sse2" : "x87";
}
const char *cpu_vendor(void) {
    return vendor;
}
