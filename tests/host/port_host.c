/*
 * port.h for host builds of the portable kernel code (tests, sanitizers, benchmarks):
 * malloc, the monotonic clock and stderr; port_read_file for the harness mains; and
 * smp.h's smp_run on worker threads (smp_host_threads), so the host build splits the
 * forward pass the way the kernel does on its CPUs.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "port.h"
#include "smp.h"

void *port_alloc(size_t n) {
    void *p = NULL;
    if (posix_memalign(&p, 16, n ? n : 1) != 0)
        return NULL;
    return p;
}

void port_free(void *p) {
    free(p);
}

uint64_t port_time_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Nanoseconds of the monotonic clock stand in for the kernel's TSC cycles. */
uint64_t port_cycles(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t port_cycles_hz(void) {
    return 1000000000u;
}

uint64_t port_unix_time(void) {
    return (uint64_t)time(NULL);
}

void port_log(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("cllm: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

uint8_t *port_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = port_alloc(n > 0 ? (size_t)n : 1);
    if (buf && n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        port_free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = n > 0 ? (size_t)n : 0;
    return buf;
}

/* Polls of the job counter a worker makes before it sleeps on the condition
 * variable: long enough to span the gap between two matrix products of a forward
 * pass (so a job starts without a system call), short enough that an idle harness
 * leaves the CPUs alone. */
#define HOST_SMP_SPINS 200000

/* Every this many polls a waiting thread (worker or caller) yields its core: on a
 * machine with more runnable threads than cores, the thread it waits for may be
 * the one that needs it. */
#define HOST_SMP_YIELD_EVERY 256

/* The job and its counters, as in the kernel (smp.h, memory ordering): the caller
 * writes fn and arg and zeroes done, then bumps gen (release, under the lock, so a
 * sleeping worker cannot miss it); each worker counts itself into done (release)
 * and the caller waits (acquire) until all have. */
static struct {
    int n_cpus;
    smp_fn fn;
    void *arg;
    atomic_uint gen;
    atomic_int done;
    pthread_mutex_t lock;
    pthread_cond_t wake;
} host_smp = {.n_cpus = 1, .lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

/* One poll's wait: a pause, and a yield every HOST_SMP_YIELD_EVERY polls. */
static void host_smp_pause(unsigned poll) {
    if (poll % HOST_SMP_YIELD_EVERY == HOST_SMP_YIELD_EVERY - 1) {
        sched_yield();
        return;
    }
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void *host_smp_worker(void *a) {
    int cpu = (int)(intptr_t)a;
    unsigned seen = 0;
    for (;;) {
        unsigned g = atomic_load_explicit(&host_smp.gen, memory_order_acquire);
        for (unsigned spins = 0; g == seen && spins < HOST_SMP_SPINS; spins++) {
            host_smp_pause(spins);
            g = atomic_load_explicit(&host_smp.gen, memory_order_acquire);
        }
        if (g == seen) {
            pthread_mutex_lock(&host_smp.lock);
            while ((g = atomic_load_explicit(&host_smp.gen, memory_order_acquire)) == seen)
                pthread_cond_wait(&host_smp.wake, &host_smp.lock);
            pthread_mutex_unlock(&host_smp.lock);
        }
        seen = g;
        host_smp.fn(host_smp.arg, cpu, host_smp.n_cpus);
        atomic_fetch_add_explicit(&host_smp.done, 1, memory_order_release);
    }
    return NULL;
}

int smp_host_threads(int n) {
    if (n < 1 || n > SMP_MAX_CPUS || host_smp.n_cpus != 1)
        return -1;
    for (int cpu = 1; cpu < n; cpu++) {
        pthread_t t;
        if (pthread_create(&t, NULL, host_smp_worker, (void *)(intptr_t)cpu) != 0)
            return -1; /* the workers started so far wait for a job that never comes */
        pthread_detach(t);
    }
    host_smp.n_cpus = n;
    return 0;
}

int smp_cpu_count(void) {
    return host_smp.n_cpus;
}

void smp_run(smp_fn fn, void *arg) {
    int others = host_smp.n_cpus - 1;
    if (others > 0) {
        host_smp.fn = fn;
        host_smp.arg = arg;
        atomic_store_explicit(&host_smp.done, 0, memory_order_relaxed);
        pthread_mutex_lock(&host_smp.lock);
        atomic_fetch_add_explicit(&host_smp.gen, 1, memory_order_release);
        pthread_cond_broadcast(&host_smp.wake);
        pthread_mutex_unlock(&host_smp.lock);
    }
    fn(arg, 0, host_smp.n_cpus);
    for (unsigned poll = 0; atomic_load_explicit(&host_smp.done, memory_order_acquire) < others;
         poll++)
        host_smp_pause(poll);
}
