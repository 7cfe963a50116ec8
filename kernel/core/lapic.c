/*
 * The local APIC in xAPIC mode (lapic.h): 32-bit registers, 16-byte spaced, in the
 * 4 KiB page at the base the firmware tables give. smp_init uses it to start the
 * other CPUs (INIT, then two STARTUP IPIs, the sequence of the Intel MP
 * specification, appendix B.4); the panic path uses it to stop them (NMI).
 *
 * Registers used (offsets): 0x20 id (bits 31-24), 0x300 ICR low (bits 7-0 vector,
 * 10-8 delivery mode, 12 delivery status, 14 level, 15 trigger, 19-18 shorthand),
 * 0x310 ICR high (bits 31-24 destination). Writing ICR low sends the IPI.
 */
#include "lapic.h"
#include "clock.h"
#include "cpu.h"
#include "kernel.h"
#include "mm.h"
#include "x86.h"

#define LAPIC_ID 0x20
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define ICR_INIT (5u << 8)
#define ICR_STARTUP (6u << 8)
#define ICR_NMI (4u << 8)
#define ICR_PENDING (1u << 12)
#define ICR_ASSERT (1u << 14)
#define ICR_LEVEL (1u << 15)
#define ICR_WAIT_US 10000      /* delivery normally takes well under a microsecond */
#define ICR_IDLE_POLLS 1000000 /* polls for a free ICR before an NMI is sent anyway */

static volatile uint32_t *lapic;

static uint32_t lapic_read(unsigned reg) {
    return lapic[reg / 4];
}

static void lapic_write(unsigned reg, uint32_t v) {
    lapic[reg / 4] = v;
}

bool lapic_init(uint32_t base) {
    if (!vm_is_mapped(base) || !vm_is_uncached(base))
        return false;
    lapic = (volatile uint32_t *)(uintptr_t)base;
    return true;
}

bool lapic_present(void) {
    return lapic != NULL;
}

unsigned lapic_id(void) {
    if (lapic)
        return lapic_read(LAPIC_ID) >> 24;
    if (!cpu_has_cpuid())
        return 0;
    uint32_t a, b, c, d;
    cpuid(1, &a, &b, &c, &d);
    return b >> 24; /* the initial APIC id */
}

/* Send one IPI; true once the APIC says it was delivered. */
static bool lapic_ipi(unsigned apic_id, uint32_t lo) {
    lapic_write(LAPIC_ICR_HI, (uint32_t)apic_id << 24);
    lapic_write(LAPIC_ICR_LO, lo);
    uint64_t start = clock_us();
    while (lapic_read(LAPIC_ICR_LO) & ICR_PENDING) {
        if (clock_us() - start > ICR_WAIT_US)
            return false;
        pause();
    }
    return true;
}

bool lapic_send_init(unsigned apic_id) {
    if (!lapic_ipi(apic_id, ICR_INIT | ICR_LEVEL | ICR_ASSERT))
        return false;
    clock_delay_us(200);
    return lapic_ipi(apic_id, ICR_INIT | ICR_LEVEL); /* de-assert (needed by 82489DX) */
}

bool lapic_send_startup(unsigned apic_id, unsigned vector) {
    return lapic_ipi(apic_id, ICR_STARTUP | (vector & 0xFFu));
}

/* Bounded by polls, not the clock: this also runs in a panic, on any CPU. Targets one
 * CPU: a shorthand would also reach processors the kernel never started, which the
 * firmware left parked in code that an NMI would derail. */
void lapic_send_nmi(unsigned apic_id) {
    if (!lapic)
        return;
    for (unsigned i = 0; i < ICR_IDLE_POLLS && (lapic_read(LAPIC_ICR_LO) & ICR_PENDING); i++)
        pause();
    lapic_write(LAPIC_ICR_HI, (uint32_t)apic_id << 24);
    lapic_write(LAPIC_ICR_LO, ICR_NMI | ICR_ASSERT);
}
