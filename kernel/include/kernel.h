/*
 * Kernel-wide declarations: console output, panic, the exit path.
 * Implemented in kernel/core (printk.c, panic.c) and kernel/lib (string, printf).
 */
#ifndef CLLM_KERNEL_H
#define CLLM_KERNEL_H

#include <stdarg.h>
#include "types.h"

/* kernel/lib/string.c */
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
size_t strnlen(const char *s, size_t max);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);

/* kernel/lib/printf.c: %d %i %u %x %X %p %s %c %% with width, zero pad, 'l' and 'll'. */
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* kernel/core/printk.c: formatted output to every console (serial, VGA). */
void printk(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void console_write(const char *s, size_t n);

/* kernel/core/main.c */
extern const char cllm_version[];
extern const char cllm_build_id[];

#endif
