/*
 * smp.h: the application processors (kernel/core/smp.c) and the one primitive that
 * puts them to work, smp_run.
 *
 * Start-up: smp_init (kernel_main, once paging and the clock are on) asks the firmware
 * tables (acpi.h: the ACPI MADT, else the Intel MP table) for the local APIC ids,
 * copies the real-mode trampoline (boot/ap_start.s) to SMP_TRAMPOLINE_ADDR and starts
 * each processor in turn with INIT-SIPI-SIPI (lapic.h). The trampoline enters
 * protected mode with paging on (the boot CPU's CR3) and calls smp_ap_main on the
 * processor's own stack (SMP_AP_STACK_SIZE, with an unmapped guard page below it);
 * there each processor loads its own GDT and TSS (kernel/core/gdt.c), the shared IDT,
 * turns on the FPU/SSE exactly as the boot CPU did (kernel/core/cpu.c), reports in,
 * and waits for work. Without usable tables, or with cllm.smp=1, the kernel runs on
 * the boot CPU alone and says why on the log.
 *
 * Work-sharing model. The boot CPU (index 0) runs everything it ran before: the poll
 * loop, the network, HTTP and the scheduler. The other CPUs do nothing but wait in
 * smp_ap_main for smp_run:
 *
 *     smp_run(fn, arg)   runs fn(arg, cpu, n_cpus) once on every CPU (cpu = 0 is the
 *                        caller, 1..n_cpus-1 the others) and returns when every call
 *                        has returned. A caller splits its work by `cpu`, e.g. rows
 *                        [cpu * rows / n_cpus, (cpu + 1) * rows / n_cpus).
 *
 * Rules: only the boot CPU calls smp_run, never from an interrupt handler and never
 * from inside fn (no nesting); fn must not printk, allocate, or touch anything the poll
 * loop owns; fn runs with interrupts off on the other CPUs. Every CPU has the same FPU
 * and SSE settings, so a computation split by rows gives results bit-identical to one
 * CPU as long as each output element is computed whole by one CPU.
 *
 * Memory ordering. smp_run writes the job (fn, arg) and zeroes the done counter, then
 * bumps the generation counter with a release store; each waiting CPU spins (with
 * `pause`) on an acquire load of the generation, so it sees the job that goes with
 * the generation it read. Each CPU ends its share with a release increment of the done
 * counter; the caller spins on acquire loads until every other CPU has counted in, so
 * every store fn made on any CPU is visible to the caller when smp_run returns.
 * (x86 is TSO; the atomics also stop the compiler from moving loads and stores.)
 *
 * Idle CPUs: a CPU with no job spins for SMP_IDLE_SPIN_US, then halts (interrupts
 * stay off on every CPU but the boot CPU); smp_run wakes the sleepers with an NMI. The
 * sleeper counts itself in before its last look at the generation, smp_run bumps the
 * generation before it reads the count (both sequentially consistent), so one of
 * the two always sees the other. An NMI that lands after the sleeper's last look but
 * before its hlt is spent, so smp_run repeats the NMIs every 50 us while a CPU still
 * counts as asleep.
 *
 * Stopping: a panic on any CPU sends every other CPU an NMI (smp_stop_others); a CPU
 * that takes that NMI halts for good, so the report is the last thing printed.
 */
#ifndef CLLM_SMP_H
#define CLLM_SMP_H

#include "types.h"

#define SMP_MAX_CPUS 8                /* CPUs used at most, the boot CPU included */
#define SMP_AP_STACK_SIZE 65536       /* bytes of stack per application processor */
#define SMP_TRAMPOLINE_ADDR 0x7000u   /* real-mode entry page (SIPI vector 0x07) */
#define SMP_TRAMPOLINE_PARAMS 0x7F00u /* parameters for the trampoline, same page */
#define SMP_START_TIMEOUT_MS 1000     /* how long a started CPU has to report in */
#define SMP_IDLE_SPIN_US 2000         /* an idle CPU spins this long, then halts */

typedef void (*smp_fn)(void *arg, int cpu, int n_cpus);

#ifdef CLLM_HOST
/* Host builds of the portable code (kernel/llm tests and benchmarks), in
 * tests/host/port_host.c: the caller is CPU 0 and smp_host_threads(n) adds n - 1
 * worker threads as CPUs 1..n-1 (none by default: the caller alone, CPU 0 of 1), so
 * code written against smp_run runs unchanged and the same split can be measured on
 * the host. The rules above hold; smp_host_threads is called before any smp_run. */
void smp_run(smp_fn fn, void *arg);
int smp_cpu_count(void);
int smp_host_threads(int n); /* 0, or -1 if n is out of 1..SMP_MAX_CPUS or a thread fails */
#else
void smp_init(void);                /* find and start the other CPUs; log one line each */
void smp_run(smp_fn fn, void *arg); /* fn on every CPU; returns when all are done */
int smp_cpu_count(void);            /* CPUs working (1 before smp_init or without SMP) */
int smp_cpu_index(void);            /* this CPU's index, 0 = boot CPU */
unsigned smp_apic_id(int cpu);      /* local APIC id of CPU `cpu` */
uint64_t smp_busy_cycles(int cpu);  /* TSC cycles CPU `cpu` spent in smp_run jobs */
size_t smp_metrics_format(char *buf, size_t cap); /* /metrics lines: CPUs, busy cycles each */
#endif

/* For the panic path and the page tables. */
void smp_stop_others(void); /* NMI to every other started CPU */
bool smp_stopping(void);    /* true once smp_stop_others ran */
bool smp_nmi(void);         /* NMI handler hook: true if it was a wake (handled) */
bool smp_stack_bounds(uintptr_t addr, uintptr_t *lo, uintptr_t *hi); /* an AP stack holds addr */
uintptr_t smp_stack_guard(int cpu); /* the unmapped page below CPU cpu's stack (cpu >= 1) */

/* Self-tests (kernel/core/smp_test.c), listed in kernel/init/selftest.c. */
bool selftest_smp(char *detail, size_t n);
bool selftest_ap_fault(char *detail, size_t n);
bool selftest_ap_stack(char *detail, size_t n);
bool selftest_bench_smp(char *detail, size_t n);

/* Entered by the trampoline (boot/ap_start.s) on the new CPU's stack. */
void smp_ap_main(void) NORETURN;

#endif
