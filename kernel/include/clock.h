/*
 * clock.h: monotonic time since boot (kernel/core/clock.c). The PIT interrupts at
 * PIT_HZ (param.h) through the remapped PIC; when the CPU has a TSC it is calibrated
 * against the PIT at boot and gives microsecond resolution, otherwise the clock
 * counts PIT ticks. Both readers are safe with interrupts on or off.
 */
#ifndef CLLM_CLOCK_H
#define CLLM_CLOCK_H

#include "types.h"

void clock_init(void);            /* PIT + IRQ0 + TSC calibration; needs traps_init */
uint64_t clock_us(void);          /* microseconds since clock_init, never decreasing */
uint64_t clock_ms(void);          /* clock_us() / 1000 */
uint64_t clock_ticks(void);       /* PIT interrupts taken so far */
uint64_t clock_tsc_hz(void);      /* calibrated TSC rate, 0 without a TSC */
void clock_delay_us(uint64_t us); /* busy-wait */
uint64_t clock_unix_s(void);      /* seconds since 1970 UTC from the RTC; 0 without one */

#endif
