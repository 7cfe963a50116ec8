/*
 * kernel_main: the boot order of cllm, one step per line. Called by the entry stub
 * (boot/entry.s) with the Multiboot magic and the address of the Multiboot info,
 * on the boot stack, with interrupts off and paging off.
 */
#include "bootinfo.h"
#include "clock.h"
#include "cmdline.h"
#include "cpu.h"
#include "dev/pci.h"
#include "dev/serial.h"
#include "dev/vga.h"
#include "http/api.h"
#include "http/server.h"
#include "kernel.h"
#include "llm/gen_param.h"
#include "llm/llm.h"
#include "llm/sched.h"
#include "mm.h"
#include "net/net.h"
#include "selftest.h"
#include "smp.h"
#include "subsys.h"
#include "trap.h"
#include "x86.h"

void kernel_main(uint32_t magic, uint32_t mbi_addr) __attribute__((section(".text.kernel_main")));

/* The step comments stay in one column. */
/* clang-format off */
void kernel_main(uint32_t magic, uint32_t mbi_addr) {
    size_t n_gen_opts;
    serial_init();                                             /* COM1 log, COM2 data channel */
    vga_init();                                                /* screen mirror of the log */
    printk("cllm %s build %s\n", cllm_version, cllm_build_id); /* banner: the first line */
    const struct bootinfo *bi = multiboot_parse(magic, mbi_addr); /* loader info -> bootinfo */
    gdt_init();                                                /* flat segments, double-fault task */
    traps_init();                                              /* IDT, exception handlers, PIC */
    cpu_init();                                                /* CPUID, x87, SSE/SSE2 */
    cmdline_add_options(gen_param_options(&n_gen_opts), n_gen_opts); /* + generation params */
    cmdline_init(bi->cmdline);                                 /* cllm.<key>=<value> options */
    page_init(bi);                                             /* page owners from the memory map */
    vm_init(bi);                                               /* identity paging, guard page */
    page_report();                                             /* "cllm: memory: ..." */
    clock_init();                                              /* PIT IRQ0, TSC calibration */
    sti();                                                     /* interrupts on: the clock ticks */
    smp_init();                                                /* start the other CPUs */
    pci_init();                                                /* enumerate PCI functions */
    llm_init(bi);                                              /* find and bind the model */
    net_init(bi);                                              /* NIC, IPv4, echo service */
    api_configure(&api_llm_backend, cmdline_get("api_key"));   /* the API app: model, key */
    api_metrics_add_source(sched_metrics_format);              /* /metrics: batched passes */
    api_metrics_add_source(net_stats_format);                  /* /metrics: network counters */
    api_metrics_add_source(smp_metrics_format);                /* /metrics: CPUs, busy cycles */
    if (net_ready())
        http_server_start(&api_app);                           /* HTTP on cllm.port=: the API */
    mem_add_parts(HEAP_TAG_KV, llm_kv_memory);                 /* KV blocks: used, cached, free */
    mem_report();                                              /* memory by owner, every byte */
    printk("cllm: ready\n");
    selftest_run(cmdline_get("selftest"));                     /* exits if self-tests were asked */
    if (llm_console_requested(bi))
        kernel_exit(llm_console_run(bi));                      /* console mode: generate and exit */
    for (;;) {                                                 /* steady state: the poll loop */
        bool worked = net_poll();                              /* frames in, TCP timers */
        worked |= http_poll();                                 /* flush, timeouts, pipelined */
        worked |= gen_poll();                                  /* a step per generation, batched */
        if (!worked)
            sti_hlt(); /* nothing happened: sleep until the next interrupt (PIT at PIT_HZ) */
    }
}
/* clang-format on */
