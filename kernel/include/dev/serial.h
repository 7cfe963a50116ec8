/* 16550 UART on COM1, polled. See kernel/dev/serial.c. */
#ifndef CLLM_DEV_SERIAL_H
#define CLLM_DEV_SERIAL_H

#include "types.h"

void serial_init(void);
void serial_putc(char c);
void serial_write(const char *s, size_t n);

#endif
