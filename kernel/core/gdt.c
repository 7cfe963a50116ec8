/*
 * The GDTs, one per CPU: flat 4 GiB ring-0 code and data segments, plus two TSSs so a
 * double fault (typically a stack overflow into a guard page, where the CPU cannot
 * push an exception frame) switches to a fresh task with its own stack and still
 * prints the panic report. The CPU's main TSS receives the faulting context on the
 * switch; the double-fault handler reads it from there. gdt_init runs first in traps
 * setup on the boot CPU; gdt_init_cpu runs on each application processor as it starts
 * (kernel/core/smp.c). A TSS descriptor is marked busy by ltr, which is why every CPU
 * needs its own table.
 */
#include "kernel.h"
#include "smp.h"
#include "trap.h"
#include "x86.h"

#define GDT_CODE GDT_KERNEL_CODE
#define GDT_DATA 0x10
#define GDT_TSS_MAIN 0x18
#define GDT_TSS_FAULT GDT_FAULT_TSS
#define FAULT_STACK_SIZE 8192 /* bytes; the double-fault handler's stack, per CPU */

struct tss {
    uint32_t link, esp0, ss0, esp1, ss1, esp2, ss2, cr3, eip, eflags;
    uint32_t eax, ecx, edx, ebx, esp, ebp, esi, edi;
    uint32_t es, cs, ss, ds, fs, gs, ldt;
    uint16_t trap, iomap_base;
} PACKED;

static uint64_t gdt[SMP_MAX_CPUS][5];
static struct tss tss_main[SMP_MAX_CPUS], tss_fault[SMP_MAX_CPUS];
static uint8_t fault_stack[SMP_MAX_CPUS][FAULT_STACK_SIZE] __attribute__((aligned(16)));

/* Base, limit (20 bits), access byte, flags nibble (granularity, size). */
static uint64_t gdt_entry(uint32_t base, uint32_t limit, uint8_t access, uint8_t flags) {
    return (uint64_t)(limit & 0xFFFF) | (uint64_t)(base & 0xFFFFFF) << 16 | (uint64_t)access << 40 |
           (uint64_t)((limit >> 16) & 0xF) << 48 | (uint64_t)(flags & 0xF) << 52 |
           (uint64_t)(base >> 24) << 56;
}

/* Entered by the task switch of a double fault on CPU `cpu`, on its fault stack. The
 * CPU pushes the error code where a return address would be, so the word gdt_init_cpu
 * stored just above it arrives as the argument. */
static void __attribute__((used, noreturn)) gdt_double_fault_task(int cpu) {
    const struct tss *t = &tss_main[cpu];
    struct trap_frame f = {
        .edi = t->edi,
        .esi = t->esi,
        .ebp = t->ebp,
        .esp_at_pusha = t->esp,
        .ebx = t->ebx,
        .edx = t->edx,
        .ecx = t->ecx,
        .eax = t->eax,
        .vector = 8,
        .err = 0,
        .eip = t->eip,
        .cs = t->cs,
        .eflags = t->eflags,
    };
    panic_from_trap(&f, read_cr2());
}

void gdt_init_cpu(int cpu) {
    uint64_t *g = gdt[cpu];
    struct tss *tm = &tss_main[cpu], *tf = &tss_fault[cpu];
    g[0] = 0;
    g[GDT_CODE / 8] = gdt_entry(0, 0xFFFFF, 0x9A, 0xC); /* present, ring 0, code, 4 KiB gran */
    g[GDT_DATA / 8] = gdt_entry(0, 0xFFFFF, 0x92, 0xC); /* present, ring 0, data, writable */
    g[GDT_TSS_MAIN / 8] = gdt_entry((uint32_t)tm, sizeof(struct tss) - 1, 0x89, 0);
    g[GDT_TSS_FAULT / 8] = gdt_entry((uint32_t)tf, sizeof(struct tss) - 1, 0x89, 0);

    tm->iomap_base = sizeof(struct tss);
    tf->iomap_base = sizeof(struct tss);
    tf->eip = (uint32_t)(uintptr_t)gdt_double_fault_task;
    /* Leave room for the error code the CPU pushes and the cpu argument above it; keep
     * 16-byte alignment. */
    uint32_t *top = (uint32_t *)(fault_stack[cpu] + FAULT_STACK_SIZE - 16);
    *top = (uint32_t)cpu;
    tf->esp = (uint32_t)(uintptr_t)top;
    tf->eflags = 0x2; /* interrupts off */
    tf->cs = GDT_CODE;
    tf->ds = tf->es = tf->fs = tf->gs = tf->ss = GDT_DATA;
    tf->cr3 = read_cr3();

    struct x86_table_ptr ptr = {sizeof(gdt[cpu]) - 1, (uint32_t)(uintptr_t)g};
    lgdt_reload(&ptr, GDT_CODE, GDT_DATA);
    ltr(GDT_TSS_MAIN);
}

void gdt_init(void) {
    gdt_init_cpu(0);
}

void gdt_set_fault_cr3(uint32_t cr3) {
    for (int cpu = 0; cpu < SMP_MAX_CPUS; cpu++)
        tss_fault[cpu].cr3 = cr3;
}

void gdt_fault_stack(uintptr_t *lo, uintptr_t *hi) {
    gdt_fault_stack_cpu(0, lo, hi);
}

void gdt_fault_stack_cpu(int cpu, uintptr_t *lo, uintptr_t *hi) {
    *lo = (uintptr_t)fault_stack[cpu];
    *hi = (uintptr_t)(fault_stack[cpu] + FAULT_STACK_SIZE);
}
