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
#define UART_LSR 5         /* line status register offset */
#define UART_LSR_THRE 0x20 /* transmit holding register empty */
#define UART_LSR_TEMT 0x40 /* holding and shift registers both empty */
/* Polls before giving up on a transmitter that never drains. A real UART drains a byte
 * in ~87 us at 115200 baud; QEMU holds THRE clear while its host side (a pipe the host
 * reads) is full, which on a loaded host can take far longer than a byte time, and a
 * short wait there loses log bytes. After one such timeout the port counts as stuck
 * and later bytes wait only UART_SPIN_STUCK polls, so a dead port cannot stall boot. */
#define UART_SPIN_MAX 50000000
#define UART_SPIN_STUCK 1000

static bool com1_present, com2_present;
static bool com1_stuck, com2_stuck;

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

static void serial_put_port(uint16_t base, bool *stuck, uint8_t c) {
    int limit = *stuck ? UART_SPIN_STUCK : UART_SPIN_MAX;
    int spins = 0;
    while (!(inb(base + UART_LSR) & UART_LSR_THRE)) {
        if (++spins == limit) {
            *stuck = true;
            break;
        }
    }
    if (spins < limit)
        *stuck = false; /* drained in time: the port is alive again */
    outb(base, c);
}

void serial_putc(char c) {
    if (com1_present)
        serial_put_port(COM1, &com1_stuck, (uint8_t)c);
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
        serial_put_port(COM2, &com2_stuck, p[i]);
}

static void serial_drain_port(uint16_t base) {
    for (int spins = 0; spins < UART_SPIN_MAX && !(inb(base + UART_LSR) & UART_LSR_TEMT); spins++)
        ;
}

void serial_flush(void) {
    if (com1_present && !com1_stuck)
        serial_drain_port(COM1);
    if (com2_present && !com2_stuck)
        serial_drain_port(COM2);
}
