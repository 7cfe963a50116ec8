/*
 * Every inline-assembly helper of the kernel: port I/O, control registers, CPUID,
 * interrupts, TSC. Nothing else in the kernel writes inline assembly.
 */
#ifndef CLLM_X86_H
#define CLLM_X86_H

#include "types.h"

static inline void outb(uint16_t port, uint8_t v) {
    __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outw(uint16_t port, uint16_t v) {
    __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outl(uint16_t port, uint32_t v) {
    __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port) {
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline uint16_t inw(uint16_t port) {
    uint16_t v;
    __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline uint32_t inl(uint16_t port) {
    uint32_t v;
    __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline void cli(void) {
    __asm__ volatile("cli" ::: "memory");
}
static inline void sti(void) {
    __asm__ volatile("sti" ::: "memory");
}
static inline void hlt(void) {
    __asm__ volatile("hlt" ::: "memory");
}
/* Enable interrupts and halt as one step: an interrupt cannot slip in between and
 * leave the CPU asleep until the next one. */
static inline void sti_hlt(void) {
    __asm__ volatile("sti; hlt" ::: "memory");
}
static inline void pause(void) {
    __asm__ volatile("pause" ::: "memory");
}

static inline void io_wait(void) {
    outb(0x80, 0);
} /* ~1 us: a write to the POST port */

static inline uint64_t rdtsc(void) {
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

static inline void cpuid(uint32_t leaf, uint32_t *a, uint32_t *b, uint32_t *c, uint32_t *d) {
    __asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(0));
}

static inline uint32_t read_eflags(void) {
    uint32_t v;
    __asm__ volatile("pushfl; popl %0" : "=r"(v));
    return v;
}

static inline void write_eflags(uint32_t v) {
    __asm__ volatile("pushl %0; popfl" : : "r"(v) : "memory", "cc");
}

static inline uint32_t read_cr0(void) {
    uint32_t v;
    __asm__ volatile("mov %%cr0, %0" : "=r"(v));
    return v;
}
static inline void write_cr0(uint32_t v) {
    __asm__ volatile("mov %0, %%cr0" : : "r"(v) : "memory");
}

static inline uint32_t read_cr2(void) {
    uint32_t v;
    __asm__ volatile("mov %%cr2, %0" : "=r"(v));
    return v;
}

static inline uint32_t read_cr3(void) {
    uint32_t v;
    __asm__ volatile("mov %%cr3, %0" : "=r"(v));
    return v;
}
static inline void write_cr3(uint32_t v) {
    __asm__ volatile("mov %0, %%cr3" : : "r"(v) : "memory");
}

static inline uint32_t read_cr4(void) {
    uint32_t v;
    __asm__ volatile("mov %%cr4, %0" : "=r"(v));
    return v;
}
static inline void write_cr4(uint32_t v) {
    __asm__ volatile("mov %0, %%cr4" : : "r"(v) : "memory");
}

/* Extended control register `reg` (XCR0: the state components XSAVE and AVX may
 * use); needs CR4.OSXSAVE. */
static inline uint64_t xgetbv(uint32_t reg) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(reg));
    return ((uint64_t)hi << 32) | lo;
}
static inline void xsetbv(uint32_t reg, uint64_t v) {
    __asm__ volatile("xsetbv" : : "c"(reg), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

static inline void invlpg(uintptr_t addr) {
    __asm__ volatile("invlpg (%0)" : : "r"(addr) : "memory");
}

static inline uint32_t read_ebp(void) {
    uint32_t v;
    __asm__ volatile("movl %%ebp, %0" : "=r"(v));
    return v;
}

static inline uint32_t read_esp(void) {
    uint32_t v;
    __asm__ volatile("movl %%esp, %0" : "=r"(v));
    return v;
}

/* The general registers as they are at the call site (for a software panic). */
struct x86_regs {
    uint32_t eax, ebx, ecx, edx, esi, edi, ebp, esp, eflags;
};

static inline void read_regs(struct x86_regs *r) {
    __asm__ volatile("movl %%eax, 0(%0)\n\t"
                     "movl %%ebx, 4(%0)\n\t"
                     "movl %%ecx, 8(%0)\n\t"
                     "movl %%edx, 12(%0)\n\t"
                     "movl %%esi, 16(%0)\n\t"
                     "movl %%edi, 20(%0)\n\t"
                     "movl %%ebp, 24(%0)\n\t"
                     "movl %%esp, 28(%0)\n\t"
                     :
                     : "r"(r)
                     : "memory");
    r->eflags = read_eflags();
}

struct x86_table_ptr {
    uint16_t limit;
    uint32_t base;
} PACKED;

static inline void lidt(const struct x86_table_ptr *p) {
    __asm__ volatile("lidt (%0)" : : "r"(p) : "memory");
}

/* Load the GDT and reload every segment register: CS through a far return. */
static inline void lgdt_reload(const struct x86_table_ptr *p, uint16_t code_sel,
                               uint16_t data_sel) {
    __asm__ volatile("lgdt (%0)\n\t"
                     "movw %w2, %%ax\n\t"
                     "movw %%ax, %%ds\n\t"
                     "movw %%ax, %%es\n\t"
                     "movw %%ax, %%fs\n\t"
                     "movw %%ax, %%gs\n\t"
                     "movw %%ax, %%ss\n\t"
                     "pushl %k1\n\t"
                     "pushl $1f\n\t"
                     "lret\n"
                     "1:\n\t"
                     :
                     : "r"(p), "r"((uint32_t)code_sel), "r"((uint32_t)data_sel)
                     : "eax", "memory");
}

static inline void ltr(uint16_t sel) {
    __asm__ volatile("ltr %0" : : "r"(sel));
}

/* Continue on a fresh stack: ESP = top, EBP = 0, call fn (which must not return). */
static inline NORETURN void switch_stack_call(uintptr_t top, void (*fn)(void)) {
    __asm__ volatile("movl %0, %%esp\n\t"
                     "xorl %%ebp, %%ebp\n\t"
                     "call *%1\n\t"
                     "ud2"
                     :
                     : "r"(top), "r"(fn)
                     : "memory");
    __builtin_unreachable();
}

static inline void fninit(void) {
    __asm__ volatile("fninit");
}

static inline void ud2(void) {
    __asm__ volatile("ud2");
}

#endif
