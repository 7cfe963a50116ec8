/*
 * Self-tests of the SMP layer, run through kernel/init/selftest.c's table:
 *   smp       (part of "all") every CPU takes part in smp_run, a float computation split
 *             by rows across the CPUs is bit-identical to the same computation on the
 *             boot CPU alone, and 200 back-to-back jobs, and 40 more after 1-4 ms of idle
 *             (CPUs asleep and woken), lose no CPU's share;
 *   ap_fault  (on request) the last CPU reads page 0, so the host can check that the
 *             panic report names that CPU;
 *   bench_smp (on request) the cost of one empty smp_run (the barrier) and the speed-up
 *             of the row computation over one CPU;
 *   ap_stack  (on request) the last CPU overflows its stack into its guard page: a
 *             double fault, handled by that CPU's own double-fault task.
 */
#include "clock.h"
#include "kernel.h"
#include "smp.h"

#define SMP_TEST_ROWS 96     /* output rows, split across the CPUs */
#define SMP_TEST_STEPS 200   /* float steps per row */
#define SMP_TEST_ROUNDS 200  /* back-to-back jobs in the barrier check */
#define SMP_TEST_WAKES 40    /* jobs sent after 1-4 ms idle: around the sleep threshold */
#define SMP_BENCH_CALLS 2000 /* empty jobs timed by bench_smp */
#define SMP_BENCH_REPEAT 20  /* row computations timed by bench_smp, each way */

struct smp_test_job {
    float out[SMP_TEST_ROWS];   /* (rows) */
    uint32_t ran[SMP_MAX_CPUS]; /* (cpus) shares run by each CPU */
    uint32_t total;             /* shares run, all CPUs (atomic) */
};

/* A row's value depends on rounding at every step, so a CPU with other FPU
 * settings (precision, rounding mode) would give different bits. */
static void smp_test_rows(void *arg, int cpu, int n_cpus) {
    struct smp_test_job *job = arg;
    int lo = cpu * SMP_TEST_ROWS / n_cpus, hi = (cpu + 1) * SMP_TEST_ROWS / n_cpus;
    for (int r = lo; r < hi; r++) {
        float x = 1.0f + (float)r / 7.0f, acc = 0.0f;
        for (int s = 0; s < SMP_TEST_STEPS; s++) {
            x = x * 1.0009765625f + 0.1f / (float)(s + 1);
            acc += x / (1.0f + acc * 0.001f);
        }
        job->out[r] = acc;
    }
    job->ran[cpu]++;
    __atomic_add_fetch(&job->total, 1, __ATOMIC_RELAXED);
}

static void smp_test_count(void *arg, int cpu, int n_cpus) {
    struct smp_test_job *job = arg;
    (void)n_cpus;
    job->ran[cpu]++;
    __atomic_add_fetch(&job->total, 1, __ATOMIC_RELAXED);
}

bool selftest_smp(char *detail, size_t n) {
    static struct smp_test_job split, one;
    int cpus = smp_cpu_count();
    memset(&split, 0, sizeof(split));
    memset(&one, 0, sizeof(one));
    smp_run(smp_test_rows, &split);
    smp_test_rows(&one, 0, 1);
    for (int c = 0; c < cpus; c++) {
        if (split.ran[c] != 1) {
            snprintf(detail, n, "cpu %d ran %u shares of one job", c, split.ran[c]);
            return false;
        }
    }
    if (memcmp(split.out, one.out, sizeof(one.out)) != 0) {
        snprintf(detail, n, "split result differs from one CPU");
        return false;
    }
    memset(&split, 0, sizeof(split));
    for (int i = 0; i < SMP_TEST_ROUNDS; i++)
        smp_run(smp_test_count, &split);
    if (split.total != (uint32_t)(SMP_TEST_ROUNDS * cpus)) {
        snprintf(detail, n, "%u shares in %d jobs on %d CPUs", split.total, SMP_TEST_ROUNDS, cpus);
        return false;
    }
    /* Idle CPUs halt after SMP_IDLE_SPIN_US; each job must still reach all of them. */
    memset(&split, 0, sizeof(split));
    for (int i = 0; i < SMP_TEST_WAKES; i++) {
        clock_delay_us((uint64_t)SMP_IDLE_SPIN_US * (uint64_t)(i % 4 + 1) / 2);
        smp_run(smp_test_count, &split);
    }
    if (split.total != (uint32_t)(SMP_TEST_WAKES * cpus)) {
        snprintf(detail, n, "%u shares in %d jobs after idle on %d CPUs", split.total,
                 SMP_TEST_WAKES, cpus);
        return false;
    }
    snprintf(detail, n, "cpus=%d rows=%d identical to one CPU, %d jobs, %d after idle", cpus,
             SMP_TEST_ROWS, SMP_TEST_ROUNDS, SMP_TEST_WAKES);
    return true;
}

