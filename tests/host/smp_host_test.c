/*
 * Host build of code written against smp_run (kernel/include/smp.h with CLLM_HOST):
 * the job runs once, on the caller, as CPU 0 of 1. Built by tests/test_smp_host.py.
 * Prints "smp_host: all passed".
 */
#include <stdio.h>

#include "host_expect.h"
#include "smp.h"

#define ROWS 10

struct job {
    int out[ROWS]; /* (rows) */
    int calls;
};

static void fill(void *arg, int cpu, int n_cpus) {
    struct job *j = arg;
    for (int r = cpu * ROWS / n_cpus; r < (cpu + 1) * ROWS / n_cpus; r++)
        j->out[r] = r * r;
    j->calls++;
}

int main(void) {
    struct job j = {{0}, 0};
    smp_run(fill, &j);
    EXPECT(j.calls == 1 && smp_cpu_count() == 1, "calls %d, cpus %d", j.calls, smp_cpu_count());
    for (int r = 0; r < ROWS; r++)
        EXPECT(j.out[r] == r * r, "row %d is %d", r, j.out[r]);
    if (failures) {
        printf("smp_host: %d failures\n", failures);
        return 1;
    }
    printf("smp_host: all passed\n");
    return 0;
}
