/*
 * port.h for the kernel: what kernel/llm, kernel/net and kernel/http may use from
 * their environment, mapped onto the heap, the clock and printk. The host side of the
 * same interface is tests/host/port_host.c.
 */
#include "port.h"
#include "clock.h"
#include "mm.h"
#include "x86.h"

#define PORT_ALLOC_ALIGN 16 /* bytes, what port.h promises */
#define PORT_LOG_MAX 384    /* longest log line, bytes */

void *port_alloc(size_t n) {
    return kmalloc_aligned(n, PORT_ALLOC_ALIGN);
}

void port_free(void *p) {
    kfree(p);
}

uint64_t port_time_us(void) {
    return clock_us();
}

/* The TSC where the clock calibrated one (clock_tsc_hz is 0 otherwise). */
uint64_t port_cycles(void) {
    return clock_tsc_hz() ? rdtsc() : clock_us();
}

uint64_t port_cycles_hz(void) {
    return clock_tsc_hz() ? clock_tsc_hz() : 1000000u;
}

uint64_t port_unix_time(void) {
    return clock_unix_s();
}

void port_log(const char *fmt, ...) {
    char line[PORT_LOG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    printk("cllm: %s\n", line);
}
