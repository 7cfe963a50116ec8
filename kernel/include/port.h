/*
 * port.h: what the hardware-free subsystems (kernel/llm, kernel/net, kernel/http)
 * may use from their environment, so the same sources build in the kernel and on
 * the host (tests, sanitizers, benchmarks).
 *
 * Build on the host with -DCLLM_HOST; the kernel build leaves it undefined.
 *   memory:  port_alloc(n) (16-byte aligned, NULL on failure), port_free(p)
 *   text:    memcpy memset memcmp strlen strcmp strncmp snprintf vsnprintf
 *   math:    expf logf sqrtf powf sinf cosf fabsf tanhf floorf (float, C99 names)
 *   time:    port_time_us() monotonic microseconds; port_unix_time() wall clock
 *            seconds since 1970 UTC, 0 when there is none; port_cycles() a
 *            monotonic cycle count of the calling CPU, port_cycles_hz() per second
 *            (the kernel: the TSC where calibrated, else microseconds; the host:
 *            nanoseconds of its monotonic clock)
 *   log:     port_log(fmt, ...) one status line, prefixed "cllm: " in the kernel
 *   errors:  port_fail(err, errlen, fmt, ...) formats a message into err, returns -1
 */
#ifndef CLLM_PORT_H
#define CLLM_PORT_H

#include "types.h"
#include <stdarg.h>

#ifdef CLLM_HOST
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#else
#include "kernel.h"
#include "kmath.h"
#endif

void *port_alloc(size_t n);
void port_free(void *p);
#ifndef CLLM_HOST
/* In the kernel a block is charged to the subsystem of the source file that asks for
 * it (kernel/core/port.c maps paths to heap tags), so memory can be told by owner. */
void *port_alloc_from(size_t n, const char *file);
#define port_alloc(n) port_alloc_from((n), __FILE__)
#endif
uint64_t port_time_us(void);
uint64_t port_unix_time(void);
uint64_t port_cycles(void);
uint64_t port_cycles_hz(void);
void port_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#ifdef CLLM_HOST
/* Host builds only (tests/host/port_host.c): a whole file in port_alloc'd memory,
 * NULL if it cannot be read; *len is its size. */
uint8_t *port_read_file(const char *path, size_t *len);
#endif

/* The error path of every parser here: format the message into err (if err and
 * errlen leave room) and return -1, so a caller can write `return port_fail(...)`. */
static inline int port_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static inline int port_fail(char *err, size_t errlen, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

#endif
