/*
 * The application processors: discovery, start-up and smp_run (smp.h, which also
 * documents the work-sharing model and its memory ordering). smp_init runs once on
 * the boot CPU from kernel_main after paging, traps and the clock are up; relies on
 * acpi.h for the processor list, lapic.h for the IPIs, boot/ap_start.s (linked as
 * data between smp_trampoline_start and smp_trampoline_end) for the real-mode entry.
 *
 * Processors are started one at a time: the trampoline's parameters (a flat GDT, CR3,
 * CR4, the stack top, the C entry point) live at one fixed address, and the next
 * processor is only sent its STARTUP IPI once the previous one has reported in.
 */
#include "smp.h"
#include "acpi.h"
#include "bootinfo.h"
#include "clock.h"
#include "cmdline.h"
#include "cpu.h"
#include "kernel.h"
#include "lapic.h"
#include "memlayout.h"
#include "mm.h"
#include "trap.h"
#include "x86.h"

#define INIT_DELAY_US 10000                 /* INIT to first STARTUP (Intel MP spec B.4) */
#define STARTUP_DELAY_US 200                /* between the two STARTUP IPIs */
#define IDLE_SPIN_POLLS 100000              /* idle polls before sleeping when there is no TSC */
#define WAKE_RETRY_US 50                    /* smp_run sends the wake NMIs again after this long */
#define WAKE_RETRY_POLLS 10000              /* the same without a TSC */
#define GDT_FLAT_CODE 0x00CF9A000000FFFFull /* base 0, limit 4 GiB, ring 0, code */
#define GDT_FLAT_DATA 0x00CF92000000FFFFull /* base 0, limit 4 GiB, ring 0, data */

/* What boot/ap_start.s reads at SMP_TRAMPOLINE_PARAMS (offsets fixed by that file). */
struct smp_params {
    uint16_t gdt_limit; /* 0x00: lgdt operand */
    uint32_t gdt_base;  /* 0x02 */
    uint16_t pad;       /* 0x06 */
    uint64_t gdt[3];    /* 0x08: null, code 0x08, data 0x10 */
    uint32_t cr3;       /* 0x20 */
    uint32_t cr4;       /* 0x24 */
    uint32_t esp;       /* 0x28: top of the processor's stack */
    uint32_t entry;     /* 0x2C: smp_ap_main */
} PACKED;

extern const uint8_t smp_trampoline_start[], smp_trampoline_end[];

/* Stacks of CPUs 1..SMP_MAX_CPUS-1, each one page of guard (unmapped by vm_init)
 * followed by the stack itself. */
static uint8_t ap_stacks[SMP_MAX_CPUS - 1][PAGE_SIZE + SMP_AP_STACK_SIZE]
    __attribute__((aligned(PAGE_SIZE)));

static int n_cpus = 1;                  /* CPUs that smp_run uses */
static int n_slots = 1;                 /* CPUs known to smp_cpu_index (includes one starting) */
static unsigned apic_ids[SMP_MAX_CPUS]; /* local APIC id of each CPU index */
static int starting_cpu;                /* index the starting processor takes */
static uint32_t started;                /* set by a processor that reached smp_ap_main */
static bool stopping;                   /* a panic has stopped the others */
static int stopper;                     /* the CPU that stopped them (it reports) */

/* The current job (smp_run); written by the boot CPU before it bumps job_generation. */
static smp_fn job_fn;
static void *job_arg;
static int job_n;
static uint32_t job_generation; /* bumped once per smp_run (release) */
static uint32_t job_done;       /* CPUs other than the caller that finished */
static uint64_t busy_cycles[SMP_MAX_CPUS];
static uint32_t n_sleeping;        /* CPUs halted in smp_ap_loop, waiting for a wake NMI */
static uint64_t idle_spin_cycles;  /* TSC cycles a CPU spins idle before it sleeps */
static uint64_t wake_retry_cycles; /* TSC cycles between two rounds of wake NMIs */

int smp_cpu_count(void) {
    return n_cpus;
}

unsigned smp_apic_id(int cpu) {
    return cpu >= 0 && cpu < n_slots ? apic_ids[cpu] : 0;
}

