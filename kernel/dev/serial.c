/*
 * 16550 UART on COM1 (0x3F8): 115200 8N1, polled transmit. The serial log is the
 * kernel's machine-readable channel to the host (cllm_build/qemu.py reads it).
 */
#include "dev/serial.h"
#include "x86.h"

#define COM1 0x3F8

static bool serial_present;

void serial_init(void) {
    outb(COM1 + 1, 0x00); /* no interrupts */
    outb(COM1 + 3, 0x80); /* DLAB on */
    outb(COM1 + 0, 0x01); /* divisor 1: 115200 baud */
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x03); /* 8N1, DLAB off */
    outb(COM1 + 2, 0xC7); /* FIFO on, cleared, 14-byte threshold */
    outb(COM1 + 4, 0x0B); /* DTR, RTS, OUT2 */
    /* A missing UART reads back 0xFF from the line status register. */
    serial_present = inb(COM1 + 5) != 0xFF;
}

void serial_putc(char c) {
    if (!serial_present)
        return;
    for (int spins = 0; spins < 100000 && !(inb(COM1 + 5) & 0x20); spins++)
        ;
    outb(COM1, (uint8_t)c);
}

void serial_write(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\n')
            serial_putc('\r');
        serial_putc(s[i]);
    }
}
