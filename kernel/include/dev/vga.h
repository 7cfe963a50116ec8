/*
 * dev/vga.h: the 80x25 colour text console at 0xB8000 (kernel/dev/vga.c), a mirror
 * of the serial log for a screen attached to real hardware.
 */
#ifndef CLLM_DEV_VGA_H
#define CLLM_DEV_VGA_H

#include "types.h"

void vga_init(void);
void vga_write(const char *s, size_t n);

/* The text of the row `back` rows above the cursor's row (0 = the cursor's row), trailing
 * blanks dropped, NUL-terminated in out[0..n); its length. For the vga self-test. */
size_t vga_read_row(unsigned back, char *out, size_t n);

#endif
