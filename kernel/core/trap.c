/*
 * The IDT and trap dispatch. Vectors 0-31 (CPU exceptions) all end in the panic
 * report (kernel/core/panic.c); vector 8 (double fault) is a task gate into its own
 * task (kernel/core/gdt.c) so it works even when the stack is gone. Vectors 32-47 are
 * the remapped PIC lines, dispatched to handlers registered with irq_register. Relies
 * on the entry stubs of kernel/core/trapentry.c. Every CPU loads the same IDT; NMIs
 * go to smp_nmi first: one a panicking CPU sent (smp_stop_others) halts the CPU that
 * takes it, one smp_run sent wakes an idle CPU.
 */
#include "trap.h"
#include "kernel.h"
#include "smp.h"
#include "x86.h"

#define IDT_ENTRIES 48
#define IDT_INTERRUPT_GATE 0x8E /* present, ring 0, 32-bit interrupt gate (IF cleared) */
#define IDT_TASK_GATE 0x85      /* present, ring 0, task gate */
#define IRQ_COUNT 16
#define VECTOR_NMI 2
#define VECTOR_DOUBLE_FAULT 8

extern const uint32_t trap_entry_table[IDT_ENTRIES];

static uint64_t idt[IDT_ENTRIES];
static struct x86_table_ptr idt_ptr;
static irq_handler_fn irq_handlers[IRQ_COUNT];
static uint32_t irq_spurious;

static uint64_t idt_gate(uint32_t offset, uint16_t selector, uint8_t type) {
    return (uint64_t)(offset & 0xFFFF) | (uint64_t)selector << 16 | (uint64_t)type << 40 |
           (uint64_t)(offset >> 16) << 48;
}

void traps_init(void) {
    for (int v = 0; v < IDT_ENTRIES; v++)
        idt[v] = idt_gate(trap_entry_table[v], GDT_KERNEL_CODE, IDT_INTERRUPT_GATE);
    idt[VECTOR_DOUBLE_FAULT] = idt_gate(0, GDT_FAULT_TSS, IDT_TASK_GATE);
    idt_ptr.limit = sizeof(idt) - 1;
    idt_ptr.base = (uint32_t)(uintptr_t)idt;
    lidt(&idt_ptr);
    pic_init();
}

void traps_init_cpu(void) {
    lidt(&idt_ptr);
}

void irq_register(unsigned irq, irq_handler_fn fn) {
    if (irq >= IRQ_COUNT)
        panic("irq_register: irq %u out of range", irq);
    irq_handlers[irq] = fn;
    pic_unmask(irq);
}

void trap_dispatch(struct trap_frame *f) {
    if (f->vector == VECTOR_NMI && smp_nmi())
        return; /* a wake-up from smp_run (a panic elsewhere never returns) */
    if (f->vector < TRAP_IRQ_BASE)
        panic_trap(f, read_cr2());
    unsigned irq = f->vector - TRAP_IRQ_BASE;
    /* A line that drops before the CPU acknowledges it shows up as IRQ 7 or 15 with
     * nothing in service; it gets no EOI (the master still needs one for IRQ 15). */
    if ((irq == 7 || irq == 15) && !(pic_in_service() & (1u << irq))) {
        irq_spurious++;
        if (irq == 15)
            pic_eoi(0);
        return;
    }
    if (irq_handlers[irq])
        irq_handlers[irq]();
    pic_eoi(irq);
}
