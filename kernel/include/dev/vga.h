/*
 * dev/vga.h: the 80x25 colour text console at 0xB8000 (kernel/dev/vga.c), a mirror
 * of the serial log for a screen attached to real hardware.
 */
#ifndef CLLM_DEV_VGA_H
#define CLLM_DEV_VGA_H

#include "types.h"

void vga_init(void);
void vga_write(const char *s, size_t n);

#endif
