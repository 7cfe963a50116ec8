/*
 * The one place the forward pass's work is split across CPUs (see ops.h,
 * ops_par_rows). The matrix products in ops.c hand it a row range and a function
 * that computes any part of it; it cuts the range into one static share per CPU and
 * runs the shares through smp_run (smp.h: the kernel's application processors, or
 * the host's worker threads), which returns when every share is done, so each
 * operation ends with a barrier. Every output element is computed whole by one CPU
 * with the same kernels, so the result is bit-identical to one CPU. forward.c splits
 * attention by heads the same way.
 *
 * It also keeps the batch profile (ops.h, ops_prof_mark): the boot CPU's cycles in a
 * batched pass by phase, and for each phase the part spent in split operations, the
 * boot CPU's own shares within it, the other CPUs' shares and how late they started.
 */
#include "llm/ops.h"
#include "param.h"
#include "port.h"
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
    uint64_t t_start; /* port_cycles() when the boot CPU handed the job out */
};

/* Cycles of split operations since boot, as the profile counts them. Only the boot
 * CPU writes the totals; CPU c writes only ap_*[c], read by the boot CPU after the
 * barrier (smp_run makes every share's stores visible to it). */
static struct {
    uint64_t jobs;                   /* split operations */
    uint64_t cycles;                 /* the boot CPU inside them, barrier included */
    uint64_t own;                    /* the boot CPU's own shares */
    uint64_t ap_busy[SMP_MAX_CPUS];  /* CPU c's shares */
    uint64_t ap_delay[SMP_MAX_CPUS]; /* hand-out to the start of CPU c's share */
} ops_par_count;

/* CPU `cpu` of n_cpus takes its share of [0, rows). */
static void ops_par_share(void *a, int cpu, int n_cpus) {
    const struct ops_par_job *j = a;
    uint64_t t0 = port_cycles();
    int align = j->rows >= OPS_PAR_ALIGN_MIN ? OPS_PAR_ALIGN : 1;
    int units = (j->rows + align - 1) / align;
    int r0 = (int)((long long)units * cpu / n_cpus) * align;
    int r1 = (int)((long long)units * (cpu + 1) / n_cpus) * align;
    r1 = MIN(r1, j->rows);
    if (r0 < r1)
        j->fn(j->arg, r0, r1);
    uint64_t t = port_cycles() - t0;
    if (cpu == 0) {
        ops_par_count.own += t;
    } else if (cpu < SMP_MAX_CPUS) {
        ops_par_count.ap_busy[cpu] += t;
        ops_par_count.ap_delay[cpu] += t0 > j->t_start ? t0 - j->t_start : 0;
    }
}

void ops_par_rows(ops_par_fn fn, void *arg, int rows, uint64_t work) {
    if (rows < 2 || work < ops_par_min_work || smp_cpu_count() < 2) {
        fn(arg, 0, rows);
        return;
    }
    struct ops_par_job j = {fn, arg, rows, port_cycles()};
    smp_run(ops_par_share, &j);
    ops_par_count.jobs++;
    ops_par_count.cycles += port_cycles() - j.t_start;
}

/* The batch profile: totals by phase, and the counters as they stood at the last mark. */
static struct ops_prof_phase ops_prof[OPS_PROF_COUNT];
static struct ops_prof_phase ops_prof_last;
static uint64_t ops_prof_t;

/* The split-operation counters now, in the shape of one phase's row (cycles: now). */
static struct ops_prof_phase ops_prof_now(void) {
    struct ops_prof_phase p = {
        port_cycles(), ops_par_count.jobs, ops_par_count.cycles, ops_par_count.own, 0, 0};
    for (int c = 1; c < SMP_MAX_CPUS; c++) {
        p.ap_busy += ops_par_count.ap_busy[c];
        p.ap_delay += ops_par_count.ap_delay[c];
    }
    return p;
}

void ops_prof_mark(enum ops_prof_id phase) {
    struct ops_prof_phase now = ops_prof_now();
    if (phase > OPS_PROF_NONE && phase < OPS_PROF_COUNT) {
        struct ops_prof_phase *p = &ops_prof[phase];
        p->cycles += now.cycles - ops_prof_t;
        p->jobs += now.jobs - ops_prof_last.jobs;
        p->par += now.par - ops_prof_last.par;
        p->own += now.own - ops_prof_last.own;
        p->ap_busy += now.ap_busy - ops_prof_last.ap_busy;
        p->ap_delay += now.ap_delay - ops_prof_last.ap_delay;
    }
    ops_prof_t = now.cycles;
    ops_prof_last = now;
}

void ops_prof_get(struct ops_prof_phase out[OPS_PROF_COUNT]) {
    memcpy(out, ops_prof, sizeof(ops_prof));
}

static const char *const ops_prof_names[OPS_PROF_COUNT] = {
    [OPS_PROF_EMBED] = "embed",
    [OPS_PROF_NORM] = "norm",
    [OPS_PROF_MATMUL] = "matmul",
    [OPS_PROF_ROPE] = "rope",
    [OPS_PROF_ATTENTION] = "attention",
    [OPS_PROF_RESIDUAL] = "residual",
    [OPS_PROF_GLU] = "glu",
    [OPS_PROF_LOGITS] = "logits",
};

/* Cycles as "M.T" milliseconds (tenths), without floating point formatting. */
static void ops_prof_ms(char *buf, size_t cap, uint64_t cycles) {
    uint64_t hz = port_cycles_hz(), tenths = hz ? cycles * 10000 / hz : 0;
    snprintf(buf, cap, "%llu.%llu", (unsigned long long)(tenths / 10),
             (unsigned long long)(tenths % 10));
}

void ops_prof_format(char *buf, size_t cap) {
    size_t used = 0;
    if (cap)
        buf[0] = 0;
    for (int i = OPS_PROF_NONE + 1; i < OPS_PROF_COUNT && used < cap; i++) {
        const struct ops_prof_phase *p = &ops_prof[i];
        char t[24], par[24], own[24], busy[24], delay[24];
        ops_prof_ms(t, sizeof t, p->cycles);
        int k;
        if (p->jobs) {
            ops_prof_ms(par, sizeof par, p->par);
            ops_prof_ms(own, sizeof own, p->own);
            ops_prof_ms(busy, sizeof busy, p->ap_busy);
            ops_prof_ms(delay, sizeof delay, p->ap_delay);
            k = snprintf(buf + used, cap - used,
                         "%s%s %s ms (%llu split %s: own %s, others %s, start delay %s)",
                         used ? ", " : "", ops_prof_names[i], t, (unsigned long long)p->jobs, par,
                         own, busy, delay);
        } else {
            k = snprintf(buf + used, cap - used, "%s%s %s ms", used ? ", " : "", ops_prof_names[i],
                         t);
        }
        if (k < 0)
            break;
        used += (size_t)k;
    }
}
