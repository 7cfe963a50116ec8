/*
 * param.h: the kernel's tunables, one place, one comment each. Included by the
 * substrate (kernel/core, kernel/dev); subsystems keep their own tunables beside them.
 */
#ifndef CLLM_PARAM_H
#define CLLM_PARAM_H

/* PIT interrupt rate; also the clock resolution on CPUs without a TSC. */
#define PIT_HZ 1000

/* PIT input clock (Hz), fixed by the PC architecture. */
#define PIT_INPUT_HZ 1193182

/* How long the TSC is counted against PIT channel 2 at boot (ms). */
#define TSC_CALIBRATE_MS 20

/* Largest kernel command line kept (bytes, including the NUL). */
#define CMDLINE_MAX 1024

/* Most cllm.<key>=<value> options parsed from the command line. */
#define CMDLINE_MAX_OPTIONS 32

/* Longest Multiboot module name kept (bytes, including the NUL). */
#define BOOT_MODULE_NAME_MAX 64

/* Most PCI functions remembered by the enumerator. */
#define PCI_MAX_DEVICES 64

/* Stack the exception panic report runs on (bytes). */
#define PANIC_STACK_SIZE 8192

/* Frames printed by a panic's stack trace. */
#define PANIC_TRACE_MAX 16

/* Smallest and largest slab block of the heap (bytes, powers of two); bigger
 * allocations take whole pages. */
#define HEAP_SLAB_MIN 16
#define HEAP_SLAB_MAX 1024

/* Physical memory below this address is left to firmware (BIOS data, VGA, ROMs). */
#define LOW_MEMORY_RESERVED 0x100000

/* Matrix products smaller than this many multiply-adds (rows * cols * inputs) run
 * on the calling CPU alone (kernel/llm/ops_par.c): starting the other CPUs and
 * waiting for the last one costs a few microseconds on hardware and tens under
 * QEMU, more than a 64 x 64 product takes. A 288 x 288 product (the 15M shape) is
 * above it, the 260K models' matrices (64 wide) below. */
#ifndef OPS_PAR_MIN_WORK
#define OPS_PAR_MIN_WORK 65536
#endif

#endif