int smp_cpu_index(void) {
    int n = __atomic_load_n(&n_slots, __ATOMIC_ACQUIRE);
    if (n == 1)
        return 0;
    unsigned id = lapic_id();
    for (int i = 0; i < n; i++)
        if (apic_ids[i] == id)
            return i;
    return 0;
}

uintptr_t smp_stack_guard(int cpu) {
    return (uintptr_t)ap_stacks[cpu - 1];
}

bool smp_stack_bounds(uintptr_t addr, uintptr_t *lo, uintptr_t *hi) {
    for (int cpu = 1; cpu < SMP_MAX_CPUS; cpu++) {
        uintptr_t bottom = (uintptr_t)ap_stacks[cpu - 1] + PAGE_SIZE;
        if (addr >= bottom && addr < bottom + SMP_AP_STACK_SIZE) {
            *lo = bottom;
            *hi = bottom + SMP_AP_STACK_SIZE;
            return true;
        }
    }
    return false;
}

/* An NMI to every started CPU but this one. */
static void smp_nmi_others(void) {
    unsigned self = lapic_id();
    for (int cpu = 0; cpu < n_cpus; cpu++)
        if (apic_ids[cpu] != self)
            lapic_send_nmi(apic_ids[cpu]);
}

void smp_stop_others(void) {
    __atomic_store_n(&stopper, smp_cpu_index(), __ATOMIC_RELAXED);
    __atomic_store_n(&stopping, true, __ATOMIC_RELEASE);
    smp_nmi_others();
}

bool smp_stopping(void) {
    return __atomic_load_n(&stopping, __ATOMIC_ACQUIRE);
}

static uint64_t smp_now(void) {
    return cpu_has_tsc() ? rdtsc() : 0;
}

/* One share of a job, timed for the per-CPU busy counters. */
static void smp_do_job(smp_fn fn, void *arg, int cpu, int n) {
    uint64_t t0 = smp_now();
    fn(arg, cpu, n);
    /* Atomic: /metrics reads it from the boot CPU, and a 64-bit store could tear. */
    __atomic_store_n(&busy_cycles[cpu], busy_cycles[cpu] + (smp_now() - t0), __ATOMIC_RELAXED);
}

uint64_t smp_busy_cycles(int cpu) {
    return cpu >= 0 && cpu < SMP_MAX_CPUS ? __atomic_load_n(&busy_cycles[cpu], __ATOMIC_RELAXED)
                                          : 0;
}

size_t smp_metrics_format(char *buf, size_t cap) {
    size_t used = 0;
    int k =
        snprintf(buf, cap,
                 "# HELP cllm_cpus CPUs the kernel uses.\n# TYPE cllm_cpus gauge\ncllm_cpus %d\n"
                 "# HELP cllm_cpu_busy_cycles_total TSC cycles each CPU spent running "
                 "smp_run jobs.\n# TYPE cllm_cpu_busy_cycles_total counter\n",
                 n_cpus);
    for (int cpu = 0; k > 0 && (size_t)k < cap - used && cpu < n_cpus; cpu++) {
        used += (size_t)k;
        k = snprintf(buf + used, cap - used, "cllm_cpu_busy_cycles_total{cpu=\"%d\"} %llu\n", cpu,
                     (unsigned long long)__atomic_load_n(&busy_cycles[cpu], __ATOMIC_RELAXED));
    }
    if (k > 0 && (size_t)k < cap - used)
        used += (size_t)k;
    return used;
}

void smp_run(smp_fn fn, void *arg) {
    int n = n_cpus;
    if (n == 1) {
        smp_do_job(fn, arg, 0, 1);
        return;
    }
    job_fn = fn;
    job_arg = arg;
    job_n = n;
    __atomic_store_n(&job_done, 0, __ATOMIC_RELAXED);
    /* A CPU that sees the new generation also sees the job above. Sequentially
     * consistent with the sleepers' count: either a CPU going to sleep sees the new
     * generation, or this CPU sees it counted and wakes it. */
    __atomic_add_fetch(&job_generation, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&n_sleeping, __ATOMIC_SEQ_CST) != 0)
        smp_nmi_others();
    smp_do_job(fn, arg, 0, n);
    /* An NMI that lands after a sleeper's last look at the generation but before its
     * hlt is spent: while anyone still counts as asleep, wake them again now and then. */
    uint64_t last = smp_now();
    uint32_t polls = 0;
    while (__atomic_load_n(&job_done, __ATOMIC_ACQUIRE) != (uint32_t)(n - 1)) {
        bool retry =
            wake_retry_cycles ? smp_now() - last > wake_retry_cycles : ++polls > WAKE_RETRY_POLLS;
        if (retry && __atomic_load_n(&n_sleeping, __ATOMIC_SEQ_CST) != 0) {
            smp_nmi_others();
            last = smp_now();
            polls = 0;
        }
        pause();
    }
}

