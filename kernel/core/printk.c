/*
 * printk: formatted kernel messages to every console: the serial log (COM1) and the
 * VGA text screen. Lines that the host parses carry the stable prefix "cllm: ".
 * Relies on kernel/lib/printf.c for formatting; safe to call before any other init.
 * log_level reads cllm.log (valid once cmdline_init has run; info before that).
 */
#include "cmdline.h"
#include "dev/serial.h"
#include "dev/vga.h"
#include "kernel.h"

#define PRINTK_BUF 512 /* longest message; longer ones are cut */

void console_write(const char *s, size_t n) {
    serial_write(s, n);
    vga_write(s, n);
}

void printk(const char *fmt, ...) {
    char buf[PRINTK_BUF];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(buf) - 1)
        n = sizeof(buf) - 1;
    console_write(buf, (size_t)n);
}

enum log_level log_level(void) {
    const char *v = cmdline_get("log");
    if (v && strcmp(v, "quiet") == 0)
        return LOG_QUIET;
    if (v && strcmp(v, "debug") == 0)
        return LOG_DEBUG;
    return LOG_INFO;
}
