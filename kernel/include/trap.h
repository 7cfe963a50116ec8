/*
 * trap.h: the IDT, CPU exceptions and hardware interrupts (kernel/core/trap.c,
 * kernel/core/trapentry.c, kernel/core/pic.c). Every exception 0-31 ends in the
 * panic report; IRQs 0-15 are remapped to vectors 32-47 and dispatched to the
 * handler registered for them.
 */
#ifndef CLLM_TRAP_H
#define CLLM_TRAP_H

#include "types.h"

#define TRAP_IRQ_BASE 32 /* vector of IRQ0 after the PIC remap */

/* What the entry stubs push, lowest address first (the order of pushal, then the
 * vector and error code, then what the CPU pushed). Ring 0 only: no ESP/SS. */
struct trap_frame {
    uint32_t edi, esi, ebp, esp_at_pusha, ebx, edx, ecx, eax;
    uint32_t vector, err;
    uint32_t eip, cs, eflags;
};

void gdt_init(void);
void traps_init(void);                    /* IDT with all 48 gates, PIC remapped and masked */
void traps_init_cpu(void);                /* load the shared IDT on another CPU */
void trap_dispatch(struct trap_frame *f); /* called by the entry stubs */

typedef void (*irq_handler_fn)(void);
void irq_register(unsigned irq, irq_handler_fn fn); /* also unmasks the line */

/* kernel/core/pic.c */
void pic_init(void);
void pic_unmask(unsigned irq);
void pic_eoi(unsigned irq);
uint16_t pic_in_service(void); /* in-service bits, IRQ n = bit n */

/* kernel/core/gdt.c */
#define GDT_KERNEL_CODE 0x08          /* flat ring-0 code selector */
#define GDT_FAULT_TSS 0x20            /* the double-fault task, for the task gate on vector 8 */
void gdt_set_fault_cr3(uint32_t cr3); /* page directory of the double-fault task */
void gdt_fault_stack(uintptr_t *lo, uintptr_t *hi); /* bounds of the double-fault stack */
void gdt_init_cpu(int cpu);                         /* this CPU's GDT and TSS (gdt_init: cpu 0) */
void gdt_fault_stack_cpu(int cpu, uintptr_t *lo, uintptr_t *hi); /* same, CPU cpu */

/* kernel/core/panic.c: the report for a trap frame (exceptions). panic_trap first
 * moves to the panic stack, so it works however little of the boot stack is left. */
void panic_from_trap(const struct trap_frame *f, uint32_t cr2) NORETURN;
void panic_trap(const struct trap_frame *f, uint32_t cr2) NORETURN;

#endif