bool smp_nmi(void) {
    int me = smp_cpu_index();
    if (smp_stopping()) {
        /* The reporting CPU can still get a wake NMI sent just before the stop. */
        if (me == __atomic_load_n(&stopper, __ATOMIC_RELAXED))
            return true;
        for (;;) { /* another CPU is reporting a panic: stop here for good */
            cli();
            hlt();
        }
    }
    return me != 0; /* the boot CPU gets no wake NMIs: a real one */
}

/* Wait for the generation to move from `seen`: spin a while (jobs come in bursts, one
 * per matrix product), then halt until smp_run's wake NMI. */
static uint32_t smp_ap_wait(uint32_t seen) {
    uint64_t t0 = smp_now();
    uint32_t polls = 0, g;
    while ((g = __atomic_load_n(&job_generation, __ATOMIC_ACQUIRE)) == seen) {
        bool idle =
            idle_spin_cycles ? smp_now() - t0 > idle_spin_cycles : ++polls > IDLE_SPIN_POLLS;
        if (!idle) {
            pause();
            continue;
        }
        __atomic_add_fetch(&n_sleeping, 1, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(&job_generation, __ATOMIC_SEQ_CST) == seen)
            hlt(); /* interrupts are off: only an NMI wakes us */
        __atomic_sub_fetch(&n_sleeping, 1, __ATOMIC_SEQ_CST);
        t0 = smp_now();
        polls = 0;
    }
    return g;
}

/* The loop every application processor spends its life in. */
static NORETURN void smp_ap_loop(int cpu, uint32_t seen) {
    for (;;) {
        seen = smp_ap_wait(seen);
        smp_do_job(job_fn, job_arg, cpu, job_n);
        __atomic_add_fetch(&job_done, 1, __ATOMIC_RELEASE);
    }
}

void smp_ap_main(void) {
    int cpu = __atomic_load_n(&starting_cpu, __ATOMIC_ACQUIRE);
    gdt_init_cpu(cpu);
    traps_init_cpu();
    cpu_init_ap();
    /* Read the generation before reporting in: smp_run cannot run until we have. */
    uint32_t seen = __atomic_load_n(&job_generation, __ATOMIC_ACQUIRE);
    __atomic_store_n(&started, 1, __ATOMIC_RELEASE);
    smp_ap_loop(cpu, seen);
}

/* INIT-SIPI-SIPI to apic_id as CPU `cpu`; true once it reported in. */
static bool smp_start_ap(int cpu, unsigned apic_id) {
    struct smp_params *p = (struct smp_params *)(uintptr_t)SMP_TRAMPOLINE_PARAMS;
    p->gdt_limit = sizeof(p->gdt) - 1;
    p->gdt_base = (uint32_t)(uintptr_t)p->gdt;
    p->gdt[0] = 0;
    p->gdt[1] = GDT_FLAT_CODE;
    p->gdt[2] = GDT_FLAT_DATA;
    p->cr3 = read_cr3();
    p->cr4 = read_cr4();
    p->esp = (uint32_t)(uintptr_t)(ap_stacks[cpu - 1] + PAGE_SIZE + SMP_AP_STACK_SIZE);
    p->entry = (uint32_t)(uintptr_t)smp_ap_main;
    apic_ids[cpu] = apic_id;
    __atomic_store_n(&starting_cpu, cpu, __ATOMIC_RELAXED);
    __atomic_store_n(&started, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&n_slots, cpu + 1, __ATOMIC_RELEASE);

    bool sent = lapic_send_init(apic_id);
    clock_delay_us(INIT_DELAY_US);
    for (int i = 0; sent && i < 2; i++) {
        sent = lapic_send_startup(apic_id, SMP_TRAMPOLINE_ADDR >> PAGE_SHIFT);
        clock_delay_us(STARTUP_DELAY_US);
    }
    uint64_t t0 = clock_ms();
    while (sent && !__atomic_load_n(&started, __ATOMIC_ACQUIRE)) {
        if (clock_ms() - t0 > SMP_START_TIMEOUT_MS)
            break;
        pause();
    }
    if (__atomic_load_n(&started, __ATOMIC_ACQUIRE))
        return true;
    lapic_send_init(apic_id); /* back to waiting: it must not wake on stale parameters */
    __atomic_store_n(&n_slots, cpu, __ATOMIC_RELEASE);
    return false;
}

