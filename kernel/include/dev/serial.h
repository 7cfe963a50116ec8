/*
 * dev/serial.h: the two 16550 UARTs, polled (kernel/dev/serial.c).
 * COM1 (0x3F8) is the machine-readable log; printk writes there ('\n' -> "\r\n").
 * COM2 (0x2F8) is the data channel: raw bytes, no translation (console mode writes
 * the generated text there).
 */
#ifndef CLLM_DEV_SERIAL_H
#define CLLM_DEV_SERIAL_H

#include "types.h"

void serial_init(void); /* both ports, 115200 8N1 */
void serial_putc(char c);
void serial_write(const char *s, size_t n);
void serial_data_write(const void *buf, size_t n);
void serial_flush(void); /* wait until both transmitters are empty (before exit) */

#endif
