/*
 * rtc.h: the PC's CMOS real-time clock (kernel/dev/rtc.c), read once at boot by
 * clock_init to give the API a wall clock (the `created` field of its answers).
 */
#ifndef CLLM_DEV_RTC_H
#define CLLM_DEV_RTC_H

#include "types.h"

struct rtc_date {
    int year, month, day, hour, minute, second; /* UTC, as the RTC holds it */
};

/* Read the RTC. false when there is none (every register reads 0xFF), it never
 * settles, or it holds an impossible date. */
bool rtc_read(struct rtc_date *d);

/* Seconds since 1970-01-01 00:00:00 UTC of a valid date (year >= 1970). */
uint64_t rtc_unix_seconds(const struct rtc_date *d);

#endif
