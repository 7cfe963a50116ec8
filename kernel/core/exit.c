/*
 * kernel_exit: the one way out. Under QEMU the isa-debug-exit device (configured
 * iobase=0xf4, iosize=0x04) turns a write of status s into the process exit code
 * (s << 1) | 1, so the host test sees 1 for success, 3 for failure, 5 for a panic.
 * On hardware the write goes nowhere and the CPU halts with interrupts off.
 */
#include "dev/serial.h"
#include "kernel.h"
#include "x86.h"

#define DEBUG_EXIT_PORT 0xF4

void kernel_exit(int status) {
    cli();
    serial_flush(); /* the last log line and data byte reach the host before QEMU exits */
    outb(DEBUG_EXIT_PORT, (uint8_t)status);
    for (;;)
        hlt();
}
