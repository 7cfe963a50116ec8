/*
 * smp_run on host worker threads (tests/host/port_host.c, smp_host_threads): the
 * count is checked, every CPU runs each job once with its own index, the caller sees
 * every worker's stores when smp_run returns, and ops_par_rows (kernel/llm/ops_par.c)
 * covers a range exactly once, split or not, in chunks of a long range that start on
 * 16-row boundaries, and the batch profile (ops_prof_mark)
 * charges its split operations to the phase they ran in. Built by
 * tests/test_llm_threads.py.
 * Prints "smp_threads: all passed".
 */
#include <stdio.h>
#include <string.h>

#include "host_expect.h"
#include "llm/ops.h"
#include "smp.h"

#define THREADS 4
#define JOBS 2000
#define ROWS 1000

struct job {
    int ran[SMP_MAX_CPUS]; /* (n_cpus) calls per CPU */
    int seen_n;            /* n_cpus as every call saw it, or -1 if they differed */
    int value[SMP_MAX_CPUS];
};

static void count(void *arg, int cpu, int n_cpus) {
    struct job *j = arg;
    j->ran[cpu]++;
    j->value[cpu] = cpu * 7 + 1;
    if (j->seen_n != n_cpus)
        j->seen_n = -1;
}

static int cover[ROWS]; /* times each row was visited */

static int misaligned; /* chunks of a long range that started off a 16-row boundary */

static void visit(void *arg, int r0, int r1) {
    if (r0 % 16 && *(const int *)arg >= 128)
        __atomic_add_fetch(&misaligned, 1, __ATOMIC_RELAXED);
    for (int r = r0; r < r1; r++)
        cover[r]++;
}

static void check_cover(int rows, uint64_t work, const char *what) {
    for (int r = 0; r < ROWS; r++)
        cover[r] = 0;
    misaligned = 0;
    ops_par_rows(visit, &rows, rows, work);
    for (int r = 0; r < ROWS; r++)
        EXPECT(cover[r] == (r < rows), "%s: row %d of %d visited %d times", what, r, rows,
               cover[r]);
    EXPECT(misaligned == 0, "%s: %d chunks start inside a 16-row line", what, misaligned);
}

/* Two split operations marked as matrix products, one unsplit as a norm: the profile
 * counts the split ones, their time on the boot CPU and on the others, and names
 * the phases it saw. */
static void check_profile(void) {
    struct ops_prof_phase before[OPS_PROF_COUNT], after[OPS_PROF_COUNT];
    ops_prof_get(before);
    ops_prof_mark(OPS_PROF_NONE);
    check_cover(ROWS, 1u << 30, "profiled");
    check_cover(ROWS, 1u << 30, "profiled");
    ops_prof_mark(OPS_PROF_MATMUL);
    check_cover(ROWS, 10, "profiled small work");
    ops_prof_mark(OPS_PROF_NORM);
    ops_prof_get(after);
    const struct ops_prof_phase *mm = &after[OPS_PROF_MATMUL], *mm0 = &before[OPS_PROF_MATMUL];
    const struct ops_prof_phase *nm = &after[OPS_PROF_NORM], *nm0 = &before[OPS_PROF_NORM];
    EXPECT(mm->jobs - mm0->jobs == 2, "matmul phase: %llu split operations",
           (unsigned long long)(mm->jobs - mm0->jobs));
    EXPECT(mm->par - mm0->par >= mm->own - mm0->own, "own shares longer than the operations");
    EXPECT(mm->cycles - mm0->cycles >= mm->par - mm0->par, "operations longer than the phase");
    EXPECT(mm->ap_busy > mm0->ap_busy, "no time on the other CPUs");
    EXPECT(nm->jobs == nm0->jobs && nm->cycles > nm0->cycles, "norm phase: %llu jobs",
           (unsigned long long)(nm->jobs - nm0->jobs));
    char line[1024];
    ops_prof_format(line, sizeof line);
    EXPECT(strstr(line, "matmul ") && strstr(line, "split") && strstr(line, "norm "),
           "profile line: %s", line);
    char tiny[8];
    ops_prof_format(tiny, sizeof tiny);
    EXPECT(strlen(tiny) < sizeof tiny, "profile line overran its buffer");
}

int main(void) {
    EXPECT(smp_host_threads(0) == -1, "0 threads accepted");
    EXPECT(smp_host_threads(SMP_MAX_CPUS + 1) == -1, "%d threads accepted", SMP_MAX_CPUS + 1);
    EXPECT(smp_cpu_count() == 1, "cpus %d before any thread", smp_cpu_count());
    check_cover(ROWS, 1u << 30, "one CPU");
    EXPECT(smp_host_threads(THREADS) == 0, "4 threads refused");
    EXPECT(smp_host_threads(2) == -1, "threads started twice");
    EXPECT(smp_cpu_count() == THREADS, "cpus %d", smp_cpu_count());
    for (int i = 0; i < JOBS; i++) {
        struct job j = {{0}, THREADS, {0}};
        smp_run(count, &j);
        for (int c = 0; c < THREADS; c++) {
            EXPECT(j.ran[c] == 1, "job %d: cpu %d ran %d times", i, c, j.ran[c]);
            EXPECT(j.value[c] == c * 7 + 1, "job %d: cpu %d's store not seen", i, c);
        }
        EXPECT(j.seen_n == THREADS, "job %d: n_cpus differed", i);
        if (failures)
            break;
    }
    check_cover(ROWS, 1u << 30, "split");
    check_cover(37, 1u << 30, "37 rows");
    check_cover(3, 1u << 30, "3 rows");
    check_cover(ROWS, 10, "small work");
    check_profile();
    if (failures) {
        printf("smp_threads: %d failures\n", failures);
        return 1;
    }
    printf("smp_threads: all passed\n");
    return 0;
}
