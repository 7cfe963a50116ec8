/*
 * The GDT: flat 4 GiB ring-0 code and data segments, plus two TSSs so a double
 * fault (typically a stack overflow into the guard page, where the CPU cannot push
 * an exception frame) switches to a fresh task with its own stack and still prints
 * the panic report. The main task's TSS receives the faulting context on the switch;
 * the double-fault handler reads it from there. Called first in traps setup.
 */
#include "kernel.h"
#include "trap.h"
#include "x86.h"

#define GDT_CODE GDT_KERNEL_CODE
#define GDT_DATA 0x10
#define GDT_TSS_MAIN 0x18
#define GDT_TSS_FAULT GDT_FAULT_TSS
#define FAULT_STACK_SIZE 8192 /* bytes; the double-fault handler's stack */

struct tss {
    uint32_t link, esp0, ss0, esp1, ss1, esp2, ss2, cr3, eip, eflags;
    uint32_t eax, ecx, edx, ebx, esp, ebp, esi, edi;
    uint32_t es, cs, ss, ds, fs, gs, ldt;
    uint16_t trap, iomap_base;
} PACKED;

static uint64_t gdt[5];
static struct tss tss_main, tss_fault;
static uint8_t fault_stack[FAULT_STACK_SIZE] __attribute__((aligned(16)));

/* Base, limit (20 bits), access byte, flags nibble (granularity, size). */
static uint64_t gdt_entry(uint32_t base, uint32_t limit, uint8_t access, uint8_t flags) {
    return (uint64_t)(limit & 0xFFFF) | (uint64_t)(base & 0xFFFFFF) << 16 | (uint64_t)access << 40 |
           (uint64_t)((limit >> 16) & 0xF) << 48 | (uint64_t)(flags & 0xF) << 52 |
           (uint64_t)(base >> 24) << 56;
}

/* Entered by the task switch of a double fault, on fault_stack, with the CPU-pushed
 * error code on top of the stack. */
static void __attribute__((used, noreturn)) gdt_double_fault_task(void) {
    struct trap_frame f = {
        .edi = tss_main.edi,
        .esi = tss_main.esi,
        .ebp = tss_main.ebp,
        .esp_at_pusha = tss_main.esp,
        .ebx = tss_main.ebx,
        .edx = tss_main.edx,
        .ecx = tss_main.ecx,
        .eax = tss_main.eax,
        .vector = 8,
        .err = 0,
        .eip = tss_main.eip,
        .cs = tss_main.cs,
        .eflags = tss_main.eflags,
    };
    panic_from_trap(&f, read_cr2());
}

void gdt_init(void) {
    gdt[0] = 0;
    gdt[GDT_CODE / 8] = gdt_entry(0, 0xFFFFF, 0x9A, 0xC); /* present, ring 0, code, 4 KiB gran */
    gdt[GDT_DATA / 8] = gdt_entry(0, 0xFFFFF, 0x92, 0xC); /* present, ring 0, data, writable */
    gdt[GDT_TSS_MAIN / 8] = gdt_entry((uint32_t)&tss_main, sizeof(struct tss) - 1, 0x89, 0);
    gdt[GDT_TSS_FAULT / 8] = gdt_entry((uint32_t)&tss_fault, sizeof(struct tss) - 1, 0x89, 0);

    tss_main.iomap_base = sizeof(struct tss);
    tss_fault.iomap_base = sizeof(struct tss);
    tss_fault.eip = (uint32_t)(uintptr_t)gdt_double_fault_task;
    /* Leave room for the error code the CPU pushes; keep 16-byte alignment. */
    tss_fault.esp = (uint32_t)(uintptr_t)(fault_stack + FAULT_STACK_SIZE - 16);
    tss_fault.eflags = 0x2; /* interrupts off */
    tss_fault.cs = GDT_CODE;
    tss_fault.ds = tss_fault.es = tss_fault.fs = tss_fault.gs = tss_fault.ss = GDT_DATA;
    tss_fault.cr3 = read_cr3();

    struct x86_table_ptr ptr = {sizeof(gdt) - 1, (uint32_t)(uintptr_t)gdt};
    lgdt_reload(&ptr, GDT_CODE, GDT_DATA);
    ltr(GDT_TSS_MAIN);
}

void gdt_set_fault_cr3(uint32_t cr3) {
    tss_fault.cr3 = cr3;
}

void gdt_fault_stack(uintptr_t *lo, uintptr_t *hi) {
    *lo = (uintptr_t)fault_stack;
    *hi = (uintptr_t)(fault_stack + FAULT_STACK_SIZE);
}
