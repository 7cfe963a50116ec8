/*
 * port.h for host builds of the portable kernel code (tests, sanitizers, benchmarks):
 * malloc, the monotonic clock and stderr; and port_read_file for the harness mains.
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