static void smp_test_nothing(void *arg, int cpu, int n_cpus) {
    (void)arg, (void)cpu, (void)n_cpus;
}

bool selftest_bench_smp(char *detail, size_t n) {
    static struct smp_test_job job;
    uint64_t t0 = clock_us();
    for (int i = 0; i < SMP_BENCH_CALLS; i++)
        smp_run(smp_test_nothing, NULL);
    uint64_t t1 = clock_us();
    for (int i = 0; i < SMP_BENCH_REPEAT; i++)
        smp_test_rows(&job, 0, 1);
    uint64_t t2 = clock_us();
    for (int i = 0; i < SMP_BENCH_REPEAT; i++)
        smp_run(smp_test_rows, &job);
    uint64_t t3 = clock_us();
    uint64_t one = t2 - t1, all = t3 - t2 ? t3 - t2 : 1;
    printk("cllm: bench smp: cpus %d barrier %u ns rows one-cpu %u us all-cpus %u us "
           "speedup %u.%02u\n",
           smp_cpu_count(), (unsigned)((t1 - t0) * 1000 / SMP_BENCH_CALLS), (unsigned)one,
           (unsigned)all, (unsigned)(one / all), (unsigned)(one * 100 / all % 100));
    snprintf(detail, n, "cpus=%d", smp_cpu_count());
    return true;
}

static void smp_test_fault(void *arg, int cpu, int n_cpus) {
    (void)arg;
    if (cpu == n_cpus - 1 && cpu != 0)
        (void)*(volatile uint32_t *)0; /* page 0 is never mapped */
}

bool selftest_ap_fault(char *detail, size_t n) {
    if (smp_cpu_count() < 2) {
        snprintf(detail, n, "needs a second CPU (have %d)", smp_cpu_count());
        return false;
    }
    printk("cllm: selftest ap_fault: cpu %d reads address 0\n", smp_cpu_count() - 1);
    smp_run(smp_test_fault, NULL);
    snprintf(detail, n, "no page fault on cpu %d", smp_cpu_count() - 1);
    return false;
}

/* Each frame holds a 1 KiB buffer the compiler cannot drop; `stop` is never reached. */
static uint32_t smp_test_deep(uint32_t level, const volatile uint32_t *stop) {
    volatile uint32_t frame[256];
    frame[level & 255] = level;
    return level == *stop ? 0 : smp_test_deep(level + 1, stop) + frame[level & 255];
}

static void smp_test_overflow(void *arg, int cpu, int n_cpus) {
    if (cpu == n_cpus - 1 && cpu != 0)
        (void)smp_test_deep(0, arg);
}

bool selftest_ap_stack(char *detail, size_t n) {
    static volatile uint32_t never = 0xFFFFFFFFu;
    if (smp_cpu_count() < 2) {
        snprintf(detail, n, "needs a second CPU (have %d)", smp_cpu_count());
        return false;
    }
    printk("cllm: selftest ap_stack: cpu %d recurses into its guard page\n", smp_cpu_count() - 1);
    smp_run(smp_test_overflow, (void *)&never);
    snprintf(detail, n, "no stack overflow on cpu %d", smp_cpu_count() - 1);
    return false;
}
