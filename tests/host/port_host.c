/*
 * port.h for host builds of the portable kernel code (tests, sanitizers, benchmarks):
 * malloc, the monotonic clock and stderr.
 */
#define _POSIX_C_SOURCE 200809L
#include <time.h>

#include "port.h"

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

void port_log(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("cllm: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}
