/*
 * 16550 UARTs, polled transmit, 115200 8N1. COM1 (0x3F8) carries the kernel's
 * machine-readable log (printk, via kernel/core/printk.c); COM2 (0x2F8) is the data
 * channel that console mode (kernel/llm/console.c) writes generated text to, raw.
 * A port that is absent (line status reads 0xFF) is skipped, so writes never hang.
 */
#include "dev/serial.h"
#include "x86.h"

#define COM1 0x3F8
#define COM2 0x2F8
#define UART_LSR 5           /* line status register offset */
#define UART_LSR_THRE 0x20   /* transmit holding register empty */
#define UART_SPIN_MAX 100000 /* polls before giving up on a stuck transmitter */

static bool com1_present, com2_present;

static bool serial_init_port(uint16_t base) {
    outb(base + 1, 0x00); /* no interrupts */
    outb(base + 3, 0x80); /* DLAB on */
    outb(base + 0, 0x01); /* divisor 1: 115200 baud */
    outb(base + 1, 0x00);
    outb(base + 3, 0x03); /* 8N1, DLAB off */
    outb(base + 2, 0xC7); /* FIFO on, cleared, 14-byte threshold */
    outb(base + 4, 0x0B); /* DTR, RTS, OUT2 */
    return inb(base + UART_LSR) != 0xFF;
}

void serial_init(void) {
    com1_present = serial_init_port(COM1);
    com2_present = serial_init_port(COM2);
}

static void serial_put_port(uint16_t base, uint8_t c) {
    for (int spins = 0; spins < UART_SPIN_MAX && !(inb(base + UART_LSR) & UART_LSR_THRE); spins++)
        ;
    outb(base, c);
}

void serial_putc(char c) {
    if (com1_present)
        serial_put_port(COM1, (uint8_t)c);
}

void serial_write(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\n')
            serial_putc('\r');
        serial_putc(s[i]);
    }
}

void serial_data_write(const void *buf, size_t n) {
    const uint8_t *p = buf;
    if (!com2_present)
        return;
    for (size_t i = 0; i < n; i++)
        serial_put_port(COM2, p[i]);
}
