/*
 * The one place the forward pass's work is split across CPUs (see ops.h,
 * ops_par_rows). The matrix products in ops.c hand it a row range and a function
 * that computes any part of it; it runs the range on every CPU through smp_run
 * (smp.h: the kernel's application processors, or the host's worker threads), which
 * returns when every CPU is done, so each operation ends with a barrier. Every
 * output element is computed whole by one CPU with the same kernels, so the result
 * is bit-identical to one CPU. forward.c splits attention by heads the same way.
 *
 * The range is handed out in chunks from a shared counter, each CPU taking the next
 * chunk when it finishes one, rather than cut into one fixed share per CPU: a CPU
 * that starts late or runs slower (a guest CPU the host has not scheduled yet, a
 * core shared with other work) then takes fewer chunks instead of holding up the
 * barrier. Which CPU computes a row does not change its value.
 *
 * It also keeps the batch profile (ops.h, ops_prof_mark): the boot CPU's cycles in a
 * batched pass by phase, and for each phase the part spent in split operations, the
 * boot CPU's own work within it, the other CPUs' work and how late they started.
 */
#include "llm/ops.h"
#include "param.h"
#include "port.h"
#include "smp.h"

/* Chunks of a long range start on a multiple of this many rows, so that two CPUs
 * never write the same 64-byte line of a float output (16 floats); a range shorter
 * than OPS_PAR_ALIGN_MIN rows (attention heads) goes out a row or a group (ops_par_groups) at
 * a time. */
#define OPS_PAR_ALIGN 16
#define OPS_PAR_ALIGN_MIN 128
/* A long range goes out in about this many chunks per CPU: enough that the last
 * chunks even out a late or slow CPU, few enough that taking one (an atomic add on a
 * line every CPU shares) stays negligible next to computing it. */
#define OPS_PAR_CHUNKS_PER_CPU 32

/* param.h's threshold as a value (a build may set it to 0 to split everything). */
static const uint64_t ops_par_min_work = OPS_PAR_MIN_WORK;

struct ops_par_job {
    ops_par_fn fn;
    void *arg;
    int rows, chunk;  /* chunk: rows handed out at a time (a multiple of the alignment) */
    int next;         /* first row not yet handed out; taken with an atomic add */
    uint64_t t_start; /* port_cycles() when the boot CPU handed the job out */
};

/* Cycles of split operations since boot, as the profile counts them. Only the boot
 * CPU writes the totals; CPU c writes only ap_*[c], read by the boot CPU after the
 * barrier (smp_run makes every CPU's stores visible to it). */
static struct {
    uint64_t jobs;                   /* split operations */
    uint64_t cycles;                 /* the boot CPU inside them, barrier included */
    uint64_t own;                    /* the boot CPU computing its chunks */
    uint64_t ap_busy[SMP_MAX_CPUS];  /* CPU c computing its chunks */
    uint64_t ap_delay[SMP_MAX_CPUS]; /* hand-out to CPU c's start */
} ops_par_count;

/* CPU `cpu` takes chunks of [0, rows) until none are left. */
static void ops_par_share(void *a, int cpu, int n_cpus) {
    UNUSED(n_cpus);
    struct ops_par_job *j = a;
    uint64_t t0 = port_cycles();
    for (;;) {
        int r0 = __atomic_fetch_add(&j->next, j->chunk, __ATOMIC_RELAXED);
        if (r0 >= j->rows)
            break;
        j->fn(j->arg, r0, MIN(r0 + j->chunk, j->rows));
    }
    uint64_t t = port_cycles() - t0;
    if (cpu == 0) {
        ops_par_count.own += t;
    } else if (cpu < SMP_MAX_CPUS) {
        ops_par_count.ap_busy[cpu] += t;
        ops_par_count.ap_delay[cpu] += t0 > j->t_start ? t0 - j->t_start : 0;
    }
}

void ops_par_rows(ops_par_fn fn, void *arg, int rows, uint64_t work) {
    ops_par_groups(fn, arg, rows, work, 1);
}

void ops_par_groups(ops_par_fn fn, void *arg, int rows, uint64_t work, int group) {
    int n = smp_cpu_count();
    int chunk = 1;
    if (group > 1) {
        int groups = MAX(rows / group, 1), parts = groups >= n ? 1 : (n + groups - 1) / groups;
        chunk = MAX(group / parts, 1);
    }
    if (rows <= chunk || work < ops_par_min_work || n < 2) {
        fn(arg, 0, rows);
        return;
    }
    if (rows >= OPS_PAR_ALIGN_MIN) {
        chunk = rows / (n * OPS_PAR_CHUNKS_PER_CPU) / OPS_PAR_ALIGN * OPS_PAR_ALIGN;
        chunk = MAX(chunk, OPS_PAR_ALIGN);
    }
    struct ops_par_job j = {fn, arg, rows, chunk, 0, port_cycles()};
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
