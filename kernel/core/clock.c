/*
 * The clock (clock.h): PIT channel 0 interrupts at PIT_HZ on IRQ0; with a TSC, the
 * TSC is counted against PIT channel 2 for TSC_CALIBRATE_MS at boot and clock_us
 * scales it, else clock_us counts PIT ticks plus the position inside the current
 * tick read from the PIT's counter. Every reading is clamped to the last one, so the
 * clock never runs backwards. Needs traps_init (IRQ0 handler) and cpu_init (TSC flag).
 * The wall clock is the CMOS RTC read once at boot (dev/rtc.c) plus clock_us.
 */
#include "clock.h"
#include "cpu.h"
#include "dev/rtc.h"
#include "kernel.h"
#include "param.h"
#include "trap.h"
#include "x86.h"

#define PIT_CH0 0x40
#define PIT_CH2 0x42
#define PIT_MODE 0x43
#define PIT_GATE 0x61 /* bit 0: channel 2 gate, bit 1: speaker, bit 5: OUT2 */
#define PIT_DIVISOR (PIT_INPUT_HZ / PIT_HZ)
#define US_PER_TICK (1000000u / PIT_HZ)
#define CALIBRATE_SPIN_MAX 50000000u /* polls of OUT2 before calibration gives up */
#define EFLAGS_IF (1u << 9)

static volatile uint64_t ticks;
static uint64_t tsc_hz, tsc_base;
static uint32_t tsc_us_mult; /* 2^32 * 1e6 / tsc_hz: microseconds per TSC cycle, fixed point */
static uint64_t last_us;
static uint64_t boot_unix; /* wall clock at clock_us() == 0, seconds; 0 = unknown */

static void clock_irq(void) {
    ticks++;
}

/* Count TSC cycles over TSC_CALIBRATE_MS using PIT channel 2 in one-shot mode. */
static uint64_t clock_calibrate_tsc(void) {
    uint32_t count = PIT_INPUT_HZ / 1000 * TSC_CALIBRATE_MS;
    outb(PIT_GATE, (inb(PIT_GATE) & ~0x03) | 0x01); /* gate on, speaker off */
    outb(PIT_MODE, 0xB0);                           /* channel 2, lo/hi byte, mode 0 */
    outb(PIT_CH2, (uint8_t)count);
    outb(PIT_CH2, (uint8_t)(count >> 8));
    uint64_t t0 = rdtsc();
    uint32_t spins = 0;
    while (!(inb(PIT_GATE) & 0x20)) {
        if (++spins == CALIBRATE_SPIN_MAX)
            return 0;
    }
    uint64_t t1 = rdtsc();
    return (t1 - t0) * 1000 / TSC_CALIBRATE_MS;
}

void clock_init(void) {
    outb(PIT_MODE, 0x34); /* channel 0, lo/hi byte, mode 2 (rate generator) */
    outb(PIT_CH0, (uint8_t)PIT_DIVISOR);
    outb(PIT_CH0, (uint8_t)(PIT_DIVISOR >> 8));
    irq_register(0, clock_irq);
    if (cpu_has_tsc())
        tsc_hz = clock_calibrate_tsc();
    if (tsc_hz > 1000000) {
        tsc_us_mult = (uint32_t)((1000000ull << 32) / tsc_hz);
        tsc_base = rdtsc();
        printk("cllm: clock: pit %u Hz, tsc %u kHz\n", PIT_HZ, (unsigned)(tsc_hz / 1000));
    } else {
        tsc_hz = 0;
        printk("cllm: clock: pit %u Hz, no tsc\n", PIT_HZ);
    }
    struct rtc_date d;
    if (rtc_read(&d)) {
        boot_unix = rtc_unix_seconds(&d) - clock_us() / 1000000u;
        printk("cllm: clock: rtc %04d-%02d-%02d %02d:%02d:%02d UTC\n", d.year, d.month, d.day,
               d.hour, d.minute, d.second);
    } else {
        printk("cllm: clock: no rtc, no wall clock\n");
    }
}

uint64_t clock_unix_s(void) {
    return boot_unix ? boot_unix + clock_us() / 1000000u : 0;
}

static uint64_t clock_pit_us(void) {
    uint32_t flags = read_eflags();
    cli();
    uint64_t t = ticks;
    outb(PIT_MODE, 0x00); /* latch channel 0 */
    uint32_t count = inb(PIT_CH0);
    count |= (uint32_t)inb(PIT_CH0) << 8;
    /* A tick that fired while interrupts were off is pending in the PIC, not counted. */
    outb(0x20, 0x0A);
    bool pending = inb(0x20) & 1;
    if (flags & EFLAGS_IF)
        sti();
    uint32_t into = count <= PIT_DIVISOR ? PIT_DIVISOR - count : 0;
    if (pending && into < PIT_DIVISOR / 2)
        t++;
    return t * US_PER_TICK + (uint64_t)into * 1000000u / PIT_INPUT_HZ;
}

uint64_t clock_us(void) {
    uint64_t us;
    if (tsc_hz) {
        uint64_t d = rdtsc() - tsc_base;
        us = (d >> 32) * tsc_us_mult + (((d & 0xFFFFFFFFu) * tsc_us_mult) >> 32);
    } else {
        us = clock_pit_us();
    }
    if (us < last_us)
        us = last_us;
    last_us = us;
    return us;
}

uint64_t clock_ms(void) {
    return clock_us() / 1000;
}

uint64_t clock_ticks(void) {
    uint32_t flags = read_eflags();
    cli();
    uint64_t t = ticks;
    if (flags & EFLAGS_IF)
        sti();
    return t;
}

uint64_t clock_tsc_hz(void) {
    return tsc_hz;
}

void clock_delay_us(uint64_t us) {
    uint64_t end = clock_us() + us;
    while (clock_us() < end)
        pause();
}
