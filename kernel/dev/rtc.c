/*
 * CMOS real-time clock (MC146818-compatible): index port 0x70, data port 0x71.
 * The time registers are read twice between updates until two reads agree, then
 * decoded from BCD unless status B says binary, and from 12-hour form unless it
 * says 24-hour. QEMU's RTC holds UTC; so does a PC set up the usual Linux way.
 */
#include "dev/rtc.h"
#include "kernel.h"
#include "x86.h"

#define CMOS_INDEX 0x70
#define CMOS_DATA 0x71
#define CMOS_NMI_OFF 0x80 /* index bit 7: keep NMIs masked while we read */
#define RTC_SECONDS 0x00
#define RTC_MINUTES 0x02
#define RTC_HOURS 0x04
#define RTC_DAY 0x07
#define RTC_MONTH 0x08
#define RTC_YEAR 0x09
#define RTC_STATUS_A 0x0A
#define RTC_STATUS_B 0x0B
#define RTC_CENTURY 0x32    /* where PC BIOSes (and QEMU) keep the century */
#define RTC_A_UPDATING 0x80 /* status A: an update is in progress */
#define RTC_B_24H 0x02      /* status B: hours in 24-hour form */
#define RTC_B_BINARY 0x04   /* status B: values in binary, not BCD */
#define RTC_HOUR_PM 0x80    /* 12-hour form: the PM flag in the hours register */
#define RTC_TRIES 16        /* read pairs before giving up on a clock that never settles */
#define RTC_WAIT_MAX 100000 /* polls of the update flag (an update takes < 2 ms) */

static uint8_t cmos_read(uint8_t reg) {
    outb(CMOS_INDEX, CMOS_NMI_OFF | reg);
    return inb(CMOS_DATA);
}

static const uint8_t rtc_regs[7] = {RTC_SECONDS, RTC_MINUTES, RTC_HOURS,  RTC_DAY,
                                    RTC_MONTH,   RTC_YEAR,    RTC_CENTURY};

static bool rtc_snapshot(uint8_t v[7]) {
    for (int i = 0; i < RTC_WAIT_MAX; i++)
        if (!(cmos_read(RTC_STATUS_A) & RTC_A_UPDATING)) {
            for (int r = 0; r < 7; r++)
                v[r] = cmos_read(rtc_regs[r]);
            return true;
        }
    return false;
}

static int rtc_decode(uint8_t v, bool binary) {
    return binary ? v : (v >> 4) * 10 + (v & 15);
}

static bool rtc_leap(int y) {
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int rtc_month_days(int y, int m) {
    static const uint8_t days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return days[m - 1] + (m == 2 && rtc_leap(y));
}

bool rtc_read(struct rtc_date *d) {
    uint8_t a[7], b[7];
    int tries = 0;
    do {
        if (!rtc_snapshot(a) || !rtc_snapshot(b) || ++tries > RTC_TRIES)
            return false;
    } while (memcmp(a, b, sizeof a) != 0);
    uint8_t status = cmos_read(RTC_STATUS_B);
    if (status == 0xFF && a[0] == 0xFF)
        return false; /* no RTC: the bus floats */
    bool binary = status & RTC_B_BINARY;
    int hour = rtc_decode(a[2] & (uint8_t)~RTC_HOUR_PM, binary);
    if (!(status & RTC_B_24H)) {
        hour %= 12; /* 12 AM is 0 */
        if (a[2] & RTC_HOUR_PM)
            hour += 12;
    }
    int century = rtc_decode(a[6], binary);
    d->second = rtc_decode(a[0], binary);
    d->minute = rtc_decode(a[1], binary);
    d->hour = hour;
    d->day = rtc_decode(a[3], binary);
    d->month = rtc_decode(a[4], binary);
    d->year = (century >= 19 && century <= 99 ? century : 20) * 100 + rtc_decode(a[5], binary);
    return d->year >= 1970 && d->month >= 1 && d->month <= 12 && d->day >= 1 &&
           d->day <= rtc_month_days(d->year, d->month) && d->hour < 24 && d->minute < 60 &&
           d->second < 60;
}

uint64_t rtc_unix_seconds(const struct rtc_date *d) {
    uint64_t days = 0;
    for (int y = 1970; y < d->year; y++)
        days += 365 + rtc_leap(y);
    for (int m = 1; m < d->month; m++)
        days += (uint64_t)rtc_month_days(d->year, m);
    days += (uint64_t)(d->day - 1);
    return ((days * 24 + (uint64_t)d->hour) * 60 + (uint64_t)d->minute) * 60 + (uint64_t)d->second;
}
