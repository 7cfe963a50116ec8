/*
 * The panic report, one format for CPU exceptions (panic_from_trap, called by
 * kernel/core/trap.c and the double-fault task) and software panics (panic, and
 * zig_panic for the Zig modules):
 *   cllm: panic: <reason>
 *   cllm: panic: eip=0x... esp=0x... ebp=0x... eax=... ... eflags=... cr2=... err=...
 *   cllm: trace: 0x<addr>            (one per frame, innermost first)
 *   cllm: panic end
 * then kernel_exit(EXIT_PANIC). The trace follows the saved-EBP chain (every kernel
 * file keeps frame pointers) and checks each frame against the stack's bounds
 * before reading it, so a corrupt chain ends the trace instead of faulting again.
 *
 * With more than one CPU running, the first CPU to panic owns the report: it stops
 * the others (smp_stop_others, an NMI each) and the reason ends with "on cpu N (apic
 * id X)". A CPU that panics while another one reports halts silently.
 */
#include "kernel.h"
#include "memlayout.h"
#include "param.h"
#include "smp.h"
#include "trap.h"
#include "x86.h"
#include "zig.h"

struct panic_regs {
    uint32_t eip, esp, ebp, eax, ebx, ecx, edx, esi, edi, eflags, cr2, err;
};

static const char *const exception_names[32] = {
    "divide error",
    "debug",
    "non-maskable interrupt",
    "breakpoint",
    "overflow",
    "bound range exceeded",
    "invalid opcode",
    "device not available",
    "double fault",
    "coprocessor segment overrun",
    "invalid TSS",
    "segment not present",
    "stack-segment fault",
    "general protection fault",
    "page fault",
    "reserved (15)",
    "x87 floating-point exception",
    "alignment check",
    "machine check",
    "SIMD floating-point exception",
    "virtualization exception",
    "control protection",
    "reserved (22)",
    "reserved (23)",
    "reserved (24)",
    "reserved (25)",
    "reserved (26)",
    "reserved (27)",
    "hypervisor injection",
    "VMM communication",
    "security exception",
    "reserved (31)",
};

static volatile int panic_depth;
static int panic_cpu = -1; /* index of the CPU that owns the report */

/* Make this CPU the one that reports; a CPU that loses the race halts for good. A
 * second panic on the owner itself returns (the nested-panic line reports it). */
static void panic_claim(void) {
    cli();
    int me = smp_cpu_index(), none = -1;
    if (__atomic_compare_exchange_n(&panic_cpu, &none, me, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE)) {
        smp_stop_others();
        return;
    }
    if (none == me)
        return;
    for (;;)
        hlt();
}

/* Is [addr, addr + 8) inside the stack that holds `addr`? */
static bool panic_frame_ok(uint32_t addr, uintptr_t *lo, uintptr_t *hi) {
    uintptr_t flo, fhi;
    gdt_fault_stack_cpu(panic_cpu > 0 ? panic_cpu : 0, &flo, &fhi);
    if (addr >= (uintptr_t)boot_stack_bottom && addr + 8 <= (uintptr_t)boot_stack_top) {
        *lo = (uintptr_t)boot_stack_bottom;
        *hi = (uintptr_t)boot_stack_top;
    } else if (addr >= flo && addr + 8 <= fhi) {
        *lo = flo;
        *hi = fhi;
    } else if (!smp_stack_bounds(addr, lo, hi) || addr + 8 > *hi) {
        return false;
    }
    return (addr & 3) == 0;
}

static void panic_trace(uint32_t eip, uint32_t ebp) {
    printk("cllm: trace: 0x%08x\n", eip);
    uintptr_t lo, hi;
    for (int i = 1; i < PANIC_TRACE_MAX && panic_frame_ok(ebp, &lo, &hi); i++) {
        const uint32_t *frame = (const uint32_t *)(uintptr_t)ebp;
        uint32_t next = frame[0], ret = frame[1];
        if (ret == 0)
            break;
        printk("cllm: trace: 0x%08x\n", ret);
        /* The chain must climb towards the top of the same stack. */
        if (next <= ebp || next < lo || next + 8 > hi)
            break;
        ebp = next;
    }
}

