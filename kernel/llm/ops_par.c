/*
 * The one place the forward pass's work is split across CPUs (see ops.h,
 * ops_par_rows). The matrix products in ops.c hand it a row range and a function
 * that computes any part of it; it cuts the range into one static share per CPU and
 * runs the shares through smp_run (smp.h: the kernel's application processors, or
 * the host's worker threads), which returns when every share is done, so each
 * operation ends with a barrier. Every output element is computed whole by one CPU
 * with the same kernels, so the result is bit-identical to one CPU. forward.c splits
 * attention by heads the same way.
 */
#include "llm/ops.h"
#include "param.h"
#include "smp.h"

/* Shares of a long range start on a multiple of this many rows, so that two CPUs
 * never write the same 64-byte line of a float output (16 floats); a range shorter
 * than OPS_PAR_ALIGN_MIN rows (attention heads) is cut row by row. */
#define OPS_PAR_ALIGN 16
#define OPS_PAR_ALIGN_MIN 128

/* param.h's threshold as a value (a build may set it to 0 to split everything). */
static const uint64_t ops_par_min_work = OPS_PAR_MIN_WORK;

struct ops_par_job {
    ops_par_fn fn;
    void *arg;
    int rows;
};

/* CPU `cpu` of n_cpus takes its share of [0, rows). */
static void ops_par_share(void *a, int cpu, int n_cpus) {
    const struct ops_par_job *j = a;
    int align = j->rows >= OPS_PAR_ALIGN_MIN ? OPS_PAR_ALIGN : 1;
    int units = (j->rows + align - 1) / align;
    int r0 = (int)((long long)units * cpu / n_cpus) * align;
    int r1 = (int)((long long)units * (cpu + 1) / n_cpus) * align;
    r1 = MIN(r1, j->rows);
    if (r0 < r1)
        j->fn(j->arg, r0, r1);
}

void ops_par_rows(ops_par_fn fn, void *arg, int rows, uint64_t work) {
    if (rows < 2 || work < ops_par_min_work || smp_cpu_count() < 2) {
        fn(arg, 0, rows);
        return;
    }
    struct ops_par_job j = {fn, arg, rows};
    smp_run(ops_par_share, &j);
}
