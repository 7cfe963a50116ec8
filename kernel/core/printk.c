/*
 * printk: formatted kernel messages to the serial console. Lines that the host
 * parses carry the stable prefix "cllm: ".
 */
#include "dev/serial.h"
#include "kernel.h"

void console_write(const char *s, size_t n) {
    serial_write(s, n);
}

void printk(const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(buf) - 1)
        n = sizeof(buf) - 1;
    console_write(buf, (size_t)n);
}
