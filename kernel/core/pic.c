/*
 * The two 8259A interrupt controllers, remapped so IRQ 0-15 arrive on vectors
 * TRAP_IRQ_BASE..TRAP_IRQ_BASE+15 instead of colliding with CPU exceptions. All lines
 * start masked except the cascade; irq_register (kernel/core/trap.c) unmasks a line
 * once it has a handler.
 */
#include "trap.h"
#include "x86.h"

#define PIC1_CMD 0x20
#define PIC1_DATA 0x21
#define PIC2_CMD 0xA0
#define PIC2_DATA 0xA1
#define PIC_EOI 0x20
#define PIC_CASCADE_IRQ 2

void pic_init(void) {
    outb(PIC1_CMD, 0x11); /* ICW1: edge triggered, cascade, ICW4 follows */
    io_wait();
    outb(PIC2_CMD, 0x11);
    io_wait();
    outb(PIC1_DATA, TRAP_IRQ_BASE); /* ICW2: vector offsets */
    io_wait();
    outb(PIC2_DATA, TRAP_IRQ_BASE + 8);
    io_wait();
    outb(PIC1_DATA, 1u << PIC_CASCADE_IRQ); /* ICW3: slave on IRQ2 */
    io_wait();
    outb(PIC2_DATA, PIC_CASCADE_IRQ);
    io_wait();
    outb(PIC1_DATA, 0x01); /* ICW4: 8086 mode */
    io_wait();
    outb(PIC2_DATA, 0x01);
    io_wait();
    outb(PIC1_DATA, (uint8_t)~(1u << PIC_CASCADE_IRQ)); /* everything masked but the cascade */
    outb(PIC2_DATA, 0xFF);
}

void pic_unmask(unsigned irq) {
    uint16_t port = irq < 8 ? PIC1_DATA : PIC2_DATA;
    outb(port, inb(port) & (uint8_t)~(1u << (irq & 7)));
}

void pic_eoi(unsigned irq) {
    if (irq >= 8)
        outb(PIC2_CMD, PIC_EOI);
    outb(PIC1_CMD, PIC_EOI);
}

uint16_t pic_in_service(void) {
    outb(PIC1_CMD, 0x0B);
    outb(PIC2_CMD, 0x0B);
    return (uint16_t)(inb(PIC1_CMD) | (inb(PIC2_CMD) << 8));
}