/* The processor list from the firmware, and the CPU limit from cllm.smp. */
static bool smp_discover(struct cpu_table *t) {
    const char *why_acpi = NULL, *why_mp = NULL;
    if (acpi_find_cpus(t, &why_acpi))
        return true;
    printk("cllm: smp: %s, trying the MP table\n", why_acpi);
    if (mptable_find_cpus(t, &why_mp))
        return true;
    printk("cllm: smp: %s: running on one CPU\n", why_mp);
    return false;
}

/* True if a boot module overlaps the trampoline page (a boot loader may put one low). */
static bool smp_page_has_module(void) {
    const struct bootinfo *bi = bootinfo_get();
    for (size_t i = 0; bi && i < bi->n_modules; i++) {
        const struct boot_module *m = &bi->modules[i];
        if (m->start < SMP_TRAMPOLINE_ADDR + PAGE_SIZE && SMP_TRAMPOLINE_ADDR < m->start + m->len)
            return true;
    }
    return false;
}

static bool smp_copy_trampoline(void) {
    size_t len = (size_t)(smp_trampoline_end - smp_trampoline_start);
    if (len == 0 || SMP_TRAMPOLINE_ADDR + len > SMP_TRAMPOLINE_PARAMS || smp_page_has_module() ||
        !vm_is_mapped(SMP_TRAMPOLINE_ADDR) || vm_is_uncached(SMP_TRAMPOLINE_ADDR)) {
        printk("cllm: smp: trampoline page 0x%x is not free RAM: running on one CPU\n",
               SMP_TRAMPOLINE_ADDR);
        return false;
    }
    memcpy((void *)(uintptr_t)SMP_TRAMPOLINE_ADDR, smp_trampoline_start, len);
    return true;
}

void smp_init(void) {
    uint32_t limit = SMP_MAX_CPUS;
    cmdline_get_u32("smp", &limit);
    apic_ids[0] = lapic_id();
    struct cpu_table t;
    if (!smp_discover(&t))
        goto single;
    if (!lapic_init(t.lapic_base)) {
        printk("cllm: smp: local APIC at 0x%08x is not mapped uncached: running on one CPU\n",
               (unsigned)t.lapic_base);
        goto single;
    }
    apic_ids[0] = lapic_id();
    idle_spin_cycles = clock_tsc_hz() / 1000000 * SMP_IDLE_SPIN_US;
    wake_retry_cycles = clock_tsc_hz() / 1000000 * WAKE_RETRY_US;
    printk("cllm: cpu 0: apic id %u started (boot CPU)\n", apic_ids[0]);
    if (limit > 1 && t.n > 1 && !smp_copy_trampoline())
        limit = 1;
    for (size_t i = 0; i < t.n && (uint32_t)n_cpus < limit; i++) {
        if (t.apic_id[i] == apic_ids[0])
            continue;
        if (smp_start_ap(n_cpus, t.apic_id[i])) {
            printk("cllm: cpu %d: apic id %u started\n", n_cpus, t.apic_id[i]);
            n_cpus++;
        } else {
            printk("cllm: smp: apic id %u did not start\n", t.apic_id[i]);
        }
    }
    printk("cllm: smp: %d of %u CPUs in use (%s%s)\n", n_cpus, (unsigned)t.n, t.source,
           (uint32_t)n_cpus == limit && limit < t.n ? ", limited by cllm.smp" : "");
    return;
single:
    printk("cllm: cpu 0: apic id %u started (boot CPU)\n", apic_ids[0]);
    printk("cllm: smp: 1 CPU in use\n");
}