static void NORETURN panic_report(const char *reason, const struct panic_regs *r) {
    panic_claim();
    if (panic_depth++ > 0) {
        /* A fault while reporting: say so and stop before it can recurse again. */
        printk("cllm: panic: nested panic: %s\ncllm: panic end\n", reason);
        kernel_exit(EXIT_PANIC);
    }
    if (smp_cpu_count() > 1)
        /* Start on a fresh line: the CPU we stopped may have been mid-line. */
        printk("\ncllm: panic: %s on cpu %d (apic id %u)\n", reason, panic_cpu,
               smp_apic_id(panic_cpu));
    else
        printk("cllm: panic: %s\n", reason);
    printk("cllm: panic: eip=0x%08x esp=0x%08x ebp=0x%08x eax=0x%08x ebx=0x%08x ecx=0x%08x "
           "edx=0x%08x esi=0x%08x edi=0x%08x eflags=0x%08x cr2=0x%08x err=0x%08x\n",
           r->eip, r->esp, r->ebp, r->eax, r->ebx, r->ecx, r->edx, r->esi, r->edi, r->eflags,
           r->cr2, r->err);
    panic_trace(r->eip, r->ebp);
    printk("cllm: panic end\n");
    kernel_exit(EXIT_PANIC);
}

/* Exception reports run on their own stack: a fault caused by a nearly exhausted
 * boot stack (an interrupt arriving just above the guard page) would fault again while
 * formatting the report. */
static uint8_t panic_stack[PANIC_STACK_SIZE] __attribute__((aligned(16)));
static const struct trap_frame *trap_pending;
static uint32_t trap_pending_cr2;

static NORETURN void panic_trap_on_stack(void) {
    panic_from_trap(trap_pending, trap_pending_cr2);
}

void panic_trap(const struct trap_frame *f, uint32_t cr2) {
    panic_claim(); /* one CPU at a time on the panic stack */
    trap_pending = f;
    trap_pending_cr2 = cr2;
    switch_stack_call((uintptr_t)(panic_stack + PANIC_STACK_SIZE), panic_trap_on_stack);
}

void panic_from_trap(const struct trap_frame *f, uint32_t cr2) {
    char reason[128];
    const char *name = f->vector < 32 ? exception_names[f->vector] : "unexpected interrupt";
    if (f->vector == 14)
        snprintf(reason, sizeof(reason), "%s (vector %u) at address 0x%08x", name, f->vector, cr2);
    else
        snprintf(reason, sizeof(reason), "%s (vector %u)", name, f->vector);
    struct panic_regs r = {
        .eip = f->eip,
        .ebp = f->ebp,
        .eax = f->eax,
        .ebx = f->ebx,
        .ecx = f->ecx,
        .edx = f->edx,
        .esi = f->esi,
        .edi = f->edi,
        .eflags = f->eflags,
        .cr2 = cr2,
        .err = f->err,
        /* Ring 0 traps push no ESP: the interrupted stack continues just above the
         * frame. The double-fault task passes the saved ESP in esp_at_pusha. */
        .esp = f->vector == 8 ? f->esp_at_pusha : (uint32_t)(uintptr_t)(&f->eflags + 1),
    };
    panic_report(reason, &r);
}

void panic(const char *fmt, ...) {
    struct x86_regs now;
    read_regs(&now);
    char reason[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    /* Report the caller's context: its EIP, its EBP, and its ESP after the call. */
    const uint32_t *frame = __builtin_frame_address(0);
    struct panic_regs r = {
        .eip = (uint32_t)(uintptr_t)__builtin_return_address(0),
        .esp = (uint32_t)(uintptr_t)(frame + 2),
        .ebp = frame[0],
        .eax = now.eax,
        .ebx = now.ebx,
        .ecx = now.ecx,
        .edx = now.edx,
        .esi = now.esi,
        .edi = now.edi,
        .eflags = now.eflags,
        .cr2 = read_cr2(),
        .err = 0,
    };
    panic_report(reason, &r);
}

void zig_panic(const char *msg, size_t len) {
    panic("zig: %.*s", (int)MIN(len, 200u), msg);
}
