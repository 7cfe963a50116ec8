/*
 * lapic.h: the local APIC in xAPIC mode (kernel/core/lapic.c): its id and the
 * interprocessor interrupts smp_init and the panic path send. The registers are the
 * 4 KiB at the address the firmware tables give (normally 0xFEE00000), which the
 * identity map covers uncached like every non-RAM address (kernel/core/vm.c).
 */
#ifndef CLLM_LAPIC_H
#define CLLM_LAPIC_H

#include "types.h"

bool lapic_init(uint32_t base);         /* false if base is not mapped uncached */
bool lapic_present(void);               /* lapic_init succeeded */
unsigned lapic_id(void);                /* this CPU's APIC id (CPUID if no LAPIC) */
bool lapic_send_init(unsigned apic_id); /* INIT assert + de-assert */
bool lapic_send_startup(unsigned apic_id, unsigned vector); /* SIPI to page vector<<12 */
void lapic_send_nmi(unsigned apic_id);                      /* NMI to one CPU */

#endif
